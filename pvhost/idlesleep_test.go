package pvhost

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestIdleSleepGrows: a session that stays idle sleeps MaxSleep, then
// twice as long after each sleep that ran to its end, up to MaxIdleSleep.
func TestIdleSleepGrows(t *testing.T) {
	ms := time.Millisecond
	for n, want := range []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second} {
		assert.Equal(t, want, idleSleep(n), "after %d idle sleeps", n)
	}
	assert.Equal(t, MaxIdleSleep, idleSleep(1000), "no overflow")
}
