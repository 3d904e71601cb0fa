package simulator

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/scheduler"
)

const ms = time.Millisecond
const us = time.Microsecond

// TestRunMatchesAHandComputedSchedule checks every span of a small run
// against a schedule worked out by hand: two saturating tenants with 3 ms
// jobs in 1 ms segments, a 2 ms round-robin slice, a 100 µs switch.
func TestRunMatchesAHandComputedSchedule(t *testing.T) {
	sc := Scenario{
		Horizon:     10 * ms,
		Devices:     oneDevice(100*us, 0),
		VCoprocs:    []VCoproc{saturating("a", 3*ms, ms), saturating("b", 3*ms, ms)},
		RecordTrace: true,
	}
	res := run(t, roundRobin(2*ms), sc, 1)
	want := `# coprocd simulator trace v1 policy=rrobin seed=1 span=10000000
gpu0 0 100000 switch a
gpu0 100000 2100000 run a
gpu0 2100000 2200000 switch b
gpu0 2200000 4200000 run b
gpu0 4200000 4300000 switch a
gpu0 4300000 6300000 run a
gpu0 6300000 6400000 switch b
gpu0 6400000 8400000 run b
gpu0 8400000 8500000 switch a
gpu0 8500000 10000000 run a
`
	assert.Equal(t, want, string(traceText(t, res)))
	a, b := vc(t, res, "a"), vc(t, res, "b")
	assert.Equal(t, 5500*us, a.Service)
	assert.Equal(t, 4*ms, b.Service)
	assert.Equal(t, 1, a.Completed)
	assert.Equal(t, []time.Duration{5300 * us}, a.Response.Samples, "a's first job ends at 5.3 ms")
	assert.Equal(t, []time.Duration{7400 * us}, b.Response.Samples, "b's first job ends at 7.4 ms")
	assert.Equal(t, 2, a.Released, "the first job and the one released at 5.3 ms, which has not finished")
	assert.Equal(t, 1, a.Pending)
	d := res.Devices[0]
	assert.Equal(t, 9500*us, d.Busy)
	assert.Equal(t, 500*us, d.Switching)
	assert.Equal(t, time.Duration(0), d.Idle)
	assert.Equal(t, 5, d.Switches)
}

// mixed is a scenario with every workload kind, two devices, a switch cost
// and segments that do not divide the slices, so that accounting has no
// round numbers to hide behind.
func mixed(horizon time.Duration) Scenario {
	return Scenario{
		Horizon: horizon,
		Devices: []Device{
			{Name: "gpu0", Costs: scheduler.Costs{SwitchCost: 37 * us, MaxNonPreemptible: 1300 * us}},
			{Name: "dsp0", Costs: scheduler.Costs{SwitchCost: 11 * us}},
		},
		VCoprocs: []VCoproc{
			{Name: "periodic", Device: "gpu0", Workload: Periodic{JobSpec: JobSpec{Exec: 2900 * us, ExecMin: 700 * us, Segment: 450 * us}, Period: 16666667, ReleaseJitter: 300 * us}},
			{Name: "flood", Device: "gpu0", Workload: Saturating{JobSpec{Exec: 7 * ms, Segment: 2 * ms}}},
			{Name: "poisson", Device: "gpu0", Workload: Poisson{JobSpec: JobSpec{Exec: 800 * us, ExecMin: 100 * us, Deadline: 20 * ms}, Rate: 150}},
			{Name: "bursty", Device: "dsp0", Workload: OnOff{JobSpec: JobSpec{Exec: 300 * us, Segment: 70 * us, Deadline: 5 * ms}, Rate: 2000, OnMean: 20 * ms, OffMean: 80 * ms}},
			{Name: "late", Device: "dsp0", Start: 333 * ms, Stop: 777 * ms, Workload: Saturating{JobSpec{Exec: 1234 * us}}},
			{Name: "sparse", Device: "dsp0", Workload: Periodic{JobSpec: JobSpec{Exec: 3 * ms, Deadline: 4 * ms}, Period: 97 * ms, Offset: 5 * ms}},
		},
		RecordTrace: true,
	}
}

func TestTimeAccountingIsExact(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		for _, slice := range []time.Duration{300 * us, 2 * ms, 50 * ms} {
			sc := mixed(1234567 * us)
			res := run(t, roundRobin(slice), sc, seed)
			checkAccounting(t, sc, res)
			assert.Positive(t, res.Devices[0].Idle+res.Devices[1].Idle, "the scenario has idle time to account")
			assert.Positive(t, res.Devices[0].Switching, "and switching time")
		}
	}
	sc := mixed(time.Second)
	sc.Devices[1].NoWakePreemption = true
	checkAccounting(t, sc, run(t, roundRobin(ms), sc, 9))
}

func TestChargeIncludesTheOverrunToTheNextPreemptionPoint(t *testing.T) {
	f, rec := recording(roundRobin(1500 * us))
	sc := Scenario{
		Horizon:  20 * ms,
		Devices:  oneDevice(0, 0),
		VCoprocs: []VCoproc{saturating("a", 5*ms, ms), saturating("b", 5*ms, ms)},
	}
	run(t, f, sc, 1)
	var charges int
	for _, c := range (*rec).calls {
		if c.op == "charge" {
			charges++
			assert.Equal(t, 2*ms, c.ran, "a 1.5 ms slice ends at the 1 ms segment boundary after it: %+v", c)
		}
	}
	assert.Equal(t, 9, charges, "20 ms in 2 ms runs, the last cut by the horizon")
}

func TestWakeAndBlockFollowTheWork(t *testing.T) {
	f, rec := recording(roundRobin(100 * ms))
	sc := Scenario{
		Horizon:  25 * ms,
		Devices:  oneDevice(0, 0),
		VCoprocs: []VCoproc{{Name: "p", Workload: Periodic{JobSpec: JobSpec{Exec: 3 * ms}, Period: 10 * ms}}},
	}
	res := run(t, f, sc, 1)
	want := []call{
		{op: "wake", id: 1, now: 0},
		{op: "pick", id: 1, ran: 100 * ms, now: 0},
		{op: "charge", id: 1, ran: 3 * ms, now: 3 * ms},
		{op: "block", id: 1, now: 3 * ms},
		{op: "idle", now: 3 * ms},
		{op: "wake", id: 1, now: 10 * ms},
		{op: "pick", id: 1, ran: 100 * ms, now: 10 * ms},
		{op: "charge", id: 1, ran: 3 * ms, now: 13 * ms},
		{op: "block", id: 1, now: 13 * ms},
		{op: "idle", now: 13 * ms},
		{op: "wake", id: 1, now: 20 * ms},
		{op: "pick", id: 1, ran: 100 * ms, now: 20 * ms},
		{op: "charge", id: 1, ran: 3 * ms, now: 23 * ms},
		{op: "block", id: 1, now: 23 * ms},
		{op: "idle", now: 23 * ms},
	}
	assert.Equal(t, want, (*rec).calls)
	p := vc(t, res, "p")
	assert.Equal(t, 3, p.Completed)
	assert.Equal(t, time.Duration(3*ms), p.Response.Max)
	assert.Zero(t, p.DeadlineMisses)
}

// preemptionScenario: a floods the device in 1 ms segments; b, preferred by
// highestFirst, wakes at 2.5 ms.
func preemptionScenario() Scenario {
	return Scenario{
		Horizon: 10 * ms,
		Devices: oneDevice(100*us, 0),
		VCoprocs: []VCoproc{
			saturating("a", 10*ms, ms),
			{Name: "b", Start: 2500 * us, Workload: Periodic{JobSpec: JobSpec{Exec: 500 * us}, Period: time.Second}},
		},
		RecordTrace: true,
	}
}

func TestWakePreemptsAtTheNextPreemptionPoint(t *testing.T) {
	sc := preemptionScenario()
	res := run(t, newHighestFirst(5*ms), sc, 1)
	want := `# coprocd simulator trace v1 policy=highest-first seed=1 span=10000000
gpu0 0 100000 switch a
gpu0 100000 3100000 run a
gpu0 3100000 3200000 switch b
gpu0 3200000 3700000 run b
gpu0 3700000 3800000 switch a
gpu0 3800000 10000000 run a
`
	assert.Equal(t, want, string(traceText(t, res)), "b wakes at 2.5 ms; a's segment boundary is at 3 ms of its work, 3.1 ms")
	assert.Equal(t, []time.Duration{1200 * us}, vc(t, res, "b").Response.Samples)
	checkAccounting(t, sc, res)
}

func TestNoWakePreemptionWaitsForTheSliceEnd(t *testing.T) {
	sc := preemptionScenario()
	sc.Devices[0].NoWakePreemption = true
	res := run(t, newHighestFirst(5*ms), sc, 1)
	want := `# coprocd simulator trace v1 policy=highest-first seed=1 span=10000000
gpu0 0 100000 switch a
gpu0 100000 5100000 run a
gpu0 5100000 5200000 switch b
gpu0 5200000 5700000 run b
gpu0 5700000 5800000 switch a
gpu0 5800000 10000000 run a
`
	assert.Equal(t, want, string(traceText(t, res)))
}

func TestWakeDuringASwitchIsDecidedWhenTheSwitchEnds(t *testing.T) {
	sc := preemptionScenario()
	sc.VCoprocs[1].Start = 50 * us
	res := run(t, newHighestFirst(5*ms), sc, 1)
	want := `# coprocd simulator trace v1 policy=highest-first seed=1 span=10000000
gpu0 0 100000 switch a
gpu0 100000 200000 switch b
gpu0 200000 700000 run b
gpu0 700000 800000 switch a
gpu0 800000 10000000 run a
`
	assert.Equal(t, want, string(traceText(t, res)), "the switch to a completes (it cannot be undone), then b is picked")
	assert.Equal(t, 3, res.Devices[0].Switches)
}

func TestIdleUntilIsHonoured(t *testing.T) {
	sc := Scenario{
		Horizon:     100 * ms,
		Devices:     oneDevice(0, 0),
		VCoprocs:    []VCoproc{saturating("a", ms, 0)},
		RecordTrace: true,
	}
	res := run(t, newGate(3*ms, 10*ms), sc, 1)
	d := res.Devices[0]
	assert.Equal(t, 30*ms, d.Busy, "3 ms open in every 10 ms")
	assert.Equal(t, 70*ms, d.Idle, "the device idles even though a has work")
	require.Len(t, res.Trace, 20)
	for i, sp := range res.Trace {
		start := time.Duration(i/2) * 10 * ms
		if i%2 == 0 {
			assert.Equal(t, Span{Start: start, End: start + 3*ms, Kind: SpanRun}, sp)
		} else {
			assert.Equal(t, Span{Start: start + 3*ms, End: start + 10*ms, VCoproc: -1, Kind: SpanIdle}, sp)
		}
	}
	checkAccounting(t, sc, res)
}

func TestDecisionsTheSimulatorCannotCarryOutAreErrors(t *testing.T) {
	sc := Scenario{
		Horizon: 10 * ms,
		Devices: oneDevice(0, 0),
		VCoprocs: []VCoproc{
			saturating("a", ms, 0),
			{Name: "b", Start: time.Second, Workload: Saturating{JobSpec{Exec: ms}}},
		},
	}
	for _, tc := range []struct {
		dec  scheduler.Decision
		want string
	}{
		{scheduler.Decision{ID: 2, Slice: ms}, `device "gpu0" at 0s: policy scripted picked vcoproc "b", which has no work (it was blocked)`},
		{scheduler.Decision{ID: 7, Slice: ms}, `device "gpu0" at 0s: policy scripted picked vcoproc 7, which is not admitted on this device`},
		{scheduler.Decision{ID: 0, Slice: ms}, `picked vcoproc 0, which is not admitted`},
		{scheduler.Decision{ID: 1, Slice: 0}, `policy scripted gave vcoproc "a" a slice of 0s; a slice must be positive`},
		{scheduler.Decision{ID: 1, Slice: -ms}, `a slice of -1ms`},
		{scheduler.Decision{Idle: true, Until: -5}, `policy scripted went idle until -5ns, which is not in the future`},
	} {
		_, err := Run(func(Device) (scheduler.Policy, error) { return &scripted{dec: tc.dec}, nil }, sc, 1)
		assert.ErrorContains(t, err, tc.want, "%+v", tc.dec)
	}
}

// refusing wraps a policy and refuses one vcoproc, as admission control
// would.
type refusing struct {
	scheduler.Policy
	refuse scheduler.ID
}

func (r refusing) Admit(id scheduler.ID, p scheduler.Params, now time.Duration) error {
	if id == r.refuse {
		return fmt.Errorf("utilization 1.07 > 0.96 available")
	}
	return r.Policy.Admit(id, p, now)
}

func TestARefusedVCoprocDoesNotRun(t *testing.T) {
	sc := Scenario{
		Horizon:  100 * ms,
		Devices:  oneDevice(10*us, 0),
		VCoprocs: []VCoproc{saturating("a", ms, 0), saturating("b", ms, 0), saturating("c", ms, 0)},
	}
	res := run(t, func(d Device) (scheduler.Policy, error) {
		p, err := scheduler.NewRoundRobin(ms, d.Costs)
		return refusing{Policy: p, refuse: 2}, err
	}, sc, 1)
	b := vc(t, res, "b")
	assert.EqualError(t, b.AdmitErr, "utilization 1.07 > 0.96 available")
	assert.Zero(t, b.Service)
	assert.Greater(t, vc(t, res, "a").Service, 45*ms)
	assert.Greater(t, vc(t, res, "c").Service, 45*ms)
	assert.Greater(t, res.Devices[0].Fairness, 0.999, "fairness is over the admitted vcoprocs")
	checkAccounting(t, sc, res)
}

func TestBadScenariosAreRefusedWithTheValues(t *testing.T) {
	good := func() Scenario {
		return Scenario{Horizon: time.Second, Devices: oneDevice(0, 0), VCoprocs: []VCoproc{saturating("a", ms, 0)}}
	}
	for _, tc := range []struct {
		edit func(*Scenario)
		want string
	}{
		{func(s *Scenario) { s.Horizon = 0 }, "horizon 0s must be positive"},
		{func(s *Scenario) { s.Devices = nil }, "scenario has no device"},
		{func(s *Scenario) { s.Devices[0].Name = "gpu 0" }, `name "gpu 0" contains a space`},
		{func(s *Scenario) { s.Devices = append(s.Devices, s.Devices[0]) }, `device "gpu0" declared twice`},
		{func(s *Scenario) { s.Devices[0].Costs.SwitchCost = -1 }, `device "gpu0": switch cost -1ns is negative`},
		{func(s *Scenario) { s.Devices[0].Costs.MaxNonPreemptible = -1 }, `max non-preemptible -1ns is negative`},
		{func(s *Scenario) { s.VCoprocs = append(s.VCoprocs, s.VCoprocs[0]) }, `vcoproc "a" declared twice`},
		{func(s *Scenario) { s.VCoprocs[0].Name = "" }, "vcoproc 0: name is empty"},
		{func(s *Scenario) { s.VCoprocs[0].Device = "npu" }, `vcoproc "a": device "npu" is not in the scenario`},
		{func(s *Scenario) { s.Devices = append(s.Devices, Device{Name: "gpu1"}) }, `vcoproc "a" names no device and the scenario has 2`},
		{func(s *Scenario) { s.VCoprocs[0].Start = -ms }, "start -1ms is negative"},
		{func(s *Scenario) { s.VCoprocs[0].Start, s.VCoprocs[0].Stop = 2*ms, ms }, "stop 1ms is before start 2ms"},
		{func(s *Scenario) { s.VCoprocs[0].Workload = nil }, `vcoproc "a" has no workload`},
		{func(s *Scenario) { s.VCoprocs[0].Workload = Saturating{} }, "saturating: execution time 0s must be positive"},
		{func(s *Scenario) { s.VCoprocs[0].Workload = Saturating{JobSpec{Exec: ms, ExecMin: 2 * ms}} }, "minimum execution time 2ms must be in [0, 1ms]"},
		{func(s *Scenario) { s.VCoprocs[0].Workload = Saturating{JobSpec{Exec: ms, Segment: -1}} }, "segment -1ns is negative"},
		{func(s *Scenario) { s.VCoprocs[0].Workload = Poisson{JobSpec: JobSpec{Exec: ms, Deadline: -1}, Rate: 1} }, "deadline -1ns is negative"},
		{func(s *Scenario) { s.VCoprocs[0].Workload = Periodic{JobSpec: JobSpec{Exec: ms}} }, "periodic: period 0s must be positive"},
		{func(s *Scenario) {
			s.VCoprocs[0].Workload = Periodic{JobSpec: JobSpec{Exec: ms}, Period: ms, ReleaseJitter: ms}
		}, "release jitter 1ms must be in [0, period 1ms)"},
		{func(s *Scenario) {
			s.VCoprocs[0].Workload = Periodic{JobSpec: JobSpec{Exec: ms}, Period: ms, Offset: -1}
		}, "offset -1ns is negative"},
		{func(s *Scenario) { s.VCoprocs[0].Workload = Poisson{JobSpec: JobSpec{Exec: ms}, Rate: math.NaN()} }, "poisson: rate NaN must be in (0, 1e9]"},
		{func(s *Scenario) {
			s.VCoprocs[0].Workload = OnOff{JobSpec: JobSpec{Exec: ms}, Rate: 5, OnMean: ms}
		}, "on/off: mean on 1ms and mean off 0s must be positive"},
	} {
		sc := good()
		tc.edit(&sc)
		_, err := Run(roundRobin(ms), sc, 1)
		assert.ErrorContains(t, err, tc.want)
	}
	_, err := Run(nil, good(), 1)
	assert.ErrorContains(t, err, "no policy factory")
	_, err = Run(func(Device) (scheduler.Policy, error) { return nil, fmt.Errorf("no such policy \"edf\"") }, good(), 1)
	assert.ErrorContains(t, err, `device "gpu0": building the policy: no such policy "edf"`)
}
