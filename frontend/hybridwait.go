package frontend

import "time"

// Hybrid waiting (Options.HybridWait): a wait that has learned how long it
// takes sleeps until shortly before its answer is due and polls the rest,
// as Linux's block layer polls a request it expects soon (hybrid polling)
// — so that a long call costs the guest neither a CPU spinning through it
// nor the wake-up of a sleeping thread at its end.
//
// Why: a thread woken by the host's kick after a long sleep pays the
// operating system's wake-up at the very moment the answer is there; on a
// virtual machine whose virtual CPU went idle that is tens of
// microseconds (on the 2-core VM of our benchmarks the kick costs the
// host 30 µs and the wake-up 90 µs once a CPU has been idle for more than
// the hypervisor's 200 µs halt polling, against 7 and 15 µs within it). A
// timed sleep wakes just as late, but before the answer: its lateness is
// hidden in the call instead of added to it. The price is the poll after
// it, a CPU for about the timed sleep's lateness plus the call's jitter,
// per call.
//
// It is off by default because that price is paid in the CPU the host
// may need: on the 2-core VM the guest's poll competes with the daemon
// computing the call, and BenchmarkDSPCallThroughDaemon's block call
// (daemon package) measures no gain there. A guest with a CPU of its own
// — the common case on the many-core machines this is for — turns it on.
// HybridWaitStats says how it goes.
//
// What is learned, per kind of wait (a request type on a device, a fence
// or job wait on a device): the mean and mean deviation of how long such
// waits took, as TCP estimates round-trip times (RFC 6298's SRTT and
// RTTVAR); and, per connection, how late this machine's timed sleeps wake.
// Waits that vary more than half their mean are not predicted: they wait
// as without it (poll SpinWait, then sleep until kicked).

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
	s.Lateness = c.sleepLate.mean
	return s
}

// waitKind names what a wait is for: waits of one kind learn from each
// other.
type waitKind struct {
	what string // a request's operation, or "WAIT_FENCE", "WAIT_JOB", "NEXT_EVENT"
	dev  uint16
}

// durationEstimate is a smoothed mean and mean deviation of durations
// (RFC 6298 §2 with its gains, 1/8 and 1/4).
type durationEstimate struct {
	// warm: the first duration has been seen, and left out. The first
	// wait of a kind pays its cold start (page faults, the host's first
	// allocations): it would set the mean off by orders of magnitude, and
	// the gains below take dozens of waits to forget it.
	warm      bool
	n         int // durations counted, up to minWaitSamples
	mean, dev time.Duration
}

func (e *durationEstimate) add(d time.Duration) {
	switch {
	case !e.warm:
		e.warm = true
		return
	case e.n == 0:
		e.mean, e.dev = d, d/2
	default:
		diff := d - e.mean
		if diff < 0 {
			diff = -diff
		}
		e.dev += (diff - e.dev) / 4
		e.mean += (d - e.mean) / 8
	}
	if e.n < minWaitSamples {
		e.n++
	}
}

const (
	// minWaitSamples is how many waits of a kind are seen before its
	// length is predicted.
	minWaitSamples = 4
	// defaultSleepLateness is how late a timed sleep is assumed to wake
	// before this connection has timed one: the kernel's default timer
	// slack (50 µs) and a virtual CPU's wake-up from idle.
	defaultSleepLateness = 150 * time.Microsecond
	// minTimedSleep is the shortest timed sleep worth its system call and
	// wake-up; a wait due sooner polls instead.
	minTimedSleep = 50 * time.Microsecond
)

// waitPlan is how a receiver waits, in offsets from the wait's start: it
// polls until spin; then, when wake is set, sleeps armed until wake (a kick
// ends the sleep sooner) and, if the sleep ran its time, polls until tail.
// After that it sleeps until kicked, as an unpredicted wait does.
type waitPlan struct {
	spin, wake, tail time.Duration
}

// planWait plans a wait of a kind estimated by expect on a connection
// whose timed sleeps wake late by about late (n == 0: not yet measured).
func planWait(spinWait time.Duration, expect, late durationEstimate) waitPlan {
	plain := waitPlan{spin: spinWait}
	if expect.n < minWaitSamples || expect.dev > expect.mean/2 {
		return plain
	}
	lateness := defaultSleepLateness
	if late.n > 0 {
		lateness = late.mean + 4*late.dev
	}
	// A wait of this kind ends, nearly always, between early and due.
	early, due := expect.mean-2*expect.dev, expect.mean+4*expect.dev
	if wake := early - lateness; wake >= spinWait+minTimedSleep {
		return waitPlan{spin: spinWait, wake: wake, tail: due + spinWait}
	}
	// Due too soon for a timed sleep to pay: poll through it, as long as
	// that costs less than the two wake-ups a sleep risks.
	spin := min(due+spinWait, spinWait+2*lateness)
	return waitPlan{spin: max(spin, spinWait)}
}
