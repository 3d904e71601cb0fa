package pvhost

import (
	"errors"
	"fmt"
	"time"

	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/internal/monotonic"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/spec"
)

// response is a response waiting for room in the response ring.
type response struct {
	event  bool
	tag    uint64
	status uint32
	value  uint64
	dev    uint16
	kind   uint8
	job    uint64
	text   string
}

// requestsPerRound bounds the requests handled between two looks at the
// events and the socket-driven end of the session.
const requestsPerRound = 64

// serve is the session's data path: it consumes requests, answers them,
// forwards events, and sleeps on the doorbell when there is nothing to do
// after PollWindow of busy polling.
func (ss *session) serve() {
	cfg := &ss.s.cfg
	ss.lastDrain = monotonic.Now()
	// Events queued before the notifier was set (jobs of a vcoproc that a
	// previous session left running) go out in the first round.
	ss.events.Store(true)
	ss.predict.on = ss.cfg.PredictivePoll
	// When the session last ran out of work, on the monotonic clock; -1
	// while it has work. Only the first round without work reads the
	// clock for it, not every round with work.
	idleSince := time.Duration(-1)
	for ss.ctx.Err() == nil {
		progress, err := ss.round()
		if err != nil {
			ss.end(spec.PVStatusProtocol, err.Error())
			break
		}
		if progress {
			idleSince = -1
			continue
		}
		if cfg.PollWindow > 0 || ss.predict.pollUntil > 0 {
			now := monotonic.Now()
			if idleSince < 0 {
				idleSince = now
			}
			if now-idleSince < cfg.PollWindow || ss.predict.polling(now) {
				ss.probe() // busy, or a request due: poll the ring again
				continue
			}
		}
		// Going to sleep: ask the guest for a kick on its next request
		// (and, with responses waiting, on its next consumption), then look
		// once more, then sleep. Jobs in flight bound the sleep so their
		// ends are collected; waiting responses bound it by the stall limit.
		// Sleeps are bounded (MaxSleep): a lost doorbell costs at most
		// that, never a stuck guest; one found by a timed-out sleep is
		// logged so it is seen.
		timeout, timed := MaxSleep, false
		idle := !ss.busy()
		if !idle {
			timeout = cfg.EventPoll
		}
		if len(ss.backlog) > 0 {
			room, err := ss.rsp.WantSpace(pvwire.MessageSlots(ss.backlog[0].typ(), ss.backlog[0].text))
			if err != nil {
				ss.end(spec.PVStatusProtocol, err.Error())
				break
			}
			if room {
				continue
			}
			left := cfg.StallTimeout - time.Since(ss.stallSince)
			if timeout < 0 || left < timeout {
				timeout = max(left, 0)
			}
		}
		// With responses waiting for room no request is served (round
		// stops at the backlog), so requests in the ring are no reason to
		// stay awake: arming the request ring then would find them and
		// spin until the guest consumed. The doorbell for room (armed by
		// WantSpace above) wakes the session instead.
		serving := len(ss.backlog) == 0
		if serving && idle && timeout == MaxSleep {
			// Idle, nothing in flight: when the guest's rhythm is known,
			// sleep until shortly before its next request, or poll
			// through to it when that is sooner than a timer could wake
			// (predict.go).
			var poll bool
			timeout, timed, poll = ss.predict.sleep(monotonic.Now())
			if poll {
				idleSince = -1
				continue
			}
			if !timed {
				timeout = idleSleep(ss.idleSleeps)
			}
		}
		if ss.predict.staleKick {
			// A timed sleep ran its time armed and the session polled on:
			// the guest's doorbell for the request then is still counted
			// and would end this sleep at once. Drain it first: the ring
			// and the events are looked at after, so nothing is missed.
			ss.predict.staleKick = false
			ss.sleeper.Drain()
		}
		ss.asleep.Store(true) // before the look at events: see notified
		if serving && ss.req.Arm() || ss.events.Load() {
			ss.asleep.Store(false)
			continue
		}
		// What the guest owes a doorbell for: a request past the request
		// ring's event index, or, while answers wait for room, a
		// consumption past the response ring's consumer event index.
		armed, moved := ss.req.Position(), ss.req.Moved
		if !serving {
			armed, moved = ss.rsp.ConsumerSeen(), ss.rsp.ConsumerMoved
		}
		sleptAt := monotonic.Now()
		var kicked bool
		if ss.idleSleeps > 0 && timeout >= MaxSleep {
			// Idle since a whole sleep: park at once (pvwire.Sleeper.Park).
			// The request that ends it pays the poller's wake-up, some
			// 10–20 µs, after 100 ms or more of silence.
			kicked, err = ss.sleeper.Park(timeout)
		} else {
			kicked, err = ss.sleeper.Wait(timeout)
		}
		if !kicked && err == nil && timeout >= MaxSleep {
			ss.idleSleeps++
		} else {
			ss.idleSleeps = 0
		}
		if timed && !kicked && err == nil {
			ss.predict.timedOut(sleptAt, timeout, monotonic.Now())
		}
		if !kicked && err == nil {
			// Still asleep for the notifier: a kick racing the timeout
			// is let in (checkTimedOutSleep), not counted lost.
			switch {
			case moved(armed) && serving:
				ss.checkTimedOutSleep(lostRequest, armed, timeout)
			case moved(armed):
				ss.checkTimedOutSleep(lostRoom, armed, timeout)
			case ss.events.Load():
				ss.checkTimedOutSleep(lostEvent, armed, timeout)
			}
		}
		ss.asleep.Store(false)
		if err != nil {
			ss.end(spec.PVStatusInternal, fmt.Sprintf("waiting on the doorbell: %v", err))
			break
		}
		ss.events.Store(true) // collect events after every sleep
		idleSince = -1        // and poll again
	}
}

// pollProbes bounds the cheap looks probe takes between two rounds.
const pollProbes = 256

// probe spins on the cheapest look at the session's inputs — the request
// ring's producer index (with its next slot: pvwire's touchSlot) and the
// events flag — until one of them moves, for at most pollProbes looks,
// while answers are not waiting for room (then round must run to put
// them). A polling session that went round() by round() would read the
// clock twice and look at every ring index and counter per look, some
// hundred nanoseconds between looks, which a guest's request would wait
// for on top of the cache line's transfer; a look here is two loads.
func (ss *session) probe() {
	if len(ss.backlog) > 0 {
		return
	}
	pos := ss.req.Position()
	for range pollProbes {
		if ss.req.Moved(pos) || ss.events.Load() {
			return
		}
	}
}

func (r *response) typ() spec.PVType {
	if r.event {
		return spec.PVEvent
	}
	return spec.PVResult
}

// busy reports whether any of the session's vcoprocs has work in flight.
func (ss *session) busy() bool {
	for _, vc := range ss.vcs {
		st := vc.Stats()
		if st.Jobs > st.JobsDone+st.JobsFailed+st.Timeouts || vc.State() != mediator.Sleeping {
			return true
		}
	}
	return false
}

// round does one pass of work and reports whether anything happened. An
// error means the guest broke the protocol.
func (ss *session) round() (bool, error) {
	progress := false
	// Responses that did not fit first, in order.
	for len(ss.backlog) > 0 {
		r := &ss.backlog[0]
		err := ss.put(r)
		if errors.Is(err, pvwire.ErrRingFull) {
			break
		}
		if err != nil {
			return progress, err
		}
		ss.backlog[0] = response{}
		ss.backlog = ss.backlog[1:]
		ss.stallSince = time.Now()
		progress = true
	}
	if len(ss.backlog) > 0 && time.Since(ss.stallSince) > ss.s.cfg.StallTimeout {
		ss.end(spec.PVStatusStalled, fmt.Sprintf("the guest stopped consuming responses: %d waiting, its response ring full for %v", len(ss.backlog), time.Since(ss.stallSince).Round(time.Millisecond)))
		return progress, nil
	}
	// Requests, while the responses keep up: a guest that does not consume
	// its responses gets no more requests served.
	for i := 0; i < requestsPerRound && len(ss.backlog) == 0 && ss.ctx.Err() == nil; i++ {
		msg, err := ss.req.Next()
		if err != nil {
			return progress, err
		}
		if msg == nil {
			break
		}
		ss.predict.request()
		ss.handleRequest(msg)
		progress = true
	}
	// Events when notified; after the requests, so that those of a
	// submission's inline step (mediator/inline.go: a short job has ended
	// by the time its SUBMIT is answered) go out with its answer, in this
	// round and under one kick. (Load before Swap: a round without an
	// event, nearly every one, then takes no locked instruction for it.)
	if ss.events.Load() && ss.events.Swap(false) {
		progress = ss.drainEvents() || progress
	}
	if err := ss.publish(); err != nil {
		return progress, err
	}
	// And every EventPoll, for events whose interrupt the guest masked;
	// after the answers are out, so that the clock is not read on a
	// request's way through.
	if now := monotonic.Now(); now-ss.lastDrain >= ss.s.cfg.EventPoll {
		ss.lastDrain = now
		if ss.drainEvents() {
			progress = true
			if err := ss.publish(); err != nil {
				return progress, err
			}
		}
	}
	return progress, nil
}

// publish makes the round's consumption and answers visible to the guest
// and kicks it if it asked.
func (ss *session) publish() error {
	kick := ss.req.Publish()
	if ss.rsp.Publish() {
		kick = true
	}
	if kick {
		if err := pvwire.Kick(ss.intr); err != nil {
			return fmt.Errorf("kicking the interrupt eventfd: %w", err)
		}
	}
	return nil
}

func (ss *session) put(r *response) error {
	if r.event {
		return ss.rsp.PutEvent(r.dev, r.kind, r.status, r.job, r.value, r.text)
	}
	return ss.rsp.PutResult(r.tag, r.status, r.value, r.text)
}

// emit sends a response, or queues it while the ring is full. A queue over
// its bound ends the session.
func (ss *session) emit(r response) {
	if len(ss.backlog) == 0 {
		err := ss.put(&r)
		if err == nil {
			return
		}
		if !errors.Is(err, pvwire.ErrRingFull) {
			ss.end(spec.PVStatusProtocol, err.Error())
			return
		}
		ss.stallSince = time.Now()
	}
	if len(ss.backlog) >= ss.s.cfg.MaxPending {
		ss.end(spec.PVStatusStalled, fmt.Sprintf("the guest stopped consuming responses: %d responses waiting, the limit is %d", len(ss.backlog)+1, ss.s.cfg.MaxPending))
		return
	}
	ss.backlog = append(ss.backlog, r)
}

func (ss *session) result(tag uint64, status uint32, value uint64, err error) {
	r := response{tag: tag, status: status, value: value}
	if err != nil {
		r.text = err.Error()
	}
	ss.emit(r)
}

var eventKinds = map[mediator.EventKind]uint8{
	mediator.EventFence: spec.PVEventFence, mediator.EventJobDone: spec.PVEventJobDone,
	mediator.EventJobFailed: spec.PVEventJobFailed, mediator.EventRefused: spec.PVEventRefused,
	mediator.EventTimeout: spec.PVEventTimeout,
}

func (ss *session) event(dev uint16, e mediator.Event) {
	r := response{event: true, dev: dev, kind: eventKinds[e.Kind], job: e.Job, value: e.Value}
	if r.kind == 0 {
		return // a kind this protocol version does not know
	}
	switch e.Kind {
	case mediator.EventJobFailed, mediator.EventTimeout:
		r.status = spec.PVStatusJobFailed
	case mediator.EventRefused:
		r.status = spec.PVStatusRefused
	}
	if e.Err != nil {
		r.text = e.Err.Error()
	}
	ss.emit(r)
}

func (ss *session) handleRequest(msg []byte) {
	r, err := pvwire.DecodeRequest(msg)
	if err != nil {
		status := uint32(spec.PVStatusMalformed)
		var de *pvwire.DecodeError
		if errors.As(err, &de) {
			status = de.Status
		}
		ss.result(r.Tag, status, 0, err)
		return
	}
	if r.Type == spec.PVPing {
		ss.result(r.Tag, spec.PVStatusOK, 0, nil)
		return
	}
	if int(r.Dev) >= len(ss.vcs) {
		ss.result(r.Tag, spec.PVStatusNoDevice, 0, fmt.Errorf("pv: device index %d: the session has %d devices", r.Dev, len(ss.vcs)))
		return
	}
	vc := ss.vcs[r.Dev]
	switch r.Type {
	case spec.PVRegRead, spec.PVRegWrite:
		v, err := vc.Access(r.Offset, r.Size, r.Type == spec.PVRegWrite, r.Value)
		if err != nil {
			ss.result(r.Tag, spec.PVStatusAccess, 0, err)
			return
		}
		ss.result(r.Tag, spec.PVStatusOK, v, nil)
	case spec.PVSubmit:
		ss.words = ss.words[:0]
		for i := 0; i < len(r.Words); i += 8 {
			ss.words = append(ss.words, le64(r.Words[i:]))
		}
		ss.submit(vc, r.Tag)
	case spec.PVSubmitIndirect:
		if ss.caps&spec.PVCapSubmitIndirect == 0 {
			ss.result(r.Tag, spec.PVStatusUnsupported, 0, errors.New("pv: SUBMIT_INDIRECT was not negotiated"))
			return
		}
		if r.Count > ss.maxWords[r.Dev] {
			ss.result(r.Tag, spec.PVStatusRefused, 0, fmt.Errorf("SUBMIT_INDIRECT of %d words: device %q takes at most %d", r.Count, vc.Device(), ss.maxWords[r.Dev]))
			return
		}
		words, err := ss.readWords(r.IOVA, r.Count, ss.words)
		ss.words = words
		if err != nil {
			ss.result(r.Tag, spec.PVStatusDescriptor, 0, err)
			return
		}
		ss.submit(vc, r.Tag)
	case spec.PVAllocDevMem, spec.PVFreeDevMem:
		if ss.caps&spec.PVCapDeviceMemory == 0 {
			ss.result(r.Tag, spec.PVStatusUnsupported, 0, errors.New("pv: device memory was not negotiated"))
			return
		}
		key := devmemKey{dev: int(r.Dev), iova: r.IOVA}
		if r.Type == spec.PVAllocDevMem {
			err = vc.AllocDeviceMemory(r.IOVA, r.Bytes, iommu.Perm(r.Perm))
		} else {
			err = vc.FreeDeviceMemory(r.IOVA)
		}
		if err != nil {
			ss.result(r.Tag, spec.PVStatusDeviceMem, 0, err)
			return
		}
		ss.devmemMu.Lock()
		if r.Type == spec.PVAllocDevMem {
			ss.devmem[key] = true
		} else {
			delete(ss.devmem, key)
		}
		ss.devmemMu.Unlock()
		ss.result(r.Tag, spec.PVStatusOK, 0, nil)
	}
}

func (ss *session) submit(vc *mediator.VCoproc, tag uint64) {
	job, err := vc.Submit(ss.words)
	if err != nil {
		ss.result(tag, spec.PVStatusRefused, 0, err)
		return
	}
	ss.result(tag, spec.PVStatusOK, job, nil)
}

// drainEvents turns every vcoproc's pending events into responses and
// reports whether there were any.
func (ss *session) drainEvents() bool {
	any := false
	for i, vc := range ss.vcs {
		for _, e := range vc.Events() {
			ss.event(uint16(i), e)
			any = true
		}
	}
	return any
}
