package bench

import (
	"context"
	"time"

	"github.com/coprocd/coprocd/internal/monotonic"
)

// Live mode's instants are CLOCK_MONOTONIC nanoseconds: the clock every
// process of the host shares, so that the harness, the daemon (its
// /v1/stats says where its own clock stands on it) and each guest process
// read the same timeline. Go's monotonic readings are relative to each
// process's start and cannot be compared across processes.

// sleepUntil waits until CLOCK_MONOTONIC reaches at, or ctx ends.
func sleepUntil(ctx context.Context, at int64) error {
	d := time.Duration(at - monotonic.Host())
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// deadlineAt is the time.Time at which CLOCK_MONOTONIC reaches at, for
// context deadlines.
func deadlineAt(at int64) time.Time {
	return time.Now().Add(time.Duration(at - monotonic.Host()))
}
