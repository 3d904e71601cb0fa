package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWorkConservationVersusFixedShare: four saturating tenants, one goes
// idle halfway. The work-conserving policies keep the device ≥ 95% busy
// after; fixed share leaves the idle tenant's window unused, and nobody
// else gains from it.
func TestWorkConservationVersusFixedShare(t *testing.T) {
	const half = 2 * time.Second
	mk := func() []*load {
		return []*load{{id: 1, saturating: true}, {id: 2, saturating: true}, {id: 3, saturating: true}, {id: 4, saturating: true, stopAt: half}}
	}
	costs := Costs{SwitchCost: 50 * time.Microsecond, MaxNonPreemptible: 50 * time.Microsecond}
	wf, err := NewWeightedFair(ms, costs)
	require.NoError(t, err)
	rr, err := NewRoundRobin(ms, costs)
	require.NoError(t, err)
	for _, p := range []Policy{wf, rr, NewAMDGIM(costs)} {
		loads := mk()
		admitAll(t, p, map[ID]Params{1: {Weight: 1}, 2: {Weight: 1}, 3: {Weight: 1}, 4: {Weight: 1}})
		busy := simulate(t, p, loads, 2*half, 0)
		after := busy - half // the first half is fully busy by construction
		assert.GreaterOrEqual(t, float64(after)/float64(half), 0.95, "%s", p.Name())
	}

	fs, err := NewFixedShare(FixedShareConfig{Frame: 10 * ms, Costs: costs})
	require.NoError(t, err)
	loads := mk()
	admitAll(t, fs, map[ID]Params{1: {Share: 0.24}, 2: {Share: 0.24}, 3: {Share: 0.24}, 4: {Share: 0.24}})
	busy := simulate(t, fs, loads, 2*half, 0)
	// Each owner gets its window, share·frame + guard (100 µs) = 2.5 ms per
	// 10 ms frame (the miniature simulator spends no time switching).
	perFrame := 2500 * time.Microsecond
	frames := int64(2 * half / (10 * ms))
	for _, l := range loads[:3] {
		assert.Equal(t, time.Duration(frames)*perFrame, l.service, "vcoproc %d", l.id)
	}
	assert.Equal(t, time.Duration(frames/2)*perFrame, loads[3].service)
	after := busy - time.Duration(frames/2)*4*perFrame
	assert.InDelta(t, 0.75, float64(after)/float64(half), 0.001, "the idle tenant's window stays idle")
}

func TestFixedShareIdleWindowAndFreeRegion(t *testing.T) {
	fs, err := NewFixedShare(FixedShareConfig{Frame: 10 * ms, Quantum: ms})
	require.NoError(t, err)
	require.NoError(t, fs.Admit(1, Params{Share: 0.5}, 0))
	require.NoError(t, fs.Admit(2, Params{}, 0)) // best effort in the rest
	assert.Equal(t, Decision{Idle: true}, fs.Pick(0), "nothing runnable")
	fs.Wake(2, 0)
	assert.Equal(t, Decision{Idle: true, Until: 5 * ms}, fs.Pick(0), "1's window is held while 1 is idle")
	assert.Equal(t, Decision{ID: 2, Slice: ms}, fs.Pick(5*ms))
	assert.Equal(t, Decision{ID: 2, Slice: 500 * time.Microsecond}, fs.Pick(9500*time.Microsecond), "cut at the frame's end")
	fs.Wake(1, 0)
	assert.Equal(t, Decision{ID: 1, Slice: 3 * ms}, fs.Pick(12*ms))
	fs.Block(2, 0)
	assert.Equal(t, Decision{Idle: true, Until: 20 * ms}, fs.Pick(15*ms))
}

func TestFixedShareAdmission(t *testing.T) {
	_, err := NewFixedShare(FixedShareConfig{})
	assert.ErrorContains(t, err, "frame 0s must be positive")
	_, err = NewFixedShare(FixedShareConfig{Frame: ms, Costs: Costs{SwitchCost: ms}})
	assert.ErrorContains(t, err, "leaves no room")
	fs, err := NewFixedShare(FixedShareConfig{Frame: 10 * ms, Costs: Costs{SwitchCost: 100 * time.Microsecond, MaxNonPreemptible: 100 * time.Microsecond}, Label: "gpu1"})
	require.NoError(t, err)
	require.NoError(t, fs.Admit(1, Params{Share: 0.5}, 0))
	require.NoError(t, fs.Admit(2, Params{Share: 0.46}, 0), "0.96 = 1 − 2 × 200 µs / 10 ms exactly")
	err = fs.Admit(3, Params{Share: 0.01}, 0)
	var adm *AdmissionError
	require.ErrorAs(t, err, &adm)
	assert.EqualError(t, err, "scheduler: fixed-share: vcoproc 3 refused: shares 0.97 > 0.94 available after switch overhead and blocking (3 windows of guard 200µs in a 10ms frame) on gpu1")
	require.NoError(t, fs.Admit(3, Params{}, 0), "no share: best effort in what is left")
	assert.ErrorContains(t, fs.Admit(4, Params{Share: 1.5}, 0), "share 1.5 must be in [0, 1]")
	require.Error(t, fs.Update(2, Params{Share: 0.5}, 0))
	require.NoError(t, fs.Update(2, Params{}, 0))
	require.NoError(t, fs.Update(3, Params{Share: 0.46}, 0))
	fs.Remove(1, 0)
	assert.Len(t, fs.Entities(), 2)
}

func TestARINC653(t *testing.T) {
	costs := Costs{SwitchCost: 100 * time.Microsecond, MaxNonPreemptible: 200 * time.Microsecond}
	for _, c := range []struct {
		cfg  ARINC653Config
		want string
	}{
		{ARINC653Config{}, "major frame 0s must be positive"},
		{ARINC653Config{MajorFrame: 10 * ms, Windows: []Window{{1, 8 * ms, 3 * ms}}}, "leaves the major frame"},
		{ARINC653Config{MajorFrame: 10 * ms, Costs: costs, Windows: []Window{{1, 0, 300 * time.Microsecond}}}, "lasts 300µs, not more than switch cost 100µs + non-preemptible segment 200µs"},
		{ARINC653Config{MajorFrame: 10 * ms, Windows: []Window{{2, 2 * ms, 3 * ms}, {1, 0, 3 * ms}}}, "window of vcoproc 2 [2ms, 5ms) overlaps that of vcoproc 1 [0s, 3ms)"},
	} {
		_, err := NewARINC653(c.cfg)
		assert.ErrorContains(t, err, c.want)
	}
	a, err := NewARINC653(ARINC653Config{MajorFrame: 10 * ms, Costs: costs, Label: "dsp0",
		Windows: []Window{{2, 5 * ms, 3 * ms}, {1, 0, 4 * ms}, {1, 8 * ms, ms}}})
	require.NoError(t, err)
	assert.EqualError(t, a.Admit(3, Params{}, 0), "scheduler: arinc653: vcoproc 3 refused: vcoproc 3 owns no window in the 10ms major frame on dsp0")
	require.NoError(t, a.Admit(1, Params{}, 0))
	require.NoError(t, a.Admit(2, Params{}, 0))
	a.Wake(1, 0)
	a.Wake(2, 0)
	assert.Equal(t, Decision{ID: 1, Slice: 3700 * time.Microsecond}, a.Pick(0), "4 ms less switch and non-preemptible tail")
	a.Charge(1, 3900*time.Microsecond, 3900*time.Microsecond)
	assert.Equal(t, Decision{Idle: true, Until: 4 * ms}, a.Pick(3900*time.Microsecond), "too little of the window is left to start")
	assert.Equal(t, Decision{Idle: true, Until: 5 * ms}, a.Pick(4*ms), "gap")
	assert.Equal(t, Decision{ID: 2, Slice: 2700 * time.Microsecond}, a.Pick(5*ms))
	a.Block(2, 6*ms)
	assert.Equal(t, Decision{Idle: true, Until: 8 * ms}, a.Pick(6*ms), "2's window is held")
	assert.Equal(t, Decision{ID: 1, Slice: 800 * time.Microsecond}, a.Pick(18*ms), "second frame, second window of 1; 1 ran last, so no switch")
	assert.Equal(t, Decision{Idle: true, Until: 20 * ms}, a.Pick(9900*time.Microsecond+10*ms))

	// Simulated with every slice overrunning by the full non-preemptible
	// segment: each window's work still ends by the window's end. Per frame
	// 1 gets 4 ms (it ran last, no switch) + 0.9 ms (after a switch), but
	// only 3.9 ms in its first window; 2 gets 2.9 ms.
	l1, l2 := &load{id: 1, saturating: true}, &load{id: 2, saturating: true}
	a2, err := NewARINC653(ARINC653Config{MajorFrame: 10 * ms, Costs: costs, Windows: []Window{{2, 5 * ms, 3 * ms}, {1, 0, 4 * ms}, {1, 8 * ms, ms}}})
	require.NoError(t, err)
	admitAll(t, a2, map[ID]Params{1: {}, 2: {}})
	simulate(t, a2, []*load{l1, l2}, time.Second, costs.MaxNonPreemptible)
	assert.Equal(t, 100*(4900*time.Microsecond)-costs.SwitchCost, l1.service)
	assert.Equal(t, 100*(2900*time.Microsecond), l2.service)
}
