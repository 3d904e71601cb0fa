package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

// TestEDFIsolation is the isolation test: a vcoproc demanding twice
// its budget receives Q/T ± 1%, and the others, each demanding exactly its
// budget, lose at most one quantum (here: the non-preemptible overrun) in
// any period and miss no deadline.
func TestEDFIsolation(t *testing.T) {
	costs := Costs{MaxNonPreemptible: 100 * time.Microsecond}
	e := NewEDF(ReservationConfig{Costs: costs})
	admitAll(t, e, map[ID]Params{
		1: {Budget: 2 * ms, Period: 10 * ms},
		2: {Budget: 3 * ms, Period: 10 * ms},
		3: {Budget: 8 * ms, Period: 20 * ms},
	})
	hog := &load{id: 1, period: 10 * ms, work: 4 * ms} // twice its budget
	b := &load{id: 2, period: 10 * ms, work: 3 * ms}
	c := &load{id: 3, period: 20 * ms, work: 8 * ms}
	horizon := 10 * time.Second
	simulate(t, e, []*load{hog, b, c}, horizon, costs.MaxNonPreemptible)

	share := float64(hog.service) / float64(horizon)
	assert.InDelta(t, 0.2, share, 0.2*0.01, "the hog gets Q/T ± 1%%")
	for _, l := range []*load{b, c} {
		assert.Zero(t, l.misses, "vcoproc %d missed deadlines (worst lateness %v)", l.id, l.worstLateness)
		for i, got := range l.servicePerPeriod[:len(l.servicePerPeriod)-1] {
			require.GreaterOrEqual(t, got, l.work-costs.MaxNonPreemptible, "vcoproc %d period %d", l.id, i)
		}
	}
}

// TestEDFHogAloneIsThrottled: hard reservations are not work-conserving; a
// lone hog still gets only Q/T.
func TestEDFHogAloneIsThrottled(t *testing.T) {
	e := NewEDF(ReservationConfig{})
	require.NoError(t, e.Admit(1, Params{Budget: 3 * ms, Period: 10 * ms}, 0))
	hog := &load{id: 1, saturating: true}
	busy := simulate(t, e, []*load{hog}, time.Second, 0)
	assert.Equal(t, 300*ms, busy)
	d := e.Pick(time.Second)
	require.Equal(t, Decision{ID: 1, Slice: 3 * ms}, d, "a new period began at the horizon")
	e.Charge(1, 3*ms, time.Second+3*ms)
	d = e.Pick(time.Second + 3*ms)
	assert.True(t, d.Idle)
	assert.Equal(t, time.Second+10*ms, d.Until, "idle until the replenishment")
}

func TestEDFAdmissionBoundary(t *testing.T) {
	// Two servers of deadline 10 ms; switch cost 100 µs (two per period:
	// 0.02 each), blocking 500 µs (0.05): 0.91 is available.
	cfg := ReservationConfig{Costs: Costs{SwitchCost: 100 * time.Microsecond, MaxNonPreemptible: 500 * time.Microsecond}, Label: "gpu0"}
	e := NewEDF(cfg)
	require.NoError(t, e.Admit(1, Params{Budget: 5 * ms, Period: 10 * ms}, 0))
	require.NoError(t, e.Admit(2, Params{Budget: 4100 * time.Microsecond, Period: 10 * ms}, 0), "exactly at the bound")
	assert.InDelta(t, 0.91, e.Utilization(), 1e-12)

	e = NewEDF(cfg)
	require.NoError(t, e.Admit(1, Params{Budget: 5 * ms, Period: 10 * ms}, 0))
	err := e.Admit(2, Params{Budget: 4200 * time.Microsecond, Period: 10 * ms}, 0)
	var adm *AdmissionError
	require.ErrorAs(t, err, &adm)
	assert.InDelta(t, 0.92, adm.Demand, 1e-9)
	assert.InDelta(t, 0.91, adm.Available, 1e-9)
	assert.EqualError(t, err, "scheduler: edf: vcoproc 2 refused: utilization 0.92 > 0.91 available after switch overhead (0.04) and blocking (0.05) on gpu0")
	assert.Len(t, e.Entities(), 1, "a refused vcoproc is not admitted")

	// Without costs the bound is 1.0, and 1.0 itself is admitted.
	e = NewEDF(ReservationConfig{})
	require.NoError(t, e.Admit(1, Params{Budget: 5 * ms, Period: 10 * ms}, 0))
	require.NoError(t, e.Admit(2, Params{Budget: 10 * ms, Period: 20 * ms}, 0))
	require.Error(t, e.Admit(3, Params{Budget: time.Nanosecond, Period: 20 * ms}, 0))

	// Blocking uses the shortest deadline: a tight constrained deadline
	// costs more than its own density.
	e = NewEDF(ReservationConfig{Costs: Costs{MaxNonPreemptible: ms}})
	require.NoError(t, e.Admit(1, Params{Budget: 5 * ms, Period: 10 * ms}, 0))  // 0.5 + 0.1
	err = e.Admit(2, Params{Budget: ms, Period: 100 * ms, Deadline: 2 * ms}, 0) // 0.5+0.5 + 0.5
	require.ErrorAs(t, err, &adm)
	assert.ErrorContains(t, err, "utilization 1 > 0.5 available after switch overhead (0) and blocking (0.5)")

	// Update follows the same rules and leaves the old reservation on refusal.
	require.Error(t, e.Update(1, Params{Budget: 10 * ms, Period: 10 * ms}, 0))
	require.NoError(t, e.Update(1, Params{Budget: 9 * ms, Period: 10 * ms}, 0))
	assert.InDelta(t, 0.9, e.Utilization(), 1e-12)
	e.Remove(1, 0)
	assert.Zero(t, e.Utilization())
}

func TestEDFRejectsBadReservations(t *testing.T) {
	e := NewEDF(ReservationConfig{})
	for _, c := range []struct {
		p    Params
		want string
	}{
		{Params{}, "budget 0s must be positive for a reservation"},
		{Params{Budget: ms}, "period 0s must be positive"},
		{Params{Budget: 2 * ms, Period: ms}, "budget 2ms > deadline 1ms"},
		{Params{Budget: ms, Period: 10 * ms, Deadline: 20 * ms}, "deadline 20ms > period 10ms"},
		{Params{Budget: 5 * ms, Period: 10 * ms, Deadline: 4 * ms}, "budget 5ms > deadline 4ms"},
	} {
		err := e.Admit(7, c.p, 0)
		var pe *ParamError
		require.ErrorAs(t, err, &pe, "%+v", c.p)
		assert.ErrorContains(t, err, "vcoproc 7: "+c.want)
	}
	require.NoError(t, e.Admit(7, Params{Budget: ms, Period: 10 * ms}, 0))
	var dup *DuplicateError
	require.ErrorAs(t, e.Admit(7, Params{Budget: ms, Period: 10 * ms}, 0), &dup)
	var unknown *UnknownError
	require.ErrorAs(t, e.Update(8, Params{}, 0), &unknown)
}

// TestEDFCBSWakeRule: a server that blocks with budget left and wakes soon
// keeps its deadline (it cannot gain bandwidth by waking); one that wakes
// late starts a fresh period.
func TestEDFCBSWakeRule(t *testing.T) {
	e := NewEDF(ReservationConfig{})
	require.NoError(t, e.Admit(1, Params{Budget: 4 * ms, Period: 10 * ms}, 0))
	e.Wake(1, 0)
	d := e.Pick(0)
	assert.Equal(t, Decision{ID: 1, Slice: 4 * ms}, d)
	e.Charge(1, ms, ms)
	e.Block(1, ms)
	// At 2 ms: c = 3 ms, (d − t)·Q/T = 8·0.4 = 3.2 ms > c: keep.
	e.Wake(1, 2*ms)
	assert.Equal(t, Decision{ID: 1, Slice: 3 * ms}, e.Pick(2*ms))
	assert.Equal(t, 10*ms, e.known[1].deadline)
	e.Block(1, 2*ms)
	// At 5 ms: (10 − 5)·0.4 = 2 ms ≤ 3 ms: fresh budget and deadline.
	e.Wake(1, 5*ms)
	assert.Equal(t, Decision{ID: 1, Slice: 4 * ms}, e.Pick(5*ms))
	assert.Equal(t, 15*ms, e.known[1].deadline)
}

// TestEDFOverrunIsPaidBack: an overrun beyond the budget comes out of the
// next period's budget.
func TestEDFOverrunIsPaidBack(t *testing.T) {
	e := NewEDF(ReservationConfig{})
	require.NoError(t, e.Admit(1, Params{Budget: 2 * ms, Period: 10 * ms}, 0))
	e.Wake(1, 0)
	e.Charge(1, 3*ms, 3*ms) // 1 ms over
	assert.True(t, e.Pick(3*ms).Idle)
	assert.Equal(t, Decision{ID: 1, Slice: ms}, e.Pick(10*ms))
}
