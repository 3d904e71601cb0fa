package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func jain(xs []float64) float64 {
	var s, sq float64
	for _, x := range xs {
		s += x
		sq += x * x
	}
	return s * s / (float64(len(xs)) * sq)
}

// TestWeightedFairFourSaturating is the fairness test: weights
// 1:2:3:4, all saturating, with overruns of up to MaxNonPreemptible. Jain's
// index of service per weight must be ≥ 0.99 and, at every decision, the
// normalized service of any two must differ by at most one quantum (plus
// overrun) of the lighter weight.
func TestWeightedFairFourSaturating(t *testing.T) {
	const quantum = time.Millisecond
	costs := Costs{MaxNonPreemptible: 200 * time.Microsecond}
	w, err := NewWeightedFair(quantum, costs)
	require.NoError(t, err)
	weights := []uint32{1, 2, 3, 4}
	for i, wt := range weights {
		require.NoError(t, w.Admit(ID(i), Params{Weight: wt}, 0))
		w.Wake(ID(i), 0)
	}
	service := make([]time.Duration, len(weights))
	now := time.Duration(0)
	seed := uint64(7)
	bound := quantum + costs.MaxNonPreemptible
	worst := 0.0
	for step := 0; step < 100000; step++ {
		d := w.Pick(now)
		require.False(t, d.Idle)
		assert.Equal(t, quantum, d.Slice)
		seed = seed*6364136223846793005 + 1442695040888963407
		ran := d.Slice + time.Duration(seed>>33)%costs.MaxNonPreemptible
		now += ran
		service[d.ID] += ran
		w.Charge(d.ID, ran, now)
		for i := range weights {
			for j := i + 1; j < len(weights); j++ {
				diff := float64(service[i])/float64(weights[i]) - float64(service[j])/float64(weights[j])
				lag := abs(diff) * float64(min(weights[i], weights[j]))
				worst = max(worst, lag)
				require.LessOrEqual(t, lag, float64(bound), "step %d: vcoprocs %d and %d lag %v", step, i, j, time.Duration(lag))
			}
		}
	}
	perWeight := make([]float64, len(weights))
	for i := range weights {
		perWeight[i] = float64(service[i]) / float64(weights[i])
	}
	ji := jain(perWeight)
	assert.GreaterOrEqual(t, ji, 0.99)
	t.Logf("Jain's index %.6f, worst pairwise lag %v (bound %v)", ji, time.Duration(worst), bound)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestWeightedFairWakeDoesNotBankCredit(t *testing.T) {
	w, err := NewWeightedFair(time.Millisecond, Costs{})
	require.NoError(t, err)
	require.NoError(t, w.Admit(1, Params{}, 0))
	require.NoError(t, w.Admit(2, Params{}, 0))
	w.Wake(1, 0)
	now := time.Duration(0)
	for i := 0; i < 1000; i++ { // 1 runs alone for a second
		d := w.Pick(now)
		now += d.Slice
		w.Charge(d.ID, d.Slice, now)
	}
	w.Wake(2, now) // 2 was idle: it must not now own the device for a second
	got := map[ID]int{}
	for i := 0; i < 10; i++ {
		d := w.Pick(now)
		got[d.ID]++
		now += d.Slice
		w.Charge(d.ID, d.Slice, now)
	}
	assert.Equal(t, map[ID]int{1: 5, 2: 5}, got)
}

func TestWeightedFairBlockRemoveUpdate(t *testing.T) {
	_, err := NewWeightedFair(0, Costs{})
	assert.ErrorContains(t, err, "quantum 0s must be positive")
	w, err := NewWeightedFair(time.Millisecond, Costs{})
	require.NoError(t, err)
	assert.True(t, w.Pick(0).Idle)
	require.NoError(t, w.Admit(1, Params{Weight: 1}, 0))
	require.NoError(t, w.Admit(2, Params{Weight: 1}, 0))
	var dup *DuplicateError
	require.ErrorAs(t, w.Admit(1, Params{}, 0), &dup)
	var unknown *UnknownError
	require.ErrorAs(t, w.Update(9, Params{}, 0), &unknown)
	w.Wake(1, 0)
	w.Wake(2, 0)
	w.Block(1, 0)
	assert.Equal(t, ID(2), w.Pick(0).ID)
	w.Remove(2, 0)
	assert.True(t, w.Pick(0).Idle)
	w.Charge(2, time.Second, 0) // unknown: ignored
	// A weight raised to 3 takes three quanta for every one of a weight-1.
	require.NoError(t, w.Admit(3, Params{}, 0))
	require.NoError(t, w.Update(1, Params{Weight: 3}, 0))
	w.Wake(1, 0)
	w.Wake(3, 0)
	got := map[ID]int{}
	now := time.Duration(0)
	for i := 0; i < 400; i++ {
		d := w.Pick(now)
		got[d.ID]++
		now += d.Slice
		w.Charge(d.ID, d.Slice, now)
	}
	assert.Equal(t, map[ID]int{1: 300, 3: 100}, got)
	assert.Equal(t, []Entity{{ID: 1, Params: Params{Weight: 3}, Runnable: true}, {ID: 3, Runnable: true}}, w.Entities())
}

func TestWeightedFairRenormalizesVirtualTime(t *testing.T) {
	w, err := NewWeightedFair(time.Millisecond, Costs{})
	require.NoError(t, err)
	require.NoError(t, w.Admit(1, Params{}, 0))
	require.NoError(t, w.Admit(2, Params{Weight: 2}, 0))
	w.Wake(1, 0)
	w.Wake(2, 0)
	// Enough maximal charges to cross renormalizeAt several times.
	for i := 0; i < 20; i++ {
		d := w.Pick(0)
		w.Charge(d.ID, maxCharge, 0)
		assert.Less(t, w.vtime, renormalizeAt)
	}
	e1, e2 := w.known[1], w.known[2]
	assert.LessOrEqual(t, abs(float64(e1.pass-e2.pass)), float64(maxCharge)*passScale)
}

// TestEqualShareIgnoresWeights: equal share splits evenly whatever the
// weights, and hands an idle tenant's share to the others.
func TestEqualShareIgnoresWeights(t *testing.T) {
	e, err := NewEqualShare(time.Millisecond, Costs{})
	require.NoError(t, err)
	assert.Equal(t, "equal-share", e.Name())
	loads := []*load{{id: 1, saturating: true}, {id: 2, saturating: true}, {id: 3, saturating: true, stopAt: 3 * time.Second}}
	admitAll(t, e, map[ID]Params{1: {Weight: 10}, 2: {Weight: 1}, 3: {Weight: 5}})
	busy := simulate(t, e, loads, 6*time.Second, 0)
	assert.Equal(t, 6*time.Second, busy, "work-conserving")
	assert.InDelta(t, float64(loads[0].service), float64(loads[1].service), float64(time.Millisecond))
	assert.InDelta(t, float64(time.Second), float64(loads[2].service), float64(time.Millisecond))
}
