package simulator

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/scheduler"
)

// roundRobin is a PolicyFactory for scheduler.RoundRobin with the given
// slice and the device's costs.
func roundRobin(slice time.Duration) PolicyFactory {
	return func(d Device) (scheduler.Policy, error) { return scheduler.NewRoundRobin(slice, d.Costs) }
}

func saturating(name string, exec, seg time.Duration) VCoproc {
	return VCoproc{Name: name, Workload: Saturating{JobSpec{Exec: exec, Segment: seg}}}
}

func oneDevice(switchCost, granularity time.Duration) []Device {
	return []Device{{Name: "gpu0", Costs: scheduler.Costs{SwitchCost: switchCost, MaxNonPreemptible: granularity}}}
}

func run(t testing.TB, f PolicyFactory, sc Scenario, seed uint64) *Result {
	t.Helper()
	res, err := Run(f, sc, seed)
	require.NoError(t, err)
	return res
}

func traceText(t testing.TB, r *Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, r.WriteTrace(&buf))
	return buf.Bytes()
}

func vc(t testing.TB, r *Result, name string) VCoprocResult {
	t.Helper()
	i, err := r.vcoprocIndex(name)
	require.NoError(t, err)
	return r.VCoprocs[i]
}

// call is one Policy method call, as recorder saw it.
type call struct {
	op       string
	id       scheduler.ID
	ran, now time.Duration
}

// recorder wraps a policy and logs the calls the simulator makes.
type recorder struct {
	scheduler.Policy
	calls []call
}

func (r *recorder) Wake(id scheduler.ID, now time.Duration) {
	r.calls = append(r.calls, call{op: "wake", id: id, now: now})
	r.Policy.Wake(id, now)
}

func (r *recorder) Block(id scheduler.ID, now time.Duration) {
	r.calls = append(r.calls, call{op: "block", id: id, now: now})
	r.Policy.Block(id, now)
}

func (r *recorder) Charge(id scheduler.ID, ran, now time.Duration) {
	r.calls = append(r.calls, call{op: "charge", id: id, ran: ran, now: now})
	r.Policy.Charge(id, ran, now)
}

func (r *recorder) Pick(now time.Duration) scheduler.Decision {
	d := r.Policy.Pick(now)
	c := call{op: "pick", id: d.ID, ran: d.Slice, now: now}
	if d.Idle {
		c.op = "idle"
	}
	r.calls = append(r.calls, c)
	return d
}

// recording returns a factory wrapping f's policy in a recorder, and the
// recorder of the (single) device once Run has built it.
func recording(f PolicyFactory) (PolicyFactory, **recorder) {
	var rec *recorder
	return func(d Device) (scheduler.Policy, error) {
		p, err := f(d)
		if err != nil {
			return nil, err
		}
		rec = &recorder{Policy: p}
		return rec, nil
	}, &rec
}

// highestFirst is a test policy: the runnable vcoproc with the largest ID
// runs, for the given slice. It is preemptive in the only way a policy can
// be: by answering differently when asked again.
type highestFirst struct {
	slice    time.Duration
	runnable map[scheduler.ID]bool
}

func newHighestFirst(slice time.Duration) PolicyFactory {
	return func(Device) (scheduler.Policy, error) {
		return &highestFirst{slice: slice, runnable: map[scheduler.ID]bool{}}, nil
	}
}

func (h *highestFirst) Name() string                                              { return "highest-first" }
func (h *highestFirst) Admit(scheduler.ID, scheduler.Params, time.Duration) error { return nil }
func (h *highestFirst) Update(scheduler.ID, scheduler.Params, time.Duration) error {
	return nil
}
func (h *highestFirst) Remove(id scheduler.ID, _ time.Duration)           { delete(h.runnable, id) }
func (h *highestFirst) Wake(id scheduler.ID, _ time.Duration)             { h.runnable[id] = true }
func (h *highestFirst) Block(id scheduler.ID, _ time.Duration)            { delete(h.runnable, id) }
func (h *highestFirst) Charge(scheduler.ID, time.Duration, time.Duration) {}
func (h *highestFirst) Pick(time.Duration) scheduler.Decision {
	var best scheduler.ID
	for id := range h.runnable {
		best = max(best, id)
	}
	if best == 0 {
		return scheduler.Decision{Idle: true}
	}
	return scheduler.Decision{ID: best, Slice: h.slice}
}

// gate is a non-work-conserving test policy for one vcoproc: it may run
// only in the first open of every period and idles until the next window
// otherwise.
type gate struct {
	open, period time.Duration
	runnable     bool
}

func newGate(open, period time.Duration) PolicyFactory {
	return func(Device) (scheduler.Policy, error) { return &gate{open: open, period: period}, nil }
}

func (g *gate) Name() string                                               { return "gate" }
func (g *gate) Admit(scheduler.ID, scheduler.Params, time.Duration) error  { return nil }
func (g *gate) Update(scheduler.ID, scheduler.Params, time.Duration) error { return nil }
func (g *gate) Remove(scheduler.ID, time.Duration)                         {}
func (g *gate) Wake(scheduler.ID, time.Duration)                           { g.runnable = true }
func (g *gate) Block(scheduler.ID, time.Duration)                          { g.runnable = false }
func (g *gate) Charge(scheduler.ID, time.Duration, time.Duration)          {}
func (g *gate) Pick(now time.Duration) scheduler.Decision {
	if !g.runnable {
		return scheduler.Decision{Idle: true}
	}
	phase := now % g.period
	if phase < g.open {
		return scheduler.Decision{ID: 1, Slice: g.open - phase}
	}
	return scheduler.Decision{Idle: true, Until: now - phase + g.period}
}

// scripted is a test policy that answers every Pick with the same
// decision, right or wrong.
type scripted struct {
	dec scheduler.Decision
}

func (s *scripted) Name() string                                               { return "scripted" }
func (s *scripted) Admit(scheduler.ID, scheduler.Params, time.Duration) error  { return nil }
func (s *scripted) Update(scheduler.ID, scheduler.Params, time.Duration) error { return nil }
func (s *scripted) Remove(scheduler.ID, time.Duration)                         {}
func (s *scripted) Wake(scheduler.ID, time.Duration)                           {}
func (s *scripted) Block(scheduler.ID, time.Duration)                          {}
func (s *scripted) Charge(scheduler.ID, time.Duration, time.Duration)          {}
func (s *scripted) Pick(time.Duration) scheduler.Decision                      { return s.dec }

// checkAccounting asserts the invariants every run must keep: each device's
// busy, switching and idle time add up to the span exactly; the service of
// its vcoprocs adds up to its busy time; the trace, when kept, tiles
// [0, span) per device and agrees with the counters; jobs are conserved.
func checkAccounting(t testing.TB, sc Scenario, res *Result) {
	t.Helper()
	require.Len(t, res.Devices, len(sc.Devices))
	require.Len(t, res.VCoprocs, len(sc.VCoprocs))
	service := make([]time.Duration, len(res.Devices))
	for i, v := range res.VCoprocs {
		di := slices.IndexFunc(res.Devices, func(d DeviceResult) bool { return d.Name == v.Device })
		require.GreaterOrEqual(t, di, 0, "vcoproc %q on unknown device %q", v.Name, v.Device)
		service[di] += v.Service
		assert.Equal(t, v.Released, v.Completed+v.Pending, "vcoproc %q: released = completed + pending", v.Name)
		assert.Equal(t, v.Completed, v.Response.Count, "vcoproc %q: one response per completed job", v.Name)
		if v.AdmitErr != nil {
			assert.Zero(t, v.Released, "refused vcoproc %q released jobs", v.Name)
			assert.Zero(t, v.Service, "refused vcoproc %q ran", v.Name)
		}
		assert.LessOrEqual(t, v.Response.Min, v.Response.Max, "vcoproc %d", i)
	}
	for i, d := range res.Devices {
		assert.Equal(t, res.Span, d.Busy+d.Switching+d.Idle, "device %q: busy %v + switching %v + idle %v != span %v", d.Name, d.Busy, d.Switching, d.Idle, res.Span)
		assert.Equal(t, d.Busy, service[i], "device %q: busy %v != sum of its vcoprocs' service %v", d.Name, d.Busy, service[i])
		assert.LessOrEqual(t, d.Switching, time.Duration(d.Switches)*sc.Devices[i].Costs.SwitchCost, "device %q", d.Name)
	}
	if !sc.RecordTrace {
		return
	}
	end := make([]time.Duration, len(res.Devices))
	byKind := make([][3]time.Duration, len(res.Devices))
	perVC := make([]time.Duration, len(res.VCoprocs))
	last := make([]*Span, len(res.Devices))
	for i := range res.Trace {
		sp := &res.Trace[i]
		require.Equal(t, end[sp.Device], sp.Start, "device %d: span %d starts at %v, the previous ended at %v", sp.Device, i, sp.Start, end[sp.Device])
		require.Less(t, sp.Start, sp.End, "span %d is empty", i)
		if p := last[sp.Device]; p != nil {
			assert.False(t, p.Kind == sp.Kind && p.VCoproc == sp.VCoproc, "spans %v and %v should have been merged", *p, *sp)
		}
		last[sp.Device] = sp
		end[sp.Device] = sp.End
		byKind[sp.Device][sp.Kind] += sp.End - sp.Start
		if sp.Kind == SpanRun {
			perVC[sp.VCoproc] += sp.End - sp.Start
		}
	}
	for i, d := range res.Devices {
		assert.Equal(t, res.Span, end[i], "device %q: trace ends at %v, not the span", d.Name, end[i])
		assert.Equal(t, d.Idle, byKind[i][SpanIdle], "device %q idle", d.Name)
		assert.Equal(t, d.Switching, byKind[i][SpanSwitch], "device %q switching", d.Name)
		assert.Equal(t, d.Busy, byKind[i][SpanRun], "device %q busy", d.Name)
	}
	for i, v := range res.VCoprocs {
		assert.Equal(t, v.Service, perVC[i], "vcoproc %q: service vs its run spans", v.Name)
	}
}
