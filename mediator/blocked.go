package mediator

import "time"

// Jobs blocked on a WAIT (the reference GPU's semaphore acquire: wait
// until a 64-bit word in the domain's memory reaches a value).
//
// Nothing tells the device when the word changes — a job, the guest's
// CPU, another device may write it — so a blocked vcoproc leaves the
// policy's run queue and is looked at again later, as a real GPU's host
// engine switches a channel out on a failed acquire and retries it on a
// later timeslice. How much later is a trade between how soon a release is
// seen and what the looking costs: every look wakes the device's runner.
// A fixed 100 µs made a lone blocked job cost its runner ~5,700 wake-ups
// a second, for as long as it waited (BenchmarkBusySessionCPU, package
// pvhost). So:
//
//   - the looks back off: PollInterval after the job blocks, doubling
//     after each look that finds it still blocked, up to MaxPollInterval;
//   - the writes that can be seen are not waited for: a run of any
//     vcoproc of the same domain that got work done (on this device or
//     another: a GPU job waiting on the DSP's output; a run that completed
//     commands and then blocked counts, coproc.Result.Progressed) has its
//     domain's blocked vcoprocs looked at again at once, and so does a
//     doorbell rung by the blocked vcoproc's guest (a guest releasing a
//     WAIT from its CPU rings it to have the release seen now rather than
//     within MaxPollInterval) — at once, but not sooner than PollInterval
//     after the last look (recheckSoon);
//   - a job that gets past a WAIT, or a new job, starts its looks at
//     PollInterval again.
//
// Another domain's jobs cannot write this domain's memory (each DMA goes
// through the writer's own IOMMU context), so they prompt no look.

// block files vc as blocked on a WAIT and sets its next look.
func (d *Device) block(vc *VCoproc, now time.Duration) {
	d.policy.Block(vc.id, now)
	vc.blocked = true
	vc.blockedSince = now
	switch {
	case vc.pollEvery == 0:
		vc.pollEvery = d.m.cfg.PollInterval
	default:
		vc.pollEvery = min(2*vc.pollEvery, d.m.cfg.MaxPollInterval)
	}
	vc.recheckAt = now + vc.pollEvery
	vc.state = Sleeping
}

// pollBlocked makes jobs blocked on a WAIT runnable again once their
// next look is due, charging the wait to the watchdog.
func (d *Device) pollBlocked(now time.Duration) {
	for _, vc := range d.vcs {
		if !vc.blocked || now < vc.recheckAt {
			continue
		}
		vc.blocked = false
		vc.jobRun += now - vc.blockedSince
		if vc.jobRun > d.m.cfg.WatchdogLimit {
			d.watchdog(vc, now)
		}
		if d.hasWork(vc) {
			d.wakeVC(vc, now)
		}
	}
}

// recheckDomain has the blocked vcoprocs of ran's domain looked at again
// soon (recheckSoon): ran got work done, and its writes may be what they
// wait for. Their runners are woken (a domain has one vcoproc per device,
// so theirs are other devices').
func (m *Mediator) recheckDomain(ran *VCoproc, now time.Duration) {
	if len(ran.domain.vcoprocs) < 2 {
		return // nobody else to look at: spare every step the map walk
	}
	for _, vc := range ran.domain.vcoprocs {
		if vc == ran || !vc.blocked {
			continue
		}
		vc.dev.recheckSoon(vc, now)
	}
}

// recheckSoon has vc, blocked, looked at again at once, but never sooner
// than PollInterval after its last look: neither a sibling running many
// short steps nor a guest ringing its doorbell in a loop can have it
// looked at more often than the fixed poll used to (each look wakes the
// policy, which may preempt another domain's vcoproc for it).
func (d *Device) recheckSoon(vc *VCoproc, now time.Duration) {
	if at := max(now, vc.blockedSince+d.m.cfg.PollInterval); vc.recheckAt > at {
		vc.recheckAt = at
		d.signal()
	}
}
