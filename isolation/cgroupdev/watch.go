package cgroupdev

import (
	"context"
	"time"
)

// WatchEvent reports one Check of one filter that re-attached or failed.
type WatchEvent struct {
	Path       string
	Reattached bool
	Err        error
}

// Watch calls Check on every filter each interval until ctx ends, and
// reports each re-attachment and each failure to report (which must not
// block for long). filters is called each round, so the caller's set may
// change. Polling is the portable way: the kernel sends no notification
// when a program is detached from a cgroup; an interval of a second bounds
// the window in which a runtime's re-applied rules leave the domain with
// only the runtime's own device list.
func Watch(ctx context.Context, interval time.Duration, filters func() []*Filter, report func(WatchEvent)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		for _, f := range filters() {
			reattached, err := f.Check()
			if err == ErrClosed {
				continue
			}
			if reattached || err != nil {
				report(WatchEvent{Path: f.Path(), Reattached: reattached, Err: err})
			}
		}
	}
}
