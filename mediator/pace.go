package mediator

import "time"

// Pacing: a device model computes a step's result in whatever time the
// CPU takes and reports the device time the step would have taken on the
// hardware. Run makes device time pass in real time too, so that what a
// guest, a policy or a benchmark sees of a device — its throughput, its
// utilization, when its jobs end — is the hardware's, not the host CPU's.
//
// The pacer keeps one account per device: device time run minus real time
// passed. Run sleeps it off once it reaches a millisecond (sleeping per
// step would cost a timer per step), and a step that took the CPU longer
// than its device time leaves a credit, so that the timers' lateness and
// a slow step are paid back by running the next steps unpaced; credit is
// bounded (maxPacingCredit), so that a stall — a stopped process, a
// suspended VM — does not turn into a burst.
//
// Idle time pays a debt, not a credit: a device that went idle a
// millisecond ahead and stayed idle half of one is still half a
// millisecond ahead when work comes. (It used to forget the debt on going
// idle. With a guest whose submissions keep finding the device idle, each
// idle gap then forgave up to a millisecond: a live run's device was busy
// 1.1–1.5× the wall clock under load.) Credit, on the other hand, is
// dropped on going idle: nothing was owed to a device with no work.
//
// Inline steps (inline.go) are accounted too: a submission that finds the
// device a millisecond or more ahead leaves the step to the runner, which
// sleeps it off first.
type pacer struct {
	ahead time.Duration // device time run minus real time passed, as of at
	at    time.Time     // zero before the first step
	idle  bool          // the device has been idle since at
}

// maxPacingCredit bounds how far the device may run behind its pacing,
// to be run back unpaced.
const maxPacingCredit = 5 * time.Millisecond

// paceSleep is the debt at which Run sleeps it off.
const paceSleep = time.Millisecond

// paceAhead is the device's pacing debt at now.
func (d *Device) paceAhead(now time.Time) time.Duration {
	d.paceMu.Lock()
	defer d.paceMu.Unlock()
	return d.pace.aheadAt(now)
}

// aheadAt is the debt (positive) or credit (negative) at now.
func (p *pacer) aheadAt(now time.Time) time.Duration {
	if p.at.IsZero() {
		return 0
	}
	if p.idle {
		return max(p.ahead-now.Sub(p.at), 0)
	}
	return max(p.ahead-now.Sub(p.at), -maxPacingCredit)
}

// ran accounts a step of device time that ran from start to end, real
// time, and returns the debt at end.
func (p *pacer) ran(device time.Duration, start, end time.Time) time.Duration {
	if start.Before(p.at) {
		start = p.at // the step waited for another's (an inline step's) to end
	}
	if p.idle || p.at.IsZero() {
		p.ahead, p.at, p.idle = p.aheadAt(start), start, false
	}
	p.ahead = max(p.ahead+device-end.Sub(p.at), -maxPacingCredit)
	p.at = end
	return p.ahead
}

// wentIdle notes that the device has nothing to run from now: its credit
// is dropped, its debt is paid by the idle time to come.
func (p *pacer) wentIdle(now time.Time) {
	if p.at.IsZero() {
		return
	}
	p.ahead, p.at, p.idle = max(p.aheadAt(now), 0), now, true
}
