package monotonic

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestClocksMoveTogether(t *testing.T) {
	n0, h0 := Now(), Host()
	time.Sleep(10 * time.Millisecond)
	n1, h1 := Now(), Host()
	assert.Positive(t, h0, "CLOCK_MONOTONIC reads")
	assert.GreaterOrEqual(t, n1-n0, 10*time.Millisecond)
	assert.GreaterOrEqual(t, time.Duration(h1-h0), 10*time.Millisecond)
	assert.InDelta(t, float64(n1-n0), float64(h1-h0), float64(5*time.Millisecond), "both are the monotonic clock")
}
