package mediator

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// blockOnWait submits WAIT(flag ≥ 5) then FENCE(fence = 1) for g and steps
// the rig's device until the job is blocked. It returns the fence's memory.
func blockOnWait(t *testing.T, r *rig, g *guest) (flag, fence []byte) {
	t.Helper()
	flagIOVA, flag := g.alloc(8, iommu.ReadWrite)
	fenceIOVA, fence := g.alloc(8, iommu.ReadWrite)
	_, err := g.vc.Submit(spec.Encode(spec.Encode(nil, spec.OpWait, flagIOVA, 5), spec.OpFence, fenceIOVA, 1))
	require.NoError(t, err)
	require.Zero(t, idleUntil(t, r.clk, r.dev), "the job should run")
	require.NotZero(t, g.read(spec.RegStatus, 4)&spec.StatusWaiting, "the job should be blocked on its WAIT")
	return flag, fence
}

// idleUntil steps dev once at the virtual clock's present and returns how
// long it says nothing needs looking at; a step that ran something
// returns 0 and moves the clock over the device time it took, as time
// passes for a runner.
func idleUntil(t *testing.T, clk *clock.Virtual, dev *Device) time.Duration {
	t.Helper()
	res, err := dev.Step()
	require.NoError(t, err)
	if !res.Idle {
		clk.Advance(res.Elapsed)
		return 0
	}
	require.NotZero(t, res.Until, "a blocked job must set the next look")
	return res.Until - clk.Now()
}

// TestBlockedWaitBacksOff: each look that finds the WAIT still blocked
// doubles the wait before the next, from PollInterval to MaxPollInterval;
// the release is then seen at the next look.
func TestBlockedWaitBacksOff(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	flag, fence := blockOnWait(t, r, g)

	var gaps []time.Duration
	for len(gaps) < 8 {
		gap := idleUntil(t, r.clk, r.dev)
		if gap == 0 {
			continue // the look itself: the job ran and blocked again
		}
		gaps = append(gaps, gap)
		r.clk.Advance(gap)
	}
	us := time.Microsecond
	assert.Equal(t, []time.Duration{100 * us, 200 * us, 400 * us, 800 * us, 1600 * us, 2000 * us, 2000 * us, 2000 * us}, gaps)

	binary.LittleEndian.PutUint64(flag, 5)
	r.clk.Advance(idleUntil(t, r.clk, r.dev))
	r.run()
	assert.Equal(t, uint64(1), binary.LittleEndian.Uint64(fence), "the release is seen at the next look")
}

// TestDoorbellRechecksBlockedWait: a guest that releases its WAIT from the
// CPU and rings the doorbell has it seen at once, not at the next look.
func TestDoorbellRechecksBlockedWait(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	g.setupRing(4096)
	flag, fence := blockOnWait(t, r, g)
	for gap := idleUntil(t, r.clk, r.dev); gap < DefaultMaxPollInterval; gap = idleUntil(t, r.clk, r.dev) {
		r.clk.Advance(gap)
	}
	require.Equal(t, DefaultMaxPollInterval, idleUntil(t, r.clk, r.dev), "backed off to the longest interval")

	// Half-way to the next look (the last one is over PollInterval ago,
	// so a doorbell may bring the next forward to the present).
	r.clk.Advance(DefaultMaxPollInterval / 2)
	binary.LittleEndian.PutUint64(flag, 5)
	require.Equal(t, DefaultMaxPollInterval/2, idleUntil(t, r.clk, r.dev), "a silent release waits for the look")
	g.kick() // an empty ring: nothing to fetch, only the doorbell
	for range 4 {
		_, err := r.dev.Step()
		require.NoError(t, err)
	}
	assert.Equal(t, uint64(1), binary.LittleEndian.Uint64(fence), "the doorbell had the WAIT looked at without the clock moving")
	assert.Empty(t, eventsOf(g.vc.Events(), EventRefused))
}

// TestSameDomainJobRechecksBlockedWait: a job of the same domain on
// another device that writes what a blocked WAIT waits for has it looked
// at again soon (within PollInterval of its last look, not the 2 ms it
// had backed off to), even though that job itself then blocks on a WAIT
// of its own (its run still completed a command: Result.Progressed); a
// job of another domain does not (it cannot write this domain's memory).
func TestSameDomainJobRechecksBlockedWait(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	other := r.guest("other", 0)
	gpu1, err := sim.New(sim.Config{VRAMBytes: 4 << 20, VRAMGranule: 64 << 10})
	require.NoError(t, err)
	rr, err := scheduler.NewRoundRobin(100*time.Microsecond, scheduler.Costs{})
	require.NoError(t, err)
	dev1, err := r.m.AddDevice("gpu1", gpu1, rr)
	require.NoError(t, err)
	g1, err := r.m.Attach("g", "gpu1", VCoprocConfig{})
	require.NoError(t, err)
	o1, err := r.m.Attach("other", "gpu1", VCoprocConfig{})
	require.NoError(t, err)

	flagIOVA, flag := g.alloc(8, iommu.ReadWrite)
	fenceIOVA, fence := g.alloc(8, iommu.ReadWrite)
	_, err = g.vc.Submit(spec.Encode(spec.Encode(nil, spec.OpWait, flagIOVA, 5), spec.OpFence, fenceIOVA, 1))
	require.NoError(t, err)
	for gap := idleUntil(t, r.clk, r.dev); gap < DefaultMaxPollInterval; gap = idleUntil(t, r.clk, r.dev) {
		r.clk.Advance(gap)
	}

	// Another domain's job ends on gpu1: no look.
	scratch, _ := other.alloc(64, iommu.ReadWrite)
	_, err = o1.Submit(spec.Encode(nil, spec.OpFill, scratch, 16, 5))
	require.NoError(t, err)
	require.NoError(t, dev1.RunUntilIdle(r.clk, time.Second))
	assert.Greater(t, idleUntil(t, r.clk, r.dev), DefaultPollInterval, "another domain's job prompts no look")

	// The domain's own job on gpu1 fills the flag with 5s, then blocks
	// on a word nobody writes.
	never, _ := g.alloc(8, iommu.ReadWrite)
	_, err = g1.Submit(spec.Encode(spec.Encode(nil, spec.OpFill, flagIOVA, 2, 5), spec.OpWait, never, 1))
	require.NoError(t, err)
	require.Zero(t, idleUntil(t, r.clk, dev1), "gpu1 runs the job")
	require.Equal(t, uint64(5|5<<32), binary.LittleEndian.Uint64(flag))
	require.NotZero(t, g1.Stats().Jobs-g1.Stats().JobsDone, "the job blocked after its FILL")
	gap := idleUntil(t, r.clk, r.dev)
	assert.LessOrEqual(t, gap, DefaultPollInterval, "the same domain's job brought the look forward")
	r.clk.Advance(gap)
	for range 4 {
		_, err := r.dev.Step()
		require.NoError(t, err)
	}
	assert.Equal(t, uint64(1), binary.LittleEndian.Uint64(fence), "the same domain's job had the WAIT looked at")
}

// TestBackoffStartsOverPastAWait: a job that backed off on one WAIT and
// got past it starts its looks at the next WAIT from PollInterval again.
func TestBackoffStartsOverPastAWait(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	f1IOVA, f1 := g.alloc(8, iommu.ReadWrite)
	f2IOVA, _ := g.alloc(8, iommu.ReadWrite)
	fenceIOVA, fence := g.alloc(8, iommu.ReadWrite)
	cmds := spec.Encode(nil, spec.OpWait, f1IOVA, 1)
	cmds = spec.Encode(cmds, spec.OpFence, fenceIOVA, 3)
	cmds = spec.Encode(cmds, spec.OpWait, f2IOVA, 1)
	_, err := g.vc.Submit(cmds)
	require.NoError(t, err)
	gap := idleUntil(t, r.clk, r.dev)
	for ; gap < DefaultMaxPollInterval; gap = idleUntil(t, r.clk, r.dev) {
		r.clk.Advance(gap)
	}
	binary.LittleEndian.PutUint64(f1, 1)
	r.clk.Advance(gap)
	require.Zero(t, idleUntil(t, r.clk, r.dev), "the look runs the job past its first WAIT")
	require.Equal(t, uint64(3), binary.LittleEndian.Uint64(fence))
	assert.Equal(t, DefaultPollInterval, idleUntil(t, r.clk, r.dev), "the second WAIT's first look")
}

// TestMaxPollIntervalConfig: the backoff's bound defaults to the longer of
// 2 ms and PollInterval, and may not be shorter than PollInterval.
func TestMaxPollIntervalConfig(t *testing.T) {
	m, err := New(Config{Clock: clock.NewVirtual(), PollInterval: 5 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, 5*time.Millisecond, m.cfg.MaxPollInterval)
	_, err = New(Config{Clock: clock.NewVirtual(), PollInterval: time.Millisecond, MaxPollInterval: 500 * time.Microsecond})
	assert.ErrorContains(t, err, "MaxPollInterval 500µs is shorter than PollInterval 1ms")
}

// TestDoorbellLoopCannotOutpaceThePoll: a doorbell rung right after a look
// brings the next look forward from the backed-off 2 ms to PollInterval,
// not to the present: a guest ringing in a loop gets no more looks than
// the fixed poll gave.
func TestDoorbellLoopCannotOutpaceThePoll(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	g.setupRing(4096)
	blockOnWait(t, r, g)
	for gap := idleUntil(t, r.clk, r.dev); gap < DefaultMaxPollInterval; gap = idleUntil(t, r.clk, r.dev) {
		r.clk.Advance(gap)
	}
	r.clk.Advance(DefaultMaxPollInterval)
	require.Zero(t, idleUntil(t, r.clk, r.dev), "the look")
	require.Equal(t, DefaultMaxPollInterval, idleUntil(t, r.clk, r.dev))
	for range 10 {
		g.kick()
	}
	assert.Equal(t, DefaultPollInterval, idleUntil(t, r.clk, r.dev), "the doorbells brought the look forward to PollInterval after the last")
}
