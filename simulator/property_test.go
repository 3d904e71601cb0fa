package simulator

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/scheduler"
)

// The properties issue 3 asks of the policies, checked in the simulator
// against the constructors in scheduler/. Each factory builds the policy
// from the device's declared Costs, as the daemon would.

func weightedFair(quantum time.Duration) PolicyFactory {
	return func(d Device) (scheduler.Policy, error) { return scheduler.NewWeightedFair(quantum, d.Costs) }
}

func equalShare(quantum time.Duration) PolicyFactory {
	return func(d Device) (scheduler.Policy, error) { return scheduler.NewEqualShare(quantum, d.Costs) }
}

func edfCBS() PolicyFactory {
	return func(d Device) (scheduler.Policy, error) {
		return scheduler.NewEDF(scheduler.ReservationConfig{Costs: d.Costs, Label: d.Name}), nil
	}
}

func fixedShare(frame time.Duration) PolicyFactory {
	return func(d Device) (scheduler.Policy, error) {
		return scheduler.NewFixedShare(scheduler.FixedShareConfig{Frame: frame, Costs: d.Costs, Label: d.Name})
	}
}

// TestFairnessWithWeights1234: four saturating vcoprocs weighted 1:2:3:4
// get service in proportion (Jain's index of service per weight ≥ 0.99),
// and the normalised lag between any two, over any interval, stays within
// the bound WeightedFair documents: q'/w_i + q'/w_j with q' = quantum +
// MaxNonPreemptible.
func TestFairnessWithWeights1234(t *testing.T) {
	const quantum, granularity = 2 * ms, 500 * us
	var vcs []VCoproc
	for w := uint32(1); w <= 4; w++ {
		v := saturating(string(rune('a'+w-1)), 7*ms, 0)
		v.Params.Weight = w
		vcs = append(vcs, v)
	}
	sc := Scenario{Horizon: 10 * time.Second, Devices: oneDevice(20*us, granularity), VCoprocs: vcs, RecordTrace: true}
	res := run(t, weightedFair(quantum), sc, 1)
	checkAccounting(t, sc, res)

	assert.GreaterOrEqual(t, res.Devices[0].Fairness, 0.99, "Jain's index of service per weight")
	total := res.Devices[0].Busy.Seconds()
	for _, v := range res.VCoprocs {
		assert.InEpsilon(t, float64(v.Weight)/10, v.Service.Seconds()/total, 0.01, "%s's share of the busy time", v.Name)
	}
	qPrime := quantum + granularity
	for i := range vcs {
		for j := i + 1; j < len(vcs); j++ {
			lag, err := res.MaxLag(vcs[i].Name, vcs[j].Name, 0, sc.Horizon)
			require.NoError(t, err)
			bound := qPrime/time.Duration(vcs[i].Params.Weight) + qPrime/time.Duration(vcs[j].Params.Weight)
			assert.LessOrEqual(t, lag, bound, "lag between %s and %s", vcs[i].Name, vcs[j].Name)
			assert.Positive(t, lag)
		}
	}
	t.Logf("Jain %.6f, switches %d", res.Devices[0].Fairness, res.Devices[0].Switches)
}

// TestCBSIsolatesAnOverrunningDomain: a domain whose jobs demand twice its
// budget gets Q/T ± 1% of the device, and the others, within their own
// reservations, lose nothing: every job meets its deadline.
func TestCBSIsolatesAnOverrunningDomain(t *testing.T) {
	sc := Scenario{
		Horizon: 10 * time.Second,
		Devices: oneDevice(20*us, ms),
		VCoprocs: []VCoproc{
			{
				Name:     "hog",
				Params:   scheduler.Params{Budget: 4 * ms, Period: 10 * ms},
				Workload: Periodic{JobSpec: JobSpec{Exec: 8 * ms, Segment: ms}, Period: 10 * ms},
			},
			{
				Name:     "cluster",
				Params:   scheduler.Params{Budget: 3 * ms, Period: time.Second / 60},
				Workload: Periodic{JobSpec: JobSpec{Exec: 3 * ms, ExecMin: 2 * ms, Segment: 250 * us}, Period: time.Second / 60},
			},
			{
				Name:     "adas",
				Params:   scheduler.Params{Budget: 5 * ms, Period: 40 * ms, Deadline: 30 * ms},
				Workload: Periodic{JobSpec: JobSpec{Exec: 5 * ms, Segment: 500 * us, Deadline: 30 * ms}, Period: 40 * ms, Offset: 3 * ms},
			},
			// Best effort has no place under EDF: it is refused.
		},
		RecordTrace: true,
	}
	res := run(t, edfCBS(), sc, 1)
	checkAccounting(t, sc, res)
	for _, v := range res.VCoprocs {
		require.NoError(t, v.AdmitErr, "%s", v.Name)
	}
	hog := vc(t, res, "hog")
	assert.InEpsilon(t, 0.4, hog.Share, 0.01, "the hog is throttled to Q/T")
	assert.Positive(t, hog.DeadlineMisses, "it demands 2× its budget, so its own jobs are late")
	for _, name := range []string{"cluster", "adas"} {
		v := vc(t, res, name)
		assert.Zero(t, v.DeadlineMisses, "%s misses deadlines because of the hog", name)
		assert.LessOrEqual(t, v.Pending, 1, "%s keeps up", name)
		t.Logf("%s: %d jobs, response p99 %v max %v", name, v.Completed, v.Response.P99, v.Response.Max)
	}
	// Without the hog, the others complete the same jobs (their draws do
	// not depend on who else is there) and their service differs by at
	// most the job in hand at the horizon: the hog took nothing from them.
	alone := sc
	alone.VCoprocs = sc.VCoprocs[1:]
	quiet := run(t, edfCBS(), alone, 1)
	for _, name := range []string{"cluster", "adas"} {
		assert.Equal(t, vc(t, quiet, name).Completed, vc(t, res, name).Completed, "%s", name)
		assert.InDelta(t, float64(vc(t, quiet, name).Service), float64(vc(t, res, name).Service), float64(ms), "%s", name)
	}
}

// TestAdmissionSoundness simulates 10,000 random task sets (UUniFast, total
// utilization 0.5–1.0) under EDF with constant-bandwidth servers on a device
// with a switch cost and non-preemptible segments: no admitted vcoproc ever
// misses a deadline. Each set runs from a synchronous release (the critical
// instant, where a miss shows first) for 100 ms of virtual time, at least
// twice the longest period.
func TestAdmissionSoundness(t *testing.T) {
	const sets = 10000
	dev := oneDevice(10*us, 200*us)
	rng := rand.New(rand.NewPCG(2026, 3))
	var admittedSets, refusedSets, jobs int
	for i := 0; i < sets; i++ {
		spec := TaskSetSpec{
			Tasks:             2 + rng.IntN(7),
			Utilization:       0.5 + 0.5*rng.Float64(),
			PeriodMin:         2 * ms,
			PeriodMax:         50 * ms,
			PeriodGranularity: 100 * us,
			Segment:           200 * us,
		}
		vcs, err := RandomTaskSet(rng, spec)
		require.NoError(t, err)
		res, err := Run(edfCBS(), Scenario{Horizon: 100 * ms, Devices: dev, VCoprocs: vcs}, uint64(i))
		require.NoError(t, err, "set %d", i)
		all := true
		for _, v := range res.VCoprocs {
			if v.AdmitErr != nil {
				all = false
				continue
			}
			jobs += v.Completed
			if v.DeadlineMisses > 0 {
				t.Fatalf("set %d (U=%.4f): admitted %s missed %d deadlines (max lateness %v); set: %+v", i, spec.Utilization, v.Name, v.DeadlineMisses, v.MaxLateness, vcs)
			}
		}
		if all {
			admittedSets++
		} else {
			refusedSets++
		}
	}
	t.Logf("admission soundness: %d/%d sets admitted whole (%.1f%%), %d jobs of admitted vcoprocs simulated, no deadline missed",
		admittedSets, sets, 100*float64(admittedSets)/sets, jobs)
	assert.Positive(t, admittedSets, "a test that admits nothing proves nothing")
	assert.Positive(t, refusedSets, "utilizations near 1 must be refused on a device with switch costs")
}

// TestWorkConservingWhenOneTenantGoesIdle: four saturating tenants, one
// stops half-way; the work-conserving policies keep the device ≥ 95% busy
// in the second half, and the fixed share leaves the idle tenant's window
// unused.
func TestWorkConservingWhenOneTenantGoesIdle(t *testing.T) {
	const horizon = 4 * time.Second
	tenants := func(share float64) []VCoproc {
		var vcs []VCoproc
		for i := 0; i < 4; i++ {
			v := saturating(string(rune('a'+i)), 5*ms, 0)
			v.Params.Share = share
			vcs = append(vcs, v)
		}
		vcs[3].Stop = horizon / 2
		return vcs
	}
	for name, f := range map[string]PolicyFactory{
		"rrobin":      roundRobin(2 * ms),
		"equal-share": equalShare(2 * ms),
		"weighted":    weightedFair(2 * ms),
	} {
		sc := Scenario{Horizon: horizon, Devices: oneDevice(20*us, 500*us), VCoprocs: tenants(0), RecordTrace: true}
		res := run(t, f, sc, 1)
		checkAccounting(t, sc, res)
		busy, err := res.BusyBetween("gpu0", horizon/2+10*ms, horizon) // d's last job is done by then
		require.NoError(t, err)
		assert.GreaterOrEqual(t, busy.Seconds()/(horizon/2-10*ms).Seconds(), 0.95, "%s: busy in the second half", name)
		assert.GreaterOrEqual(t, res.Devices[0].Utilization, 0.95, "%s", name)
		for _, v := range res.VCoprocs[:3] {
			second, err := res.ServiceBetween(v.Name, horizon/2+10*ms, horizon)
			require.NoError(t, err)
			assert.InEpsilon(t, busy.Seconds()/3, second.Seconds(), 0.02, "%s: %s takes a third of the rest", name, v.Name)
		}
	}

	// Fixed share: each holds 20% of a 20 ms frame; d's window stays empty
	// once it stops and its last job (at most 5 ms, at least 4 ms a frame)
	// is done.
	sc := Scenario{Horizon: horizon, Devices: oneDevice(20*us, 500*us), VCoprocs: tenants(0.2), RecordTrace: true}
	res := run(t, fixedShare(20*ms), sc, 1)
	checkAccounting(t, sc, res)
	for _, v := range res.VCoprocs {
		require.NoError(t, v.AdmitErr, "%s", v.Name)
	}
	const settled = 60 * ms
	first, err := res.BusyBetween("gpu0", 0, horizon/2)
	require.NoError(t, err)
	second, err := res.BusyBetween("gpu0", horizon/2+settled, horizon)
	require.NoError(t, err)
	firstU, secondU := first.Seconds()/(horizon/2).Seconds(), second.Seconds()/(horizon/2-settled).Seconds()
	assert.GreaterOrEqual(t, firstU, 0.8, "four windows of at least 20%% each")
	assert.InEpsilon(t, firstU*3/4, secondU, 0.01, "d's window is held idle: the others do not get it")
	dLate, err := res.ServiceBetween("d", horizon/2+settled, horizon)
	require.NoError(t, err)
	assert.Zero(t, dLate)
	for _, v := range res.VCoprocs[:3] {
		before, err := res.ServiceBetween(v.Name, 0, horizon/2)
		require.NoError(t, err)
		after, err := res.ServiceBetween(v.Name, horizon/2+settled, horizon)
		require.NoError(t, err)
		assert.InEpsilon(t, before.Seconds()/(horizon/2).Seconds(), after.Seconds()/(horizon/2-settled).Seconds(), 0.01, "%s keeps its share and no more", v.Name)
	}
	t.Logf("fixed share: utilization %.3f with d, %.3f after d went idle", firstU, secondU)
}
