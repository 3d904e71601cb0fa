package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The textbook set (Q, T): (1, 4), (2, 6), (3, T3). With the deferrable
// server's jitter T − Q, R3 converges to 13 ms: admitted with T3 = 13 ms
// (exactly at the bound), refused with T3 = 12 ms.
func TestFixedPriorityResponseTimeAnalysis(t *testing.T) {
	f := NewFixedPriority(ReservationConfig{Label: "gpu0"})
	require.NoError(t, f.Admit(1, Params{Priority: 3, Budget: 1 * ms, Period: 4 * ms}, 0))
	require.NoError(t, f.Admit(2, Params{Priority: 2, Budget: 2 * ms, Period: 6 * ms}, 0))
	require.NoError(t, f.Admit(3, Params{Priority: 1, Budget: 3 * ms, Period: 13 * ms}, 0))
	assert.Equal(t, map[ID]time.Duration{1: 1 * ms, 2: 4 * ms, 3: 13 * ms}, f.ResponseTimes())

	f = NewFixedPriority(ReservationConfig{Label: "gpu0"})
	require.NoError(t, f.Admit(1, Params{Priority: 3, Budget: 1 * ms, Period: 4 * ms}, 0))
	require.NoError(t, f.Admit(2, Params{Priority: 2, Budget: 2 * ms, Period: 6 * ms}, 0))
	err := f.Admit(3, Params{Priority: 1, Budget: 3 * ms, Period: 12 * ms}, 0)
	var adm *AdmissionError
	require.ErrorAs(t, err, &adm)
	assert.EqualError(t, err, "scheduler: fixed-priority: vcoproc 3 refused: response time of vcoproc 3 (priority 1) 13ms > deadline 12ms (blocking 0s, switch cost 0s) on gpu0")
	assert.InDelta(t, 0.013, adm.Demand, 1e-12)

	// Blocking and switch costs enter the analysis: the 13 ms set fails
	// once a 1 µs non-preemptible segment is declared.
	f = NewFixedPriority(ReservationConfig{Costs: Costs{MaxNonPreemptible: time.Microsecond}})
	require.NoError(t, f.Admit(1, Params{Priority: 3, Budget: 1 * ms, Period: 4 * ms}, 0))
	require.NoError(t, f.Admit(2, Params{Priority: 2, Budget: 2 * ms, Period: 6 * ms}, 0))
	assert.ErrorContains(t, f.Admit(3, Params{Priority: 1, Budget: 3 * ms, Period: 13 * ms}, 0), "> deadline 13ms (blocking 1µs")

	// A new high-priority server that would break an admitted one is
	// refused in the admitted one's name.
	f = NewFixedPriority(ReservationConfig{})
	require.NoError(t, f.Admit(1, Params{Priority: 1, Budget: 5 * ms, Period: 10 * ms}, 0))
	assert.ErrorContains(t, f.Admit(2, Params{Priority: 2, Budget: 6 * ms, Period: 10 * ms}, 0), "response time of vcoproc 1 (priority 1)")
}

func TestFixedPriorityUnbudgetedMustRankLow(t *testing.T) {
	f := NewFixedPriority(ReservationConfig{})
	require.NoError(t, f.Admit(1, Params{Priority: 5, Budget: ms, Period: 10 * ms}, 0))
	require.NoError(t, f.Admit(2, Params{Priority: 1}, 0))
	err := f.Admit(3, Params{Priority: 5}, 0)
	assert.ErrorContains(t, err, "vcoproc 3 (priority 5) has no budget and would starve reserved vcoproc 1 (priority 5)")
	assert.Error(t, f.Update(2, Params{Priority: 9}, 0))
}

// TestFixedPriorityMeetsDeadlines simulates the admitted textbook set
// (with an unbudgeted flood below it) and checks every job finishes
// within its response-time bound, and that a hog is held to its budget.
func TestFixedPriorityMeetsDeadlines(t *testing.T) {
	f := NewFixedPriority(ReservationConfig{Quantum: 2 * ms})
	admitAll(t, f, map[ID]Params{
		1: {Priority: 3, Budget: 1 * ms, Period: 4 * ms},
		2: {Priority: 2, Budget: 2 * ms, Period: 6 * ms},
		3: {Priority: 1, Budget: 3 * ms, Period: 13 * ms},
		4: {Priority: 0},
	})
	l1 := &load{id: 1, period: 4 * ms, work: 1 * ms}
	l2 := &load{id: 2, period: 6 * ms, work: 4 * ms} // a hog: twice its budget
	l3 := &load{id: 3, period: 13 * ms, work: 3 * ms}
	flood := &load{id: 4, saturating: true}
	horizon := 12 * time.Second // a multiple of every period
	busy := simulate(t, f, []*load{l1, l2, l3, flood}, horizon, 0)
	assert.Zero(t, l1.misses)
	assert.Zero(t, l3.misses, "worst lateness %v", l3.worstLateness)
	assert.InDelta(t, float64(horizon)/3, float64(l2.service), float64(2*ms), "the hog is held to 2 ms per 6 ms")
	assert.Equal(t, horizon, busy, "the flood takes what is left")
	assert.Positive(t, flood.service)
}

func TestFixedPriorityPreemptsAtReplenishment(t *testing.T) {
	f := NewFixedPriority(ReservationConfig{Quantum: 10 * ms})
	require.NoError(t, f.Admit(1, Params{Priority: 2, Budget: 2 * ms, Period: 10 * ms}, 0))
	require.NoError(t, f.Admit(2, Params{Priority: 1}, 0))
	f.Wake(1, 0)
	f.Wake(2, 0)
	assert.Equal(t, Decision{ID: 1, Slice: 2 * ms}, f.Pick(0))
	f.Charge(1, 2*ms, 2*ms)
	assert.Equal(t, Decision{ID: 2, Slice: 8 * ms}, f.Pick(2*ms), "cut at the high-priority replenishment")
	f.Charge(2, 8*ms, 10*ms)
	assert.Equal(t, ID(1), f.Pick(10*ms).ID)
	f.Block(1, 10*ms)
	f.Remove(2, 10*ms)
	assert.Equal(t, Decision{Idle: true}, f.Pick(10*ms))
}
