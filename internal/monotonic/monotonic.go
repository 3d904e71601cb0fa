// Package monotonic reads the monotonic clock in the two ways coprocd
// needs: cheaply within a process (Now, for poll windows and wait
// estimates on the rings' paths), and as CLOCK_MONOTONIC itself (Host),
// the one clock every process of the host shares, for timelines that
// several processes write (the daemon's stats, live benchmarks' guests).
package monotonic

import (
	"time"

	"golang.org/x/sys/unix"
)

// base anchors Now.
var base = time.Now()

// Now is the time since this process's start on the monotonic clock: a
// time.Since of a reading that carries a monotonic part, about a third of
// the cost of time.Now (which reads the wall clock too). It cannot be
// compared across processes.
func Now() time.Duration { return time.Since(base) }

// Host reads CLOCK_MONOTONIC in nanoseconds: comparable between the
// processes of one host, unlike Now.
func Host() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0 // CLOCK_MONOTONIC cannot fail on Linux
	}
	return ts.Nano()
}
