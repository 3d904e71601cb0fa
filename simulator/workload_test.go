package simulator

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPeriodicReleasesAreExact(t *testing.T) {
	sc := Scenario{
		Horizon: time.Second,
		Devices: oneDevice(0, 0),
		VCoprocs: []VCoproc{{
			Name: "p", Start: 10 * ms, Stop: 500 * ms,
			Workload: Periodic{JobSpec: JobSpec{Exec: 100 * us}, Period: 7 * ms, Offset: 3 * ms},
		}},
		RecordTrace: true,
	}
	res := run(t, roundRobin(ms), sc, 1)
	var runs []Span
	for _, sp := range res.Trace {
		if sp.Kind == SpanRun {
			runs = append(runs, sp)
		}
	}
	// Releases at 13 ms + k·7 ms while before the 500 ms stop: k = 0..69.
	require.Len(t, runs, 70)
	for k, sp := range runs {
		start := 13*ms + time.Duration(k)*7*ms
		assert.Equal(t, Span{Start: start, End: start + 100*us, Kind: SpanRun}, sp, "job %d", k)
	}
	p := vc(t, res, "p")
	assert.Equal(t, 70, p.Released)
	assert.Equal(t, 100*us, p.Response.Max)
}

func TestPeriodicJitterStaysInItsWindow(t *testing.T) {
	w := Periodic{JobSpec: JobSpec{Exec: ms}, Period: 10 * ms, ReleaseJitter: 2 * ms}
	src := w.newSource()
	rng := rand.New(rand.NewPCG(1, 2))
	at, ok := src.next(5*ms, rng)
	var jittered int
	for k := 0; k < 1000; k++ {
		require.True(t, ok)
		nominal := 5*ms + time.Duration(k)*10*ms
		assert.GreaterOrEqual(t, at, nominal)
		assert.LessOrEqual(t, at, nominal+2*ms)
		if at != nominal {
			jittered++
		}
		at, ok = src.next(at, rng)
	}
	assert.Greater(t, jittered, 900, "jitter is drawn, not zero")
}

func TestVariableExecutionTimeIsUniformInItsRange(t *testing.T) {
	sc := Scenario{
		Horizon:  10 * time.Second,
		Devices:  oneDevice(0, 0),
		VCoprocs: []VCoproc{{Name: "p", Workload: Periodic{JobSpec: JobSpec{Exec: 4 * ms, ExecMin: 2 * ms}, Period: 10 * ms}}},
	}
	res := run(t, roundRobin(100*ms), sc, 3)
	p := vc(t, res, "p")
	require.Equal(t, 1000, p.Completed)
	// Alone on the device and switched to once, a job's response time is
	// its execution time.
	assert.GreaterOrEqual(t, p.Response.Min, 2*ms)
	assert.LessOrEqual(t, p.Response.Max, 4*ms)
	assert.InDelta(t, float64(3*ms), float64(p.Response.Mean), float64(60*us), "mean of U[2,4] ms")
	assert.Equal(t, p.Service, sumDurations(p.Response.Samples))
}

func sumDurations(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// interArrivals draws n releases from an open-loop workload and returns
// the gaps between them in seconds.
func interArrivals(t *testing.T, w Workload, n int, seed uint64) []float64 {
	t.Helper()
	src := w.newSource()
	rng := rand.New(rand.NewPCG(seed, 0))
	prev, ok := src.next(0, rng)
	require.True(t, ok)
	gaps := make([]float64, 0, n)
	for len(gaps) < n {
		at, ok := src.next(prev, rng)
		require.True(t, ok)
		require.GreaterOrEqual(t, at, prev, "releases go forward")
		gaps = append(gaps, (at - prev).Seconds())
		prev = at
	}
	return gaps
}

func meanCV(xs []float64) (mean, cv float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(v/float64(len(xs))) / mean
}

func TestPoissonRateWithinTolerance(t *testing.T) {
	mean, cv := meanCV(interArrivals(t, Poisson{JobSpec: JobSpec{Exec: us}, Rate: 500}, 50000, 11))
	assert.InEpsilon(t, 1.0/500, mean, 0.02, "mean inter-arrival 2 ms")
	assert.InDelta(t, 1.0, cv, 0.03, "exponential gaps have a coefficient of variation of 1")

	sc := Scenario{
		Horizon:  100 * time.Second,
		Devices:  oneDevice(0, 0),
		VCoprocs: []VCoproc{{Name: "p", Workload: Poisson{JobSpec: JobSpec{Exec: 100 * us}, Rate: 500}}},
	}
	res := run(t, roundRobin(ms), sc, 5)
	assert.InEpsilon(t, 50000, vc(t, res, "p").Released, 0.03, "500/s over 100 s")
	assert.InEpsilon(t, 0.05, res.Devices[0].Utilization, 0.03, "500/s × 100 µs")
}

func TestOnOffIsBurstyAtItsLongRunRate(t *testing.T) {
	w := OnOff{JobSpec: JobSpec{Exec: us}, Rate: 2000, OnMean: 20 * ms, OffMean: 80 * ms}
	mean, cv := meanCV(interArrivals(t, w, 100000, 12))
	assert.InEpsilon(t, 1.0/400, mean, 0.08, "2000/s for a fifth of the time")
	assert.Greater(t, cv, 2.0, "bursts: far more variable than Poisson")
}

func TestSaturatingStopsAtItsStop(t *testing.T) {
	sc := Scenario{
		Horizon: time.Second,
		Devices: oneDevice(0, 0),
		VCoprocs: []VCoproc{
			{Name: "a", Stop: 300 * ms, Workload: Saturating{JobSpec{Exec: 7 * ms}}},
			saturating("b", 7*ms, 0),
		},
		RecordTrace: true,
	}
	res := run(t, roundRobin(ms), sc, 1)
	a := vc(t, res, "a")
	assert.Zero(t, a.Pending, "its last job finished")
	last, err := res.ServiceBetween("a", 300*ms, time.Second)
	require.NoError(t, err)
	assert.LessOrEqual(t, last, 7*ms, "after its stop a only finishes the job in hand")
	assert.InDelta(t, float64(150*ms), float64(a.Service), float64(8*ms))
	assert.InDelta(t, float64(850*ms), float64(vc(t, res, "b").Service), float64(8*ms))
	checkAccounting(t, sc, res)
}

func TestUUniFastSumsToUWithEachUtilizationInRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 5000; i++ {
		n := 1 + rng.IntN(20)
		u := 0.5 + 0.5*rng.Float64()
		if i%5 == 0 && n > 1 {
			// UUniFast-Discard territory: above 1, up to n/2 (beyond it
			// almost every draw is discarded, Davis & Burns 2009).
			u = 1 + (float64(n)/2-1)*rng.Float64()
		}
		us, err := UUniFast(rng, n, u)
		require.NoError(t, err, "n=%d u=%v", n, u)
		require.Len(t, us, n)
		var sum float64
		for _, x := range us {
			assert.Greater(t, x, 0.0)
			assert.LessOrEqual(t, x, 1.0)
			sum += x
		}
		assert.InDelta(t, u, sum, 1e-9, "n=%d", n)
	}
}

func TestUUniFastIsUniform(t *testing.T) {
	// Every position has the same marginal distribution, of mean U/n.
	rng := rand.New(rand.NewPCG(2, 2))
	const n, draws = 5, 40000
	var means [n]float64
	for i := 0; i < draws; i++ {
		us, err := UUniFast(rng, n, 0.8)
		require.NoError(t, err)
		for j, u := range us {
			means[j] += u / draws
		}
	}
	for j := range means {
		assert.InEpsilon(t, 0.8/n, means[j], 0.02, "position %d", j)
	}
}

func TestUUniFastRefusesTheImpossible(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	_, err := UUniFast(rng, 0, 0.5)
	assert.ErrorContains(t, err, "0 tasks, need at least 1")
	_, err = UUniFast(rng, 3, 3.5)
	assert.ErrorContains(t, err, "total utilization 3.5 must be in (0, 3] for 3 tasks")
	_, err = UUniFast(rng, 3, 0)
	assert.ErrorContains(t, err, "total utilization 0 must be in (0, 3]")
	_, err = UUniFast(rng, 3, math.NaN())
	assert.ErrorContains(t, err, "total utilization NaN")
}

func TestRandomTaskSetHasTheAskedUtilization(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	spec := TaskSetSpec{Tasks: 8, Utilization: 0.9, PeriodMin: 5 * ms, PeriodMax: 500 * ms, PeriodGranularity: ms, Segment: 100 * us}
	for i := 0; i < 200; i++ {
		set, err := RandomTaskSet(rng, spec)
		require.NoError(t, err)
		require.Len(t, set, 8)
		var u float64
		for _, v := range set {
			p := v.Workload.(Periodic)
			assert.GreaterOrEqual(t, p.Period, 5*ms)
			assert.LessOrEqual(t, p.Period, 500*ms)
			assert.Zero(t, p.Period%ms)
			assert.Equal(t, p.Exec, v.Params.Budget)
			assert.Equal(t, p.Period, v.Params.Period)
			assert.Equal(t, 100*us, p.Segment)
			u += float64(p.Exec) / float64(p.Period)
		}
		assert.InDelta(t, 0.9, u, 1e-6, "exec rounded down to the nanosecond")
		assert.LessOrEqual(t, u, 0.9+1e-12)
	}
	_, err := RandomTaskSet(rng, TaskSetSpec{Tasks: 2, Utilization: 0.5, PeriodMin: ms, PeriodMax: 10 * ms})
	assert.ErrorContains(t, err, "period granularity 0s must be positive")
	_, err = RandomTaskSet(rng, TaskSetSpec{Tasks: 2, Utilization: 0.5, PeriodMin: 10 * ms, PeriodMax: ms, PeriodGranularity: ms})
	assert.ErrorContains(t, err, "periods [10ms, 1ms] must satisfy")
}
