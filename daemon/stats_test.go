package daemon

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/daemon/api"
)

// TestStatsPlaceTheDaemonClockOnCLOCK_MONOTONIC: /v1/stats reads the host's
// CLOCK_MONOTONIC with its uptime, so another process can map the daemon's
// instants (uptime, a switch's at_ns) onto its own clock readings: the
// reading lies between the caller's before and after, and the offset
// between the two clocks stays put from one call to the next.
func TestStatsPlaceTheDaemonClockOnCLOCK_MONOTONIC(t *testing.T) {
	r := start(t, testConfig(t))
	mono := func() int64 {
		var ts unix.Timespec
		require.NoError(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
		return ts.Nano()
	}
	read := func() api.Stats {
		var st api.Stats
		code, body := r.call("GET", "/v1/stats", nil, &st)
		require.Equal(t, http.StatusOK, code, body)
		return st
	}
	before := mono()
	first := read()
	after := mono()
	assert.GreaterOrEqual(t, first.MonotonicNs, before)
	assert.LessOrEqual(t, first.MonotonicNs, after)

	time.Sleep(20 * time.Millisecond)
	second := read()
	assert.Greater(t, second.UptimeNs, first.UptimeNs)
	offset := func(s api.Stats) int64 { return s.MonotonicNs - s.UptimeNs }
	assert.InDelta(t, offset(first), offset(second), float64(time.Millisecond), "both clocks advance together")
}
