package mediator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// StepResult reports one scheduling step.
type StepResult struct {
	// Idle is true when nothing could run.
	Idle bool
	// Until, when Idle, is the instant something needs looking at again
	// (a blocked job's next poll, a non-work-conserving policy's next
	// window); zero means "when work arrives".
	Until time.Duration
	// Ran names the vcoproc that ran.
	Ran string
	// Elapsed is the device time the step took: switching plus running.
	Elapsed time.Duration
}

// Step makes one scheduling decision and carries it out: it asks the policy
// who runs, switches the device (and its IOMMU context) over if that is
// someone else, runs the backend for the slice, and delivers what the run
// produced. It is the whole of the device's control loop; the runners
// below only decide how time passes between steps.
func (d *Device) Step() (StepResult, error) {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	now := d.m.cfg.Clock.Now()
	d.pollBlocked(now)

	dec := d.decide(now)
	if dec.Idle {
		until := dec.Until
		for _, vc := range d.vcs {
			if vc.blocked && (until == 0 || vc.recheckAt < until) {
				until = vc.recheckAt
			}
		}
		return StepResult{Idle: true, Until: until}, nil
	}
	vc, ok := d.vcs[dec.ID]
	if !ok {
		return StepResult{}, fmt.Errorf("mediator: device %q: policy %s picked unknown vcoproc %d", d.name, d.policy.Name(), dec.ID)
	}
	var elapsed time.Duration
	if d.active != vc {
		cost, err := d.switchTo(vc, now)
		elapsed += cost
		if err != nil {
			return StepResult{Elapsed: elapsed}, err
		}
	}
	vc.state = Running
	res, err := d.backend.Run(min(dec.Slice, d.m.cfg.MaxRun))
	if err != nil {
		return StepResult{Elapsed: elapsed}, fmt.Errorf("mediator: device %q: run %s: %w", d.name, vc.name, err)
	}
	d.account(vc, res, now+elapsed)
	elapsed += res.Used
	if d.lease.vc == vc {
		d.lease.left -= res.Used
	}
	return StepResult{Ran: vc.name, Elapsed: elapsed}, nil
}

// lease is a decision in progress. A step runs at most MaxRun, so that a
// vcoproc waking with a reservation takes the device within a
// millisecond; but asking the policy after every such step would cut
// every slice into MaxRun pieces, and a fair-share policy (whose next
// pick after a charge is usually someone else) would switch every
// millisecond instead of every quantum, paying ten times the switches.
// So a decision stands for its whole slice, step after step, and the
// policy is asked again only when the slice is used up, its vcoproc has
// nothing left to run, or another vcoproc woke meanwhile. This is the
// Policy contract ("Slice is how long to run before asking again"), and
// what the simulator does.
type lease struct {
	vc   *VCoproc
	left time.Duration
}

// decide returns the standing decision while it holds, or asks the
// policy for a new one.
func (d *Device) decide(now time.Duration) scheduler.Decision {
	if l := d.lease; l.vc != nil && l.left > 0 && !d.woke && d.active == l.vc && !l.vc.blocked && d.hasWork(l.vc) {
		return scheduler.Decision{ID: l.vc.id, Slice: l.left}
	}
	d.woke = false
	dec := d.policy.Pick(now)
	d.lease = lease{}
	if !dec.Idle {
		d.lease = lease{vc: d.vcs[dec.ID], left: dec.Slice}
	}
	return dec
}

// account charges a run that started at start to the policy and the
// counters, delivers its events, applies the watchdog and files the vcoproc
// by the run's outcome.
func (d *Device) account(vc *VCoproc, res coproc.Result, start time.Duration) {
	now := start + res.Used
	d.policy.Charge(vc.id, res.Used, now)
	vc.stats.Busy += res.Used
	// Reconfiguration inside a run is the vcoproc's to pay (its slice
	// covers it) but the device's to report as switching, not work.
	d.stats.Busy += res.Used - res.Reconfig
	d.stats.SwitchTime += res.Reconfig
	d.stats.Reconfig += res.Reconfig
	vc.jobRun += res.Used
	d.deliverRun(vc, res.Events, start)
	if vc.jobRun > d.m.cfg.WatchdogLimit && d.backend.Pending(vc.ctx) > 0 {
		d.watchdog(vc, now)
		res.State = coproc.Preempted // look again: the next job may be ready
	}
	blocked := res.State == coproc.Blocked && d.backend.Pending(vc.ctx) > 0
	progressed := res.Progressed || !blocked && res.Used > 0
	if progressed {
		vc.pollEvery = 0 // a WAIT met now is a new one: its looks start at PollInterval
	}
	switch {
	case blocked:
		d.block(vc, now)
	case !d.hasWork(vc):
		d.policy.Block(vc.id, now)
		vc.state = Sleeping
	}
	if progressed {
		d.m.recheckDomain(vc, now)
	}
}

// watchdog aborts the vcoproc's current job. Only this vcoproc's job is
// touched: its queue goes on, and so does every other vcoproc.
func (d *Device) watchdog(vc *VCoproc, now time.Duration) {
	job, ok := d.backend.Reset(vc.ctx)
	vc.jobRun, vc.pollEvery = 0, 0
	if !ok {
		return
	}
	vc.stats.Timeouts++
	d.stats.Timeouts++
	vc.jobEnded(now)
	err := fmt.Errorf("job %d ran past the watchdog limit of %v", job, d.m.cfg.WatchdogLimit)
	vc.setError(spec.ErrCodeTimeout, job)
	vc.deliver(Event{Kind: EventTimeout, Job: job, Err: err, At: now}, spec.IntError)
	d.m.log.Warn("watchdog reset a job", "vcoproc", vc.name, "job", job, "limit", d.m.cfg.WatchdogLimit)
}

// deliverRun turns a backend's events into register updates, interrupts and
// events for the vcoproc's domain, each timed at the run's start plus its
// offset.
func (d *Device) deliverRun(vc *VCoproc, events []coproc.Event, start time.Duration) {
	for _, e := range events {
		now := start + e.At
		switch e.Kind {
		case coproc.EventFence:
			if i := d.role[spec.RoleFence]; i >= 0 {
				vc.vregs[i] = e.Value
			}
			vc.deliver(Event{Kind: EventFence, Job: e.Job, Value: e.Value, At: now}, spec.IntFence)
		case coproc.EventJobDone:
			vc.stats.JobsDone++
			vc.jobEnded(now)
			vc.jobRun = 0
			vc.deliver(Event{Kind: EventJobDone, Job: e.Job, At: now}, 0)
		case coproc.EventJobFailed:
			vc.stats.JobsFailed++
			vc.jobEnded(now)
			vc.jobRun = 0
			var fault *iommu.Fault
			if errors.As(e.Err, &fault) {
				vc.stats.Faults++
				vc.setError(spec.ErrCodeFault, fault.IOVA)
				vc.deliver(Event{Kind: EventJobFailed, Job: e.Job, Err: e.Err, At: now}, spec.IntFault|spec.IntError)
			} else {
				vc.setError(spec.ErrCodeExecution, e.Job)
				vc.deliver(Event{Kind: EventJobFailed, Job: e.Job, Err: e.Err, At: now}, spec.IntError)
			}
			d.m.log.Warn("job failed", "vcoproc", vc.name, "job", e.Job, "err", e.Err)
		}
	}
}

// switchTo gives the device to next: the owner (if any) is switched out,
// the IOMMU unit is pointed at next's domain, next's pass-through registers
// and engine state are restored, and its queued kicks are replayed.
func (d *Device) switchTo(next *VCoproc, now time.Duration) (time.Duration, error) {
	var elapsed time.Duration
	from := ""
	retries := 0
	if d.active != nil {
		from = d.active.name
		e, r := d.switchOut(now)
		elapsed += e
		retries = r
	}
	// A backend whose switch cost depends on the incoming context says
	// what this one will cost (including work it charges inside Run).
	cost := d.caps.SwitchCost
	if sc, ok := d.backend.(coproc.SwitchCoster); ok {
		cost = sc.SwitchCostTo(next.ctx)
	}
	d.backend.IOMMU().Activate(next.domain.as)
	for _, i := range d.passThrough {
		d.backend.WriteReg(d.spec.Registers.At(i).Offset, next.vregs[i])
	}
	if err := d.backend.SwitchTo(next.ctx); err != nil {
		d.backend.IOMMU().Deactivate()
		return elapsed, fmt.Errorf("mediator: device %q: switch to %s: %w", d.name, next.name, err)
	}
	d.active = next
	next.state = Running
	next.stats.SwitchesIn++
	elapsed += d.caps.SwitchCost
	d.stats.Switches++
	d.stats.SwitchTime += d.caps.SwitchCost
	d.trace.add(Switch{At: now, From: from, To: next.name, Cost: cost, Retries: retries})
	for next.pendingKicks > 0 {
		next.pendingKicks--
		d.kick(next)
	}
	return elapsed, nil
}

// switchOut saves the owner's state and leaves the device without one. A
// backend that cannot stop yet is run for the time it asks, up to
// MaxSwitchRetries times; then the outgoing job is reset so that one domain
// can never hold the device.
func (d *Device) switchOut(now time.Duration) (elapsed time.Duration, retries int) {
	prev := d.active
	prev.state = AskedToSleep
	for attempt := 0; ; attempt++ {
		retry, err := d.backend.SwitchFrom(prev.ctx)
		if err == nil && retry == 0 {
			break
		}
		if attempt > d.m.cfg.MaxSwitchRetries+1 {
			// The backend neither lets go nor fails cleanly even after a
			// reset: take the device away regardless and say so.
			d.m.log.Error("switch from never completed; forcing it", "vcoproc", prev.name, "err", err, "retry", retry)
			break
		}
		if err != nil {
			d.m.log.Error("switch from failed; resetting the job", "vcoproc", prev.name, "err", err)
			d.watchdog(prev, now+elapsed)
			continue
		}
		retries++
		d.stats.Retries++
		if retries > d.m.cfg.MaxSwitchRetries {
			d.watchdog(prev, now+elapsed)
			continue
		}
		res, err := d.backend.Run(retry)
		if err != nil {
			d.watchdog(prev, now+elapsed)
			continue
		}
		d.account(prev, res, now+elapsed)
		elapsed += res.Used
	}
	for _, i := range d.passThrough {
		prev.vregs[i] = d.backend.ReadReg(d.spec.Registers.At(i).Offset)
	}
	d.backend.IOMMU().Deactivate()
	d.active = nil
	if d.hasWork(prev) && !prev.blocked {
		prev.state = Waiting
	} else {
		prev.state = Sleeping
	}
	return elapsed, retries
}

// RunUntilIdle steps the device under a virtual clock, advancing it by the
// device time each step took, until no vcoproc has work. It fails if work
// remains after limit of virtual time.
func (d *Device) RunUntilIdle(v *clock.Virtual, limit time.Duration) error {
	deadline := v.Now() + limit
	for v.Now() <= deadline {
		r, err := d.Step()
		if err != nil {
			return err
		}
		if !r.Idle {
			v.Advance(r.Elapsed)
			continue
		}
		if r.Until == 0 {
			return nil
		}
		v.AdvanceTo(r.Until)
	}
	return fmt.Errorf("mediator: device %q still busy after %v of virtual time", d.name, limit)
}

// Run drives the device against the real clock until ctx is done: it
// steps while there is work, paces the steps so that a model's device time
// passes in real time too, and sleeps while idle until work arrives.
func (d *Device) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		// Sleep off a debt before stepping (pace.go). A timer fires late
		// (by 0.1 ms on a quiet machine, more under load): what it
		// overslept is credit, run back unpaced. Forgetting it lost up to
		// a fifth of the device under load.
		if debt := d.paceAhead(time.Now()); debt >= paceSleep {
			sleep(ctx, nil, debt)
			continue
		}
		start := time.Now()
		r, err := d.Step()
		if err != nil {
			return err
		}
		end := time.Now()
		if !r.Idle {
			d.paceMu.Lock()
			d.pace.ran(r.Elapsed, start, end)
			d.paceMu.Unlock()
			continue
		}
		wait := time.Hour
		if r.Until > 0 {
			wait = r.Until - d.m.cfg.Clock.Now()
		}
		d.paceMu.Lock()
		d.pace.wentIdle(end)
		d.paceMu.Unlock()
		d.m.mu.Lock()
		d.runnerIdle = true
		d.m.mu.Unlock()
		sleep(ctx, d.wake, wait)
		d.m.mu.Lock()
		d.runnerIdle = false
		err = d.inlineErr
		d.m.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// sleep waits for d, ctx's end, or a value on wake, whichever comes first.
func sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}
