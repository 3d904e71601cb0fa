// Package waitplan predicts how long a recurring wait will take and plans
// it: sleep on a timer until shortly before the awaited thing is due, then
// poll — hybrid polling, as Linux's block layer polls a request it expects
// soon. Both ends of the paravirtual transport use it: the guest
// (frontend.Options.HybridWait) for the answer to a call it makes again
// and again, the host (pvhost.DomainConfig.PredictivePoll) for the next
// request of a guest that calls at a steady rhythm.
//
// Why: a thread woken from a long sleep pays the operating system's
// wake-up at the very moment the awaited thing is there; on a virtual
// machine whose virtual CPU went idle that is tens of microseconds (on the
// 2-core VM of our benchmarks the kick costs the kicker 30 µs and the
// wake-up 90 µs once a CPU has been idle for more than the hypervisor's
// 200 µs halt polling, against 7 and 15 µs within it). A timed sleep wakes
// just as late, but before the awaited thing: its lateness is hidden
// instead of added. The price is the poll after it, a CPU for about the
// timed sleep's lateness plus the wait's jitter, per wait.
//
// What is learned: the mean and mean deviation of how long such waits
// took, as TCP estimates round-trip times (RFC 6298's SRTT and RTTVAR); and
// how late timed sleeps wake on this machine. Waits that vary more than
// half their mean are not predicted.
package waitplan

import "time"

// Estimate is a smoothed mean and mean deviation of durations (RFC 6298
// §2 with its gains, 1/8 and 1/4).
type Estimate struct {
	// warm: the first duration has been seen, and left out. The first
	// wait of a kind pays its cold start (page faults, the peer's first
	// allocations): it would set the mean off by orders of magnitude, and
	// the gains take dozens of waits to forget it.
	warm      bool
	n         int // durations counted, up to MinSamples
	mean, dev time.Duration
}

// MinSamples is how many durations are counted before a wait is
// predicted.
const MinSamples = 4

// Add counts one duration.
func (e *Estimate) Add(d time.Duration) {
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
	if e.n < MinSamples {
		e.n++
	}
}

// Mean and Dev are the smoothed mean and mean deviation; Samples how many
// durations they rest on, up to MinSamples (the first is left out).
func (e Estimate) Mean() time.Duration { return e.mean }
func (e Estimate) Dev() time.Duration  { return e.dev }
func (e Estimate) Samples() int        { return e.n }

const (
	// DefaultLateness is how late a timed sleep is assumed to wake before
	// one has been timed: the kernel's default timer slack (50 µs) and a
	// virtual CPU's wake-up from idle.
	DefaultLateness = 150 * time.Microsecond
	// MinTimedSleep is the shortest timed sleep worth its system call and
	// wake-up; a wait due sooner polls instead.
	MinTimedSleep = 50 * time.Microsecond
)

// Plan is how to wait, in offsets from the wait's start: poll until Spin;
// then, when Wake is set, sleep (a notification ends the sleep sooner)
// until Wake and, if the sleep ran its time, poll until Tail. After that,
// sleep until notified, as an unpredicted wait does.
type Plan struct {
	Spin, Wake, Tail time.Duration
}

// Lateness is the margin to wake a timed sleep by, from how late timed
// sleeps have woken (late), or DefaultLateness before any was timed.
func Lateness(late Estimate) time.Duration {
	if late.n == 0 {
		return DefaultLateness
	}
	return late.mean + 4*late.dev
}

// Make plans a wait estimated by expect that first polls for spin, on a
// machine whose timed sleeps wake late by about late. A wait due too soon
// for a timed sleep to pay is polled through when that costs less than the
// two wake-ups a sleep risks, if pollThrough is set; otherwise it polls
// for spin and sleeps.
func Make(spin time.Duration, expect, late Estimate, pollThrough bool) Plan {
	plain := Plan{Spin: spin}
	if expect.n < MinSamples || expect.dev > expect.mean/2 {
		return plain
	}
	lateness := Lateness(late)
	// A wait of this kind ends, nearly always, between early and due.
	early, due := expect.mean-2*expect.dev, expect.mean+4*expect.dev
	if wake := early - lateness; wake >= spin+MinTimedSleep {
		return Plan{Spin: spin, Wake: wake, Tail: due + spin}
	}
	if !pollThrough {
		return plain
	}
	return Plan{Spin: max(min(due+spin, spin+2*lateness), spin)}
}
