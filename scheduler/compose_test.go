package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHierarchicalAutomotiveMix: a 60 fps cluster and an ADAS job hold EDF
// reservations; infotainment floods under weighted fair share in what is
// left. The reservations meet every deadline and the device stays busy.
func TestHierarchicalAutomotiveMix(t *testing.T) {
	costs := Costs{MaxNonPreemptible: 200 * time.Microsecond}
	be, err := NewWeightedFair(2*ms, costs)
	require.NoError(t, err)
	h, err := NewHierarchical(NewEDF(ReservationConfig{Costs: costs}), be)
	require.NoError(t, err)
	assert.Equal(t, "hier(edf,wfair)", h.Name())
	frame := time.Second / 60
	admitAll(t, h, map[ID]Params{
		1: {Budget: 6 * ms, Period: frame},   // cluster
		2: {Budget: 5 * ms, Period: 20 * ms}, // ADAS
		3: {Weight: 3},                       // infotainment
		4: {Weight: 1},                       // telemetry
	})
	cluster := &load{id: 1, period: frame, work: 5 * ms}
	adas := &load{id: 2, period: 20 * ms, work: 5 * ms}
	info, tele := &load{id: 3, saturating: true}, &load{id: 4, saturating: true}
	horizon := 5 * time.Second
	busy := simulate(t, h, []*load{cluster, adas, info, tele}, horizon, costs.MaxNonPreemptible)
	assert.Zero(t, cluster.misses, "worst lateness %v", cluster.worstLateness)
	assert.Zero(t, adas.misses, "worst lateness %v", adas.worstLateness)
	assert.GreaterOrEqual(t, busy, horizon, "work-conserving")
	assert.InEpsilon(t, 3.0, float64(info.service)/float64(tele.service), 0.01)

	// Moving between the sides: infotainment asks for a reservation.
	require.NoError(t, h.Update(3, Params{Budget: ms, Period: 10 * ms}, horizon))
	assert.Contains(t, h.Entities(), Entity{ID: 3, Params: Params{Budget: ms, Period: 10 * ms}, Runnable: true})
	err = h.Update(4, Params{Budget: 10 * ms, Period: 10 * ms}, horizon)
	var adm *AdmissionError
	require.ErrorAs(t, err, &adm)
	assert.Contains(t, h.Entities(), Entity{ID: 4, Params: Params{Weight: 1}, Runnable: true}, "refused: stays best effort")
	h.Remove(3, horizon)
	assert.Len(t, h.Entities(), 3)
	_, err = NewHierarchical(nil, be)
	assert.Error(t, err)
}

// TestHierarchicalCutsBestEffortAtReplenishment: best effort never runs past
// the instant the reservations asked to be consulted again.
func TestHierarchicalCutsBestEffortAtReplenishment(t *testing.T) {
	be, _ := NewRoundRobin(10*ms, Costs{})
	h, _ := NewHierarchical(NewEDF(ReservationConfig{}), be)
	require.NoError(t, h.Admit(1, Params{Budget: 2 * ms, Period: 5 * ms}, 0))
	require.NoError(t, h.Admit(2, Params{}, 0))
	h.Wake(1, 0)
	h.Wake(2, 0)
	assert.Equal(t, Decision{ID: 1, Slice: 2 * ms}, h.Pick(0))
	h.Charge(1, 2*ms, 2*ms)
	assert.Equal(t, Decision{ID: 2, Slice: 3 * ms}, h.Pick(2*ms))
	h.Block(2, 2*ms)
	assert.Equal(t, Decision{Idle: true, Until: 5 * ms}, h.Pick(2*ms))
}

// TestMigrateMidRun switches a running device from round-robin to weighted
// fair share to EDF and back, checking that the vcoprocs, their parameters
// and their runnable state cross over, and that a refused hand-over leaves
// the running policy untouched.
func TestMigrateMidRun(t *testing.T) {
	rr, _ := NewRoundRobin(ms, Costs{})
	params := map[ID]Params{1: {Weight: 1, Budget: ms, Period: 10 * ms}, 2: {Weight: 3, Budget: 2 * ms, Period: 10 * ms}, 3: {Weight: 1, Budget: ms, Period: 10 * ms}}
	admitAll(t, rr, params)
	loads := []*load{{id: 1, saturating: true}, {id: 2, saturating: true}, {id: 3, saturating: true, stopAt: 500 * ms}}
	simulate(t, rr, loads, time.Second, 0)
	wantEnts := []Entity{{1, params[1], true}, {2, params[2], true}, {3, params[3], false}}
	require.Equal(t, wantEnts, rr.Entities())

	wf, _ := NewWeightedFair(ms, Costs{})
	require.NoError(t, Migrate(rr, wf, time.Second))
	assert.Equal(t, wantEnts, wf.Entities())
	got := map[ID]time.Duration{}
	now := time.Second
	for i := 0; i < 400; i++ {
		d := wf.Pick(now)
		require.False(t, d.Idle)
		got[d.ID] += d.Slice
		now += d.Slice
		wf.Charge(d.ID, d.Slice, now)
	}
	assert.Equal(t, map[ID]time.Duration{1: 100 * ms, 2: 300 * ms}, got, "weights apply at once after the switch")

	// To EDF: the reservations carry over and are throttled to Q/T.
	edf := NewEDF(ReservationConfig{})
	require.NoError(t, Migrate(wf, edf, now))
	assert.Equal(t, wantEnts, edf.Entities())
	served := map[ID]time.Duration{}
	end := now + time.Second
	for now < end {
		d := edf.Pick(now)
		if d.Idle {
			now = d.Until
			continue
		}
		served[d.ID] += d.Slice
		now += d.Slice
		edf.Charge(d.ID, d.Slice, now)
	}
	assert.Equal(t, map[ID]time.Duration{1: 100 * ms, 2: 200 * ms}, served)

	// A target that cannot take everyone refuses, and keeps no one.
	tight := NewEDF(ReservationConfig{Costs: Costs{MaxNonPreemptible: 9 * ms}})
	err := Migrate(edf, tight, now)
	var adm *AdmissionError
	require.ErrorAs(t, err, &adm)
	assert.ErrorContains(t, err, "scheduler: migrate edf → edf: scheduler: edf: vcoproc")
	assert.Empty(t, tight.Entities())
	assert.Equal(t, wantEnts, edf.Entities(), "the source is untouched")
	arinc, _ := NewARINC653(ARINC653Config{MajorFrame: 10 * ms, Windows: []Window{{1, 0, ms}}})
	assert.ErrorContains(t, Migrate(edf, arinc, now), "vcoproc 2 owns no window")
	assert.Empty(t, arinc.Entities())
	// And into a policy that already has vcoprocs: refused.
	assert.ErrorContains(t, Migrate(rr, edf, now), "the target already has 3 vcoprocs")

	// Every policy here can be a source.
	fs, _ := NewFixedShare(FixedShareConfig{Frame: 10 * ms})
	fp := NewFixedPriority(ReservationConfig{})
	nv, _ := NewNVIDIAShare(NVIDIAConfig{Mode: NVIDIAEqualShare, MaxVGPUs: 4})
	hier, _ := NewHierarchical(NewEDF(ReservationConfig{}), mustWF(t))
	chain := []Policy{edf, fp, NewGVTg(), nv, NewAMDGIM(Costs{}), hier, fs}
	for i := 1; i < len(chain); i++ {
		require.NoError(t, Migrate(chain[i-1], chain[i], now), "%s → %s", chain[i-1].Name(), chain[i].Name())
		assert.Equal(t, wantEnts, chain[i].(Enumerable).Entities(), chain[i].Name())
	}
}

func mustWF(t *testing.T) *WeightedFair {
	w, err := NewWeightedFair(ms, Costs{})
	require.NoError(t, err)
	return w
}
