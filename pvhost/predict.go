package pvhost

import (
	"sync/atomic"
	"time"

	"github.com/coprocd/coprocd/internal/monotonic"
	"github.com/coprocd/coprocd/internal/waitplan"
)

// Predictive polling (DomainConfig.PredictivePoll): a session whose guest
// sends its requests at a steady rhythm — an audio stack calling the DSP
// once per period — learns the rhythm and, instead of sleeping until the
// guest's doorbell, sleeps on a timer until shortly before the next
// request is due and polls the request ring from there (package
// internal/waitplan: hybrid polling). The guest then finds the session
// awake: its doorbell costs it no interrupt of an idle CPU, and the
// request no wake-up of a sleeping thread. On the 2-core VM of our
// benchmarks those two are 30 and 90 µs of every call once the daemon's
// CPU has been idle for more than 200 µs (docs/benchmarks.md).
//
// The price is the poll: about a timed sleep's lateness plus the rhythm's
// jitter per request, never more than maxPredictivePoll, and nothing for a
// guest whose requests come irregularly (their gaps vary by more than half
// their mean: it is not predicted). It is off by default, for a domain to
// turn on where its calls' latency is worth that CPU.
//
// What is learned: the gap between the starts of consecutive bursts of
// requests (a burst starts with the first request after the session went
// idle past its PollWindow), and how late this session's timed sleeps
// wake.

// maxPredictivePoll bounds one predictive poll.
const maxPredictivePoll = 2 * time.Millisecond

// predictor is a session's predictive-polling state, owned by its serve
// goroutine but for the counters.
type predictor struct {
	on        bool
	idle      bool          // went idle: the next request starts a burst
	lastBurst time.Duration // when the last burst started (monotonic); 0: none yet
	gaps      waitplan.Estimate
	late      waitplan.Estimate
	tail      time.Duration // when the timed sleep's poll is to end (monotonic)
	pollUntil time.Duration // poll the ring until then (monotonic); 0: no predictive poll
	staleKick bool          // a timed sleep ran its time armed: a doorbell may be counted

	timedSleeps, hits atomic.Uint64
}

// request notes a request seen now. Only the first request after idle
// reads the clock, and only with prediction on: a polled request's way
// through the session reads no clock otherwise.
func (p *predictor) request() {
	if !p.on || !p.idle {
		return
	}
	now := monotonic.Now()
	p.idle = false
	if p.pollUntil > 0 && now <= p.pollUntil {
		p.hits.Add(1)
	}
	p.pollUntil = 0
	if p.lastBurst > 0 {
		p.gaps.Add(now - p.lastBurst)
	}
	p.lastBurst = now
}

// sleep says what to do at now, the session being idle with nothing in
// flight: poll on (poll: the next request is due sooner than a timed sleep
// could wake for it), sleep until shortly before it is due (timed), or
// sleep MaxSleep.
func (p *predictor) sleep(now time.Duration) (timeout time.Duration, timed, poll bool) {
	p.idle = true
	if !p.on || p.lastBurst == 0 {
		return MaxSleep, false, false
	}
	plan := waitplan.Make(0, p.gaps, p.late, true)
	pollTo := p.lastBurst + plan.Spin // due sooner than a timed sleep pays: poll through
	if plan.Wake > 0 {
		if left := p.lastBurst + plan.Wake - now; left >= waitplan.MinTimedSleep {
			p.timedSleeps.Add(1)
			// The poll after it: until the request is overdue, and no
			// longer than maxPredictivePoll past the wake-up.
			p.tail = min(p.lastBurst+plan.Tail, now+left+maxPredictivePoll)
			return left, true, false
		}
		pollTo = p.lastBurst + plan.Tail // past the time to wake: poll until it is overdue
	}
	if now < pollTo {
		p.pollUntil = min(pollTo, now+maxPredictivePoll)
		return 0, false, true
	}
	return MaxSleep, false, false
}

// timedOut notes that a timed sleep of d begun at slept ran its time: the
// session polls until the request is overdue.
func (p *predictor) timedOut(slept, d, now time.Duration) {
	p.late.Add(max(0, now-slept-d))
	p.staleKick = true
	p.pollUntil = p.tail
}

// polling reports whether the session should poll on at now.
func (p *predictor) polling(now time.Duration) bool {
	if p.pollUntil == 0 {
		return false
	}
	if now < p.pollUntil {
		return true
	}
	p.pollUntil = 0
	return false
}
