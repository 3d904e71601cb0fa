package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGVTgWeights: two saturating vGPUs of weights 1 and 2 split each
// second 1:2 (within a tick), as GVT-g's balance promises at second level.
func TestGVTgWeights(t *testing.T) {
	g := NewGVTg()
	require.NoError(t, g.Admit(1, Params{Weight: 1}, 0))
	require.NoError(t, g.Admit(2, Params{Weight: 2}, 0))
	l1, l2 := &load{id: 1, saturating: true}, &load{id: 2, saturating: true}
	busy := simulate(t, g, []*load{l1, l2}, 10*time.Second+GVTgTick, 0)
	// GVT-g forgives debt at every stage 0, and a vGPU may overspend its
	// slice by up to a tick before that: the ratio holds to about 1%.
	assert.InEpsilon(t, 2.0, float64(l2.service)/float64(l1.service), 0.01)
	assert.InDelta(t, 10*time.Second, busy, float64(20*GVTgTick))
}

// TestGVTgIsNotWorkConserving: an admitted but idle vGPU's allotment is
// not given away; the busy one idles once its own is spent.
func TestGVTgIsNotWorkConserving(t *testing.T) {
	g := NewGVTg()
	require.NoError(t, g.Admit(1, Params{Weight: 1}, 0))
	require.NoError(t, g.Admit(2, Params{Weight: 1}, 0))
	l1 := &load{id: 1, saturating: true}
	busy := simulate(t, g, []*load{l1}, time.Second+GVTgTick, 0)
	assert.InDelta(t, float64(500*ms), float64(busy), float64(2*GVTgTick), "50 ms of every 100 ms")
}

// TestGVTgLateAdmissionWaitsForStageZero: a vGPU admitted mid-second has
// no time slice until the next stage-0 balance.
func TestGVTgLateAdmissionWaitsForStageZero(t *testing.T) {
	g := NewGVTg()
	require.NoError(t, g.Admit(1, Params{Weight: 4}, 0))
	l1 := &load{id: 1, saturating: true}
	simulate(t, g, []*load{l1}, 300*ms, 0)
	require.NoError(t, g.Admit(2, Params{Weight: 4}, 300*ms))
	g.Wake(2, 300*ms)
	now := 300 * ms
	served := map[ID]time.Duration{}
	for now < 2*time.Second {
		d := g.Pick(now)
		if d.Idle {
			now = d.Until
			continue
		}
		served[d.ID] += d.Slice
		if now < time.Second+GVTgTick {
			require.Equal(t, ID(1), d.ID, "at %v", now)
		}
		now += d.Slice
		g.Charge(d.ID, d.Slice, now)
	}
	assert.Positive(t, served[2], "served after the stage-0 balance at 1.001 s")
	assert.ErrorContains(t, g.Admit(3, Params{Weight: 17}, 0), "weight 17 is outside GVT-g's 1–16")
}

func TestGVTgTickDecisions(t *testing.T) {
	g := NewGVTg()
	assert.Equal(t, Decision{Idle: true}, g.Pick(0))
	require.NoError(t, g.Admit(1, Params{}, 0))
	require.NoError(t, g.Admit(2, Params{}, 0))
	g.Wake(1, 0)
	g.Wake(2, 0)
	assert.Equal(t, Decision{Idle: true, Until: ms}, g.Pick(0), "the timer's first tick")
	assert.Equal(t, Decision{ID: 1, Slice: ms}, g.Pick(ms))
	g.Charge(1, 300*time.Microsecond, 1300*time.Microsecond)
	assert.Equal(t, Decision{ID: 1, Slice: 700 * time.Microsecond}, g.Pick(1300*time.Microsecond), "the tick's decision holds")
	g.Block(1, 1300*time.Microsecond)
	assert.Equal(t, Decision{Idle: true, Until: 2 * ms}, g.Pick(1300*time.Microsecond), "the device idles to the tick")
	assert.Equal(t, Decision{ID: 2, Slice: ms}, g.Pick(2*ms))
	g.Remove(2, 2*ms)
	assert.Equal(t, Decision{Idle: true}, g.Pick(2500*time.Microsecond))
	assert.Len(t, g.Entities(), 1)
}

func TestNVIDIAShares(t *testing.T) {
	_, err := NewNVIDIAShare(NVIDIAConfig{Mode: NVIDIAEqualShare})
	assert.ErrorContains(t, err, "max vGPUs per GPU 0 must be positive")
	_, err = NewNVIDIAShare(NVIDIAConfig{Mode: NVIDIAFixedShare, MaxVGPUs: 4, Slice: 31 * ms})
	assert.ErrorContains(t, err, "time slice 31ms is outside NVIDIA's 1ms–30ms")
	assert.Equal(t, 2*ms, NVIDIADefaultSlice(8))
	assert.Equal(t, ms, NVIDIADefaultSlice(16))

	three := func() []*load {
		return []*load{{id: 1, saturating: true}, {id: 2, saturating: true}, {id: 3, saturating: true, stopAt: time.Second}}
	}
	horizon := 2 * time.Second
	// Best effort: the idle VM's time goes to the others.
	be, err := NewNVIDIAShare(NVIDIAConfig{Mode: NVIDIABestEffort, MaxVGPUs: 4})
	require.NoError(t, err)
	admitAll(t, be, map[ID]Params{1: {}, 2: {}, 3: {}})
	assert.Equal(t, horizon, simulate(t, be, three(), horizon, 0))
	// Equal share: three running VMs, a third each, idle or not.
	eq, err := NewNVIDIAShare(NVIDIAConfig{Mode: NVIDIAEqualShare, MaxVGPUs: 4})
	require.NoError(t, err)
	admitAll(t, eq, map[ID]Params{1: {}, 2: {}, 3: {}})
	loads := three()
	busy := simulate(t, eq, loads, horizon, 0)
	assert.InDelta(t, float64(horizon)/3, float64(loads[0].service), float64(2*ms))
	assert.InDelta(t, float64(horizon)*5/6, float64(busy), float64(4*ms))
	// Fixed share: four slots, a quarter each, empty slot idle.
	fx, err := NewNVIDIAShare(NVIDIAConfig{Mode: NVIDIAFixedShare, MaxVGPUs: 4, Slice: 5 * ms})
	require.NoError(t, err)
	admitAll(t, fx, map[ID]Params{1: {}, 2: {}, 3: {}})
	require.NoError(t, fx.Admit(9, Params{}, 0), "a fourth fits")
	assert.ErrorContains(t, fx.Admit(10, Params{}, 0), "all 4 fixed-share slots are taken")
	fx.Remove(9, 0)
	loads = three()
	busy = simulate(t, fx, loads, horizon, 0)
	assert.Equal(t, horizon/4, loads[0].service)
	assert.Equal(t, horizon/2+time.Second/4, busy)
	assert.Equal(t, []string{"nvidia-best-effort", "nvidia-equal-share", "nvidia-fixed-share"}, []string{be.Name(), eq.Name(), fx.Name()})
}

func TestAMDGIM(t *testing.T) {
	a := NewAMDGIM(Costs{})
	assert.Equal(t, "amd-gim", a.Name())
	assert.Equal(t, AMDGIMSlice, a.Slice())
	require.NoError(t, a.Admit(1, Params{}, 0))
	a.Wake(1, 0)
	assert.Equal(t, Decision{ID: 1, Slice: 6 * ms}, a.Pick(0))
}
