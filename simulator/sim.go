package simulator

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/coprocd/coprocd/scheduler"
)

// PolicyFactory builds a fresh policy for one device of a run. A run needs
// its own policy instances (they hold state), so the harness hands Run a
// factory and can run the same scenario under many policies.
type PolicyFactory func(dev Device) (scheduler.Policy, error)

// stream returns the PCG stream of the vcoproc with the given name: an
// FNV-1a hash of the name, so that a tenant's draws depend on the seed and
// its name only, not on its position or on who else is in the scenario.
func stream(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// NewRand returns the random stream the vcoproc with the given name draws
// its releases and execution times from under seed. A harness replaying a
// workload outside the simulator (bench's live guests) uses it with
// NewSource and JobSpec.DrawExec to see the arrivals a simulated run sees.
func NewRand(seed uint64, name string) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream(name)))
}

// Run simulates the scenario from 0 to its horizon under policies built by
// newPolicy, one per device, with every random draw derived from seed. The
// same (policy, scenario, seed) gives the same Result, trace included, on
// every run and every machine.
//
// A vcoproc whose Admit fails does not run; its result carries the error.
// A policy decision the simulator cannot carry out (picking a vcoproc that
// has no work or belongs to another device, a non-positive slice, an idle
// Until that is not in the future) ends the run with an error naming it.
func Run(newPolicy PolicyFactory, sc Scenario, seed uint64) (*Result, error) {
	if newPolicy == nil {
		return nil, fmt.Errorf("simulator: no policy factory")
	}
	vcDev, err := sc.validate()
	if err != nil {
		return nil, err
	}
	s := &sim{horizon: sc.Horizon, record: sc.RecordTrace}
	for i, d := range sc.Devices {
		pol, err := newPolicy(d)
		if err != nil {
			return nil, fmt.Errorf("simulator: device %q: building the policy: %w", d.Name, err)
		}
		if pol == nil {
			return nil, fmt.Errorf("simulator: device %q: the policy factory returned no policy", d.Name)
		}
		s.devs = append(s.devs, &devState{idx: i, cfg: d, pol: pol, spanVC: -1, lastSpan: -1})
	}
	for i, v := range sc.VCoprocs {
		d := s.devs[vcDev[i]]
		spec := v.Workload.Jobs()
		seg := spec.Segment
		if g := d.cfg.Costs.MaxNonPreemptible; g > 0 && (seg == 0 || seg > g) {
			seg = g
		}
		vs := &vcState{
			idx:    i,
			id:     scheduler.ID(i + 1),
			cfg:    v,
			dev:    d,
			spec:   spec,
			seg:    seg,
			src:    v.Workload.newSource(),
			rng:    NewRand(seed, v.Name),
			weight: max(v.Params.Weight, 1),
		}
		s.vcs = append(s.vcs, vs)
		if vs.admitErr = d.pol.Admit(vs.id, v.Params, 0); vs.admitErr != nil {
			continue
		}
		if v.Start < s.horizon && (v.Stop == 0 || v.Start < v.Stop) {
			if vs.src.closedLoop() {
				s.q.push(event{at: v.Start, class: evRelease, idx: int32(i)})
			} else {
				s.scheduleRelease(vs, v.Start)
			}
		}
	}
	if err := s.loop(); err != nil {
		return nil, err
	}
	return s.result(sc, seed), nil
}

// devPhase is what a device is doing.
type devPhase uint8

const (
	phaseIdle devPhase = iota
	phaseSwitching
	phaseRunning
)

type sim struct {
	horizon time.Duration
	now     time.Duration
	q       agenda
	devs    []*devState
	vcs     []*vcState
	record  bool
	trace   []Span
	events  uint64 // events processed
	stale   uint64 // of which superseded device events
	err     error
}

type job struct {
	release     time.Duration
	deadline    time.Duration // absolute, when hasDeadline
	hasDeadline bool
	size, rem   time.Duration
}

// jobQueue is a FIFO of a vcoproc's released, unfinished jobs.
type jobQueue struct {
	buf  []job
	head int
}

func (q *jobQueue) len() int    { return len(q.buf) - q.head }
func (q *jobQueue) front() *job { return &q.buf[q.head] }
func (q *jobQueue) push(j job)  { q.buf = append(q.buf, j) }
func (q *jobQueue) all() []job  { return q.buf[q.head:] }
func (q *jobQueue) pop() {
	q.head++
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	} else if q.head > 64 && q.head*2 > len(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		q.buf, q.head = q.buf[:n], 0
	}
}

type vcState struct {
	idx      int
	id       scheduler.ID
	cfg      VCoproc
	dev      *devState
	spec     JobSpec
	seg      time.Duration // effective non-preemptible segment; 0: none
	src      source
	rng      *rand.Rand
	weight   uint32
	admitErr error
	queue    jobQueue
	runnable bool

	service            time.Duration
	released, finished int
	misses             int
	maxLateness        time.Duration
	responses          []time.Duration
}

type devState struct {
	idx int
	cfg Device
	pol scheduler.Policy

	phase devPhase
	gen   uint32 // bumped to supersede the pending device event
	owner *vcState
	cur   *vcState // running, or being switched to
	slice time.Duration
	// resched asks for a new decision at the next preemption point: a
	// vcoproc woke while the device was switching.
	resched bool
	// runStart is when the current run began (what Charge is told);
	// chunkStart when the work since the last account began; the run
	// stops at the first preemption point at or after target.
	runStart, chunkStart, target time.Duration

	spanKind  SpanKind
	spanVC    int
	spanStart time.Duration
	lastSpan  int // index in the trace of this device's last span

	busy, switching, idle time.Duration
	switches, picks       int
}

func (s *sim) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
}

func (s *sim) loop() error {
	for s.q.len() > 0 && s.q.peek().at < s.horizon {
		ev := s.q.pop()
		s.now = ev.at
		s.events++
		switch ev.class {
		case evRelease:
			s.release(s.vcs[ev.idx])
		case evDevice:
			d := s.devs[ev.idx]
			if ev.gen != d.gen {
				s.stale++
				continue
			}
			switch d.phase {
			case phaseIdle:
				s.dispatch(d)
			case phaseSwitching:
				s.switchEnd(d)
			case phaseRunning:
				s.chunkEnd(d)
			}
		}
		if s.err != nil {
			return s.err
		}
	}
	s.now = s.horizon
	for _, d := range s.devs {
		if d.phase == phaseRunning {
			s.advance(d)
		}
		s.closeSpan(d)
	}
	return nil
}

// scheduleRelease asks an open-loop source for the release after prev and
// puts it on the agenda if it falls before the horizon and the stop.
func (s *sim) scheduleRelease(v *vcState, prev time.Duration) {
	at, ok := v.src.next(prev, v.rng)
	if !ok || at >= s.horizon || (v.cfg.Stop != 0 && at >= v.cfg.Stop) {
		return
	}
	s.q.push(event{at: at, class: evRelease, idx: int32(v.idx)})
}

func (s *sim) release(v *vcState) {
	s.addJob(v)
	if !v.src.closedLoop() {
		s.scheduleRelease(v, s.now)
	}
}

// addJob releases one job of v now.
func (s *sim) addJob(v *vcState) {
	exec := v.spec.DrawExec(v.rng)
	j := job{release: s.now, size: exec, rem: exec}
	if v.spec.Deadline > 0 {
		j.deadline, j.hasDeadline = s.now+v.spec.Deadline, true
	}
	v.queue.push(j)
	v.released++
	if v.runnable {
		return
	}
	v.runnable = true
	d := v.dev
	d.pol.Wake(v.id, s.now)
	switch d.phase {
	case phaseIdle:
		s.schedule(d, s.now)
	case phaseSwitching:
		d.resched = d.resched || !d.cfg.NoWakePreemption
	case phaseRunning:
		if !d.cfg.NoWakePreemption && d.target > s.now {
			s.advance(d)
			d.target = s.now
			s.planChunk(d)
		}
	}
}

// schedule makes the device's next step happen at t, superseding any step
// already scheduled.
func (s *sim) schedule(d *devState, t time.Duration) {
	d.gen++
	s.q.push(event{at: t, class: evDevice, idx: int32(d.idx), gen: d.gen})
}

// dispatch asks the policy what the device does next and starts doing it.
func (s *sim) dispatch(d *devState) {
	d.picks++
	d.resched = false
	dec := d.pol.Pick(s.now)
	if dec.Idle {
		s.enter(d, phaseIdle, nil)
		switch {
		case dec.Until == 0:
			d.gen++ // nothing pending: the next wake schedules a step
		case dec.Until <= s.now:
			s.fail("simulator: device %q at %v: policy %s went idle until %v, which is not in the future", d.cfg.Name, s.now, d.pol.Name(), dec.Until)
		default:
			s.schedule(d, dec.Until)
		}
		return
	}
	if dec.ID < 1 || dec.ID > scheduler.ID(len(s.vcs)) || s.vcs[dec.ID-1].dev != d || s.vcs[dec.ID-1].admitErr != nil {
		s.fail("simulator: device %q at %v: policy %s picked vcoproc %d, which is not admitted on this device", d.cfg.Name, s.now, d.pol.Name(), dec.ID)
		return
	}
	v := s.vcs[dec.ID-1]
	if v.queue.len() == 0 {
		s.fail("simulator: device %q at %v: policy %s picked vcoproc %q, which has no work (it was blocked)", d.cfg.Name, s.now, d.pol.Name(), v.cfg.Name)
		return
	}
	if dec.Slice <= 0 {
		s.fail("simulator: device %q at %v: policy %s gave vcoproc %q a slice of %v; a slice must be positive", d.cfg.Name, s.now, d.pol.Name(), v.cfg.Name, dec.Slice)
		return
	}
	d.cur, d.slice = v, dec.Slice
	if v != d.owner {
		d.owner = v
		d.switches++
		if sw := d.cfg.Costs.SwitchCost; sw > 0 {
			s.enter(d, phaseSwitching, v)
			s.schedule(d, satAdd(s.now, sw))
			return
		}
	}
	s.startRun(d)
}

func (s *sim) switchEnd(d *devState) {
	if d.resched {
		s.dispatch(d)
		return
	}
	s.startRun(d)
}

func (s *sim) startRun(d *devState) {
	d.runStart, d.chunkStart = s.now, s.now
	d.target = satAdd(s.now, d.slice)
	s.enter(d, phaseRunning, d.cur)
	s.planChunk(d)
}

// planChunk schedules the end of the running job's current stretch: its
// completion, or the first preemption point at or after the target,
// whichever comes first.
func (s *sim) planChunk(d *devState) {
	v := d.cur
	j := v.queue.front()
	done := j.size - j.rem
	need := max(d.target-s.now, 0)
	stop := j.size
	if need < j.rem {
		stop = done + need
		if v.seg > 0 {
			if r := stop % v.seg; r != 0 {
				stop = min(stop-r+v.seg, j.size)
			}
		}
	}
	s.schedule(d, s.now+(stop-done))
}

// advance accounts the work done on the running job since the last
// account.
func (s *sim) advance(d *devState) {
	ran := s.now - d.chunkStart
	d.chunkStart = s.now
	d.cur.queue.front().rem -= ran
	d.cur.service += ran
}

func (s *sim) chunkEnd(d *devState) {
	v := d.cur
	s.advance(d)
	if j := v.queue.front(); j.rem == 0 {
		s.finish(v, j)
		v.queue.pop()
		if v.src.closedLoop() && (v.cfg.Stop == 0 || s.now < v.cfg.Stop) {
			s.addJob(v)
		}
	}
	if v.queue.len() > 0 && s.now < d.target {
		s.planChunk(d) // a job finished inside the slice: the next one goes on
		return
	}
	d.pol.Charge(v.id, s.now-d.runStart, s.now)
	if v.queue.len() == 0 {
		v.runnable = false
		d.pol.Block(v.id, s.now)
	}
	s.dispatch(d)
}

func (s *sim) finish(v *vcState, j *job) {
	v.finished++
	v.responses = append(v.responses, s.now-j.release)
	if j.hasDeadline && s.now > j.deadline {
		v.misses++
		v.maxLateness = max(v.maxLateness, s.now-j.deadline)
	}
}

// enter moves the device to a phase, closing the trace span of the previous
// one unless the device keeps doing the same thing for the same vcoproc.
func (s *sim) enter(d *devState, phase devPhase, v *vcState) {
	d.phase = phase
	kind, vc := spanKindOf(phase), -1
	if v != nil {
		vc = v.idx
	}
	if kind == d.spanKind && vc == d.spanVC {
		return
	}
	s.closeSpan(d)
	d.spanKind, d.spanVC, d.spanStart = kind, vc, s.now
}

// closeSpan accounts the device's current span up to now.
func (s *sim) closeSpan(d *devState) {
	dur := s.now - d.spanStart
	if dur == 0 {
		return
	}
	switch d.spanKind {
	case SpanRun:
		d.busy += dur
	case SpanSwitch:
		d.switching += dur
	default:
		d.idle += dur
	}
	d.spanStart = s.now
	if !s.record {
		return
	}
	if d.lastSpan >= 0 {
		last := &s.trace[d.lastSpan]
		if last.Kind == d.spanKind && int(last.VCoproc) == d.spanVC && last.End == s.now-dur {
			last.End = s.now
			return
		}
	}
	d.lastSpan = len(s.trace)
	s.trace = append(s.trace, Span{Start: s.now - dur, End: s.now, Device: int32(d.idx), VCoproc: int32(d.spanVC), Kind: d.spanKind})
}

func spanKindOf(p devPhase) SpanKind {
	switch p {
	case phaseRunning:
		return SpanRun
	case phaseSwitching:
		return SpanSwitch
	}
	return SpanIdle
}

// satAdd is t+d, saturating at the largest Duration.
func satAdd(t, d time.Duration) time.Duration {
	if d > math.MaxInt64-t {
		return math.MaxInt64
	}
	return t + d
}
