package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newRR(t *testing.T, slice time.Duration, ids ...ID) *RoundRobin {
	t.Helper()
	r, err := NewRoundRobin(slice, Costs{})
	require.NoError(t, err)
	for _, id := range ids {
		require.NoError(t, r.Admit(id, Params{}, 0))
	}
	return r
}

func TestRoundRobinRejectsBadSlice(t *testing.T) {
	_, err := NewRoundRobin(0, Costs{})
	assert.ErrorContains(t, err, "slice 0s must be positive")
}

func TestRoundRobinIdleWhenNothingRunnable(t *testing.T) {
	r := newRR(t, time.Millisecond, 1, 2)
	assert.Equal(t, Decision{Idle: true}, r.Pick(0))
}

func TestRoundRobinTakesTurnsInWakeOrder(t *testing.T) {
	r := newRR(t, time.Millisecond, 1, 2, 3)
	r.Wake(2, 0)
	r.Wake(1, 0)
	r.Wake(3, 0)
	r.Wake(3, 0) // waking twice changes nothing
	var order []ID
	now := time.Duration(0)
	for i := 0; i < 6; i++ {
		d := r.Pick(now)
		require.False(t, d.Idle)
		assert.Equal(t, time.Millisecond, d.Slice)
		order = append(order, d.ID)
		now += d.Slice
		r.Charge(d.ID, d.Slice, now)
	}
	assert.Equal(t, []ID{2, 1, 3, 2, 1, 3}, order)
}

func TestRoundRobinPartialUseKeepsTheTurn(t *testing.T) {
	r := newRR(t, 10*time.Millisecond, 1, 2)
	r.Wake(1, 0)
	r.Wake(2, 0)
	r.Charge(1, 4*time.Millisecond, 4*time.Millisecond)
	d := r.Pick(4 * time.Millisecond)
	assert.Equal(t, ID(1), d.ID)
	assert.Equal(t, 6*time.Millisecond, d.Slice, "the rest of the slice")
	r.Charge(1, 7*time.Millisecond, 11*time.Millisecond) // overran by 1 ms
	assert.Equal(t, ID(2), r.Pick(11*time.Millisecond).ID)
	assert.Equal(t, 10*time.Millisecond, r.Pick(11*time.Millisecond).Slice, "overrun is not carried")
}

func TestRoundRobinBlockAndRemove(t *testing.T) {
	r := newRR(t, time.Millisecond, 1, 2, 3)
	for _, id := range []ID{1, 2, 3} {
		r.Wake(id, 0)
	}
	r.Block(1, 0)
	assert.Equal(t, ID(2), r.Pick(0).ID)
	r.Remove(2, 0)
	assert.Equal(t, ID(3), r.Pick(0).ID)
	r.Charge(2, time.Second, 0) // unknown now: ignored
	r.Wake(2, 0)                // unknown now: ignored
	assert.Equal(t, ID(3), r.Pick(0).ID)
	r.Block(3, 0)
	assert.True(t, r.Pick(0).Idle)

	var unknown *UnknownError
	require.ErrorAs(t, r.Update(2, Params{}, 0), &unknown)
	assert.Equal(t, ID(2), unknown.ID)
	assert.ErrorContains(t, r.Admit(1, Params{}, 0), "admitted twice")
}

// TestRoundRobinBoundedWait checks the documented guarantee over a long run
// with random blocking: a runnable vcoproc waits at most (n-1) slices.
func TestRoundRobinBoundedWait(t *testing.T) {
	const n = 5
	slice := time.Millisecond
	r := newRR(t, slice, 0, 1, 2, 3, 4)
	waitingSince := map[ID]time.Duration{}
	for id := ID(0); id < n; id++ {
		r.Wake(id, 0)
		waitingSince[id] = 0
	}
	now := time.Duration(0)
	seed := uint64(42)
	for i := 0; i < 100000; i++ {
		d := r.Pick(now)
		if d.Idle {
			for id := ID(0); id < n; id++ {
				r.Wake(id, now)
				waitingSince[id] = now
			}
			continue
		}
		wait := now - waitingSince[d.ID]
		require.LessOrEqual(t, wait, (n-1)*slice, "vcoproc %d waited %v", d.ID, wait)
		seed = seed*6364136223846793005 + 1442695040888963407
		ran := d.Slice
		if seed>>60 == 0 { // sometimes the work runs out early
			ran = d.Slice / 2
		}
		now += ran
		r.Charge(d.ID, ran, now)
		if ran < d.Slice {
			r.Block(d.ID, now)
			r.Wake(d.ID, now)
		}
		waitingSince[d.ID] = now
	}
}

func BenchmarkRoundRobinPickCharge(b *testing.B) {
	r, _ := NewRoundRobin(time.Millisecond, Costs{})
	for id := ID(0); id < 16; id++ {
		_ = r.Admit(id, Params{}, 0)
		r.Wake(id, 0)
	}
	b.ReportAllocs()
	now := time.Duration(0)
	for b.Loop() {
		d := r.Pick(now)
		now += d.Slice
		r.Charge(d.ID, d.Slice, now)
	}
}
