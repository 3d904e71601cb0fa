package mediator

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
// leave the device to it. The inline step is not paced against the real
// clock (Run paces only its own steps), which costs at most one MaxRun of
// device time per idle-to-busy transition. Step is the whole control loop
// under the mediator's lock, so the runner and an inline step interleave
// safely; only Run sets runnerIdle, so devices stepped by hand (tests, the
// simulator) never step inline.

// stepInline runs one step for a submission that found the runner idle,
// then wakes the runner if anything is left for it.
func (d *Device) stepInline() {
	_, err := d.Step()
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	if err != nil {
		d.inlineErr = err
		d.signal()
		return
	}
	for _, vc := range d.vcs {
		if vc.blocked || d.hasWork(vc) {
			d.signal()
			return
		}
	}
}
