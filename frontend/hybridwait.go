package frontend

import "time"

// Hybrid waiting (Options.HybridWait): a wait that has learned how long it
// takes sleeps until shortly before its answer is due and polls the rest
// (package internal/waitplan says how and why), so that a long call costs
// the guest neither a CPU spinning through it nor the wake-up of a
// sleeping thread at its end.
//
// It is off by default because its price is paid in the CPU the host may
// need: on the 2-core VM of our benchmarks the guest's poll competes with
// the daemon computing the call, and BenchmarkDSPCallThroughDaemon's block
// call (daemon package) measures no gain there. A guest with a CPU of its
// own — the common case on the many-core machines this is for — turns it
// on. HybridWaitStats says how it goes.
//
// Waits are learned per kind (a request type on a device, a fence or job
// wait on a device); how late timed sleeps wake, per connection.

// waitKind names what a wait is for: waits of one kind learn from each
// other.
type waitKind struct {
	what string // a request's operation, or "WAIT_FENCE", "WAIT_JOB", "NEXT_EVENT"
	dev  uint16
}

// HybridWaitStats says how hybrid waiting has gone on a connection.
type HybridWaitStats struct {
	// TimedSleeps counts sleeps until shortly before a predicted answer.
	TimedSleeps uint64
	// Early counts those an answer (or a cancellation) ended before their
	// time: the prediction was too late, and the wait paid a wake-up.
	Early uint64
	// Lateness is how late this machine's timed sleeps wake, smoothed.
	Lateness time.Duration
}

// HybridWaitStats returns the connection's hybrid-waiting counters.
func (c *Conn) HybridWaitStats() HybridWaitStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.hybrid
	s.Lateness = c.sleepLate.Mean()
	return s
}
