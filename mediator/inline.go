package mediator

import "time"

// A submission that finds the device idle steps it itself, on the
// submitting goroutine, instead of waking the device's runner to do it:
// the work starts at once and the caller hears of the result without a
// thread hand-off in between (FastRPC's model: the calling thread migrates
// into the DSP). On a machine with few cores that hand-off is what a short
// call costs most: the runner waited 0.1 ms median to be scheduled behind
// the guest's and the session's threads, for a step of 2 µs.
//
// Only the first step after idle runs inline, at most MaxRun like any
// step; if work remains (a long job, another vcoproc's), the runner is
// woken and carries on, and since it is then awake, later submissions
// leave the device to it. The inline step is paced like the runner's
// (pace.go): a submission that finds the device a millisecond or more
// ahead of the real clock leaves the step to the runner, which sleeps the
// debt off first, and an inline step's device time is charged to the same
// account. Step is the whole control loop
// under the mediator's lock, so the runner and an inline step interleave
// safely; only Run sets runnerIdle, so devices stepped by hand (tests, the
// simulator) never step inline.

// stepInline runs one step for a submission that found the runner idle,
// then wakes the runner if anything is left for it.
func (d *Device) stepInline() {
	start := time.Now()
	if d.paceAhead(start) >= paceSleep {
		d.signal()
		return
	}
	r, err := d.Step()
	end := time.Now()
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	if err != nil {
		d.inlineErr = err
		d.signal()
		return
	}
	d.paceMu.Lock()
	defer d.paceMu.Unlock()
	if !r.Idle {
		d.pace.ran(r.Elapsed, start, end)
	}
	for _, vc := range d.vcs {
		if vc.blocked || d.hasWork(vc) {
			d.signal()
			return
		}
	}
	d.pace.wentIdle(end) // and the runner sleeps on
}
