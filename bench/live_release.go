package bench

import (
	"math"
	"math/rand/v2"
	"time"
)

// releaser yields a live guest's release instants, relative to the run's
// start, with the simulator's semantics (simulator/workload.go): open-loop
// sources are asked for the next release after each release, the closed
// loop (saturating) after each completion. The distributions are the
// simulator's; the draws are not (the simulator's generators are its own),
// so a live run and a simulated one see statistically alike, not identical,
// arrivals.
type releaser interface {
	// next returns the release after the previous release (open loop) or
	// the completion (closed loop), or the first one given the workload's
	// start; ok is false when none follows.
	next(after time.Duration, rng *rand.Rand) (at time.Duration, ok bool)
	closedLoop() bool
}

func newReleaser(w GuestWorkload) releaser {
	switch w.Type {
	case "periodic":
		return &periodicReleases{period: time.Duration(w.PeriodNS), offset: time.Duration(w.OffsetNS), jitter: time.Duration(w.JitterNS), k: -1}
	case "poisson":
		return poissonReleases{rate: w.Rate}
	case "on_off":
		return &onOffReleases{rate: w.Rate, onMean: time.Duration(w.OnMeanNS), offMean: time.Duration(w.OffMeanNS), first: true}
	default:
		return saturatingReleases{}
	}
}

// drawExec is one job's execution time: Exec, or uniform in [ExecMin, Exec].
func (w GuestWorkload) drawExec(rng *rand.Rand) time.Duration {
	if w.ExecMinNS == 0 || w.ExecMinNS == w.ExecNS {
		return time.Duration(w.ExecNS)
	}
	return time.Duration(w.ExecMinNS + rng.Int64N(w.ExecNS-w.ExecMinNS+1))
}

type periodicReleases struct {
	period, offset, jitter time.Duration
	start                  time.Duration
	k                      int64
}

func (p *periodicReleases) closedLoop() bool { return false }

func (p *periodicReleases) next(after time.Duration, rng *rand.Rand) (time.Duration, bool) {
	if p.k < 0 {
		p.start = after + p.offset
	}
	p.k++
	if p.k > math.MaxInt64/int64(p.period) {
		return 0, false
	}
	at := p.start + time.Duration(p.k)*p.period
	if at < p.start {
		return 0, false
	}
	if p.jitter > 0 {
		at += time.Duration(rng.Int64N(int64(p.jitter) + 1))
	}
	return at, true
}

type saturatingReleases struct{}

func (saturatingReleases) closedLoop() bool { return true }

func (saturatingReleases) next(after time.Duration, _ *rand.Rand) (time.Duration, bool) {
	return after, true
}

type poissonReleases struct{ rate float64 }

func (poissonReleases) closedLoop() bool { return false }

func (p poissonReleases) next(after time.Duration, rng *rand.Rand) (time.Duration, bool) {
	return addExponential(after, p.rate, rng)
}

// addExponential returns t plus an exponential delay of the given rate
// (per second); ok is false past the representable future.
func addExponential(t time.Duration, rate float64, rng *rand.Rand) (time.Duration, bool) {
	d := rng.ExpFloat64() / rate * float64(time.Second)
	if d >= float64(math.MaxInt64-t) {
		return 0, false
	}
	return t + time.Duration(math.Round(d)), true
}

// onOffReleases alternates exponential ON periods, with Poisson arrivals
// at rate, and silent OFF periods; it starts ON.
type onOffReleases struct {
	rate            float64
	onMean, offMean time.Duration
	first           bool
	onEnd           time.Duration
}

func (o *onOffReleases) closedLoop() bool { return false }

func (o *onOffReleases) next(after time.Duration, rng *rand.Rand) (time.Duration, bool) {
	onRate := float64(time.Second) / float64(o.onMean)
	offRate := float64(time.Second) / float64(o.offMean)
	ok := true
	if o.first {
		o.first = false
		if o.onEnd, ok = addExponential(after, onRate, rng); !ok {
			return 0, false
		}
	}
	// Arrivals are memoryless: one that would fall in an OFF period is
	// drawn again from the start of the next ON period.
	for {
		at, ok := addExponential(after, o.rate, rng)
		if !ok {
			return 0, false
		}
		if at < o.onEnd {
			return at, true
		}
		if after, ok = addExponential(o.onEnd, offRate, rng); !ok {
			return 0, false
		}
		if o.onEnd, ok = addExponential(after, onRate, rng); !ok {
			return 0, false
		}
	}
}
