package simulator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Workload generates a vcoproc's jobs. The implementations are Periodic,
// Saturating, Poisson and OnOff; each draws from the vcoproc's own seeded
// random stream, so a run is reproducible to the event and adding a tenant
// does not change the arrivals of the others.
type Workload interface {
	// Jobs describes the jobs the workload releases.
	Jobs() JobSpec
	validate() error
	newSource() source
}

// source yields release instants. Open-loop sources are asked for the next
// release after each release; closed-loop ones after each completion.
type source interface {
	// next returns the next release instant given the previous release
	// (open loop) or the completion (closed loop), or the workload's start
	// on the first call; ok is false when no job will follow.
	next(after time.Duration, rng *rand.Rand) (at time.Duration, ok bool)
	closedLoop() bool
}

// Source is a workload's release process, for a harness that replays a
// workload outside the simulator (bench's live guests): asked with the
// vcoproc's NewRand stream in the simulator's order (the first release
// from the start, then, open loop, the next after each release, drawing
// the job's DrawExec before it; closed loop, the next at each
// completion), it yields the simulator's own arrivals.
type Source struct{ src source }

// NewSource returns a fresh release process of w.
func NewSource(w Workload) *Source { return &Source{src: w.newSource()} }

// Next returns the release after the previous release (open loop) or the
// completion (closed loop), or the first one given the workload's start;
// ok is false when no job follows.
func (s *Source) Next(after time.Duration, rng *rand.Rand) (at time.Duration, ok bool) {
	return s.src.next(after, rng)
}

// ClosedLoop reports whether the next release follows a completion rather
// than the previous release.
func (s *Source) ClosedLoop() bool { return s.src.closedLoop() }

// JobSpec describes the jobs a workload releases.
type JobSpec struct {
	// Exec is a job's execution time on the device, switch excluded; the
	// worst case when ExecMin is set.
	Exec time.Duration
	// ExecMin, when non-zero, makes each job's execution time uniform in
	// [ExecMin, Exec].
	ExecMin time.Duration
	// Segment is the job's longest non-preemptible stretch (a kernel, a
	// command): the device can stop it only every Segment of execution
	// and at its end. Zero leaves it to the device's MaxNonPreemptible; a
	// device with a finer granularity cuts longer segments to it.
	Segment time.Duration
	// Deadline is relative to the release; zero means none (for Periodic:
	// the period).
	Deadline time.Duration
}

func (j JobSpec) validate() error {
	if j.Exec <= 0 {
		return fmt.Errorf("execution time %v must be positive", j.Exec)
	}
	if j.ExecMin < 0 || j.ExecMin > j.Exec {
		return fmt.Errorf("minimum execution time %v must be in [0, %v]", j.ExecMin, j.Exec)
	}
	if j.Segment < 0 {
		return fmt.Errorf("segment %v is negative", j.Segment)
	}
	if j.Deadline < 0 {
		return fmt.Errorf("deadline %v is negative", j.Deadline)
	}
	return nil
}

// DrawExec returns one job's execution time: Exec, or uniform in
// [ExecMin, Exec], drawn from rng.
func (j JobSpec) DrawExec(rng *rand.Rand) time.Duration {
	if j.ExecMin == 0 || j.ExecMin == j.Exec {
		return j.Exec
	}
	return j.ExecMin + time.Duration(rng.Int64N(int64(j.Exec-j.ExecMin)+1))
}

// Periodic releases a job every Period, starting Offset after the
// vcoproc's start; each release may be delayed by a uniform jitter in
// [0, ReleaseJitter]. A zero Deadline means the period (an implicit-deadline
// task).
type Periodic struct {
	JobSpec
	Period        time.Duration
	Offset        time.Duration
	ReleaseJitter time.Duration
}

// Jobs implements Workload.
func (p Periodic) Jobs() JobSpec {
	j := p.JobSpec
	if j.Deadline == 0 {
		j.Deadline = p.Period
	}
	return j
}

func (p Periodic) validate() error {
	if p.Period <= 0 {
		return fmt.Errorf("periodic: period %v must be positive", p.Period)
	}
	if p.Offset < 0 {
		return fmt.Errorf("periodic: offset %v is negative", p.Offset)
	}
	if p.ReleaseJitter < 0 || p.ReleaseJitter >= p.Period {
		return fmt.Errorf("periodic: release jitter %v must be in [0, period %v)", p.ReleaseJitter, p.Period)
	}
	if err := p.JobSpec.validate(); err != nil {
		return fmt.Errorf("periodic: %w", err)
	}
	return nil
}

func (p Periodic) newSource() source { return &periodicSource{p: p, k: -1} }

type periodicSource struct {
	p     Periodic
	start time.Duration
	k     int64 // index of the last release; -1 before the first
}

func (s *periodicSource) closedLoop() bool { return false }

func (s *periodicSource) next(after time.Duration, rng *rand.Rand) (time.Duration, bool) {
	if s.k < 0 {
		s.start = after + s.p.Offset
	}
	s.k++
	if s.k > math.MaxInt64/int64(s.p.Period) {
		return 0, false
	}
	at := s.start + time.Duration(s.k)*s.p.Period
	if at < s.start {
		return 0, false // past the representable future
	}
	if s.p.ReleaseJitter > 0 {
		at += time.Duration(rng.Int64N(int64(s.p.ReleaseJitter) + 1))
	}
	return at, true
}

// Saturating is a closed loop that always has work: it releases its first
// job at the start and the next one the instant the previous completes, so
// it never blocks before its Stop. Response time is execution plus waiting.
type Saturating struct {
	JobSpec
}

// Jobs implements Workload.
func (s Saturating) Jobs() JobSpec { return s.JobSpec }

func (s Saturating) validate() error {
	if err := s.JobSpec.validate(); err != nil {
		return fmt.Errorf("saturating: %w", err)
	}
	return nil
}

func (s Saturating) newSource() source { return saturatingSource{} }

type saturatingSource struct{}

func (saturatingSource) closedLoop() bool { return true }

func (saturatingSource) next(after time.Duration, _ *rand.Rand) (time.Duration, bool) {
	return after, true
}

// Poisson is an open loop releasing jobs at Rate per second of virtual
// time, with exponential inter-arrival times.
type Poisson struct {
	JobSpec
	Rate float64
}

// Jobs implements Workload.
func (p Poisson) Jobs() JobSpec { return p.JobSpec }

func (p Poisson) validate() error {
	if !(p.Rate > 0) || math.IsInf(p.Rate, 0) || p.Rate > 1e9 {
		return fmt.Errorf("poisson: rate %v must be in (0, 1e9] jobs per second", p.Rate)
	}
	if err := p.JobSpec.validate(); err != nil {
		return fmt.Errorf("poisson: %w", err)
	}
	return nil
}

func (p Poisson) newSource() source { return &poissonSource{rate: p.Rate} }

type poissonSource struct{ rate float64 }

func (s *poissonSource) closedLoop() bool { return false }

func (s *poissonSource) next(after time.Duration, rng *rand.Rand) (time.Duration, bool) {
	return addExp(after, s.rate, rng)
}

// addExp returns t plus an exponential delay with the given rate (per
// second), rounded to the nanosecond; ok is false past the representable
// future.
func addExp(t time.Duration, rate float64, rng *rand.Rand) (time.Duration, bool) {
	d := rng.ExpFloat64() / rate * float64(time.Second)
	if d >= float64(math.MaxInt64-t) {
		return 0, false
	}
	return t + time.Duration(math.Round(d)), true
}

// OnOff is a bursty open loop: it alternates ON periods, during which jobs
// arrive as a Poisson process at Rate per second, and silent OFF periods.
// Both lengths are exponential with means OnMean and OffMean, so the
// long-run rate is Rate × OnMean / (OnMean + OffMean). It starts ON.
type OnOff struct {
	JobSpec
	Rate            float64
	OnMean, OffMean time.Duration
}

// Jobs implements Workload.
func (o OnOff) Jobs() JobSpec { return o.JobSpec }

func (o OnOff) validate() error {
	if !(o.Rate > 0) || math.IsInf(o.Rate, 0) || o.Rate > 1e9 {
		return fmt.Errorf("on/off: rate %v must be in (0, 1e9] jobs per second", o.Rate)
	}
	if o.OnMean <= 0 || o.OffMean <= 0 {
		return fmt.Errorf("on/off: mean on %v and mean off %v must be positive", o.OnMean, o.OffMean)
	}
	if err := o.JobSpec.validate(); err != nil {
		return fmt.Errorf("on/off: %w", err)
	}
	return nil
}

func (o OnOff) newSource() source { return &onOffSource{o: o, first: true} }

type onOffSource struct {
	o     OnOff
	first bool
	onEnd time.Duration // end of the current ON period
}

func (s *onOffSource) closedLoop() bool { return false }

func (s *onOffSource) next(after time.Duration, rng *rand.Rand) (time.Duration, bool) {
	onRate := float64(time.Second) / float64(s.o.OnMean)
	offRate := float64(time.Second) / float64(s.o.OffMean)
	ok := true
	if s.first {
		s.first = false
		if s.onEnd, ok = addExp(after, onRate, rng); !ok {
			return 0, false
		}
	}
	// The arrival process is memoryless, so an arrival that would fall in
	// an OFF period is redrawn from the start of the next ON period.
	for {
		at, ok := addExp(after, s.o.Rate, rng)
		if !ok {
			return 0, false
		}
		if at < s.onEnd {
			return at, true
		}
		if after, ok = addExp(s.onEnd, offRate, rng); !ok {
			return 0, false
		}
		if s.onEnd, ok = addExp(after, onRate, rng); !ok {
			return 0, false
		}
	}
}
