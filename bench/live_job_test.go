package bench

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gpusim "github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// jobRig is one domain on a reference GPU behind the mediator, under a
// virtual clock: the audit and the engine a live guest's job goes
// through, without the sockets.
type jobRig struct {
	clk    *clock.Virtual
	dev    *mediator.Device
	vc     *mediator.VCoproc
	layout slotLayout
	slot   []byte
}

const (
	rigXIOVA    = 0x1000_0000
	rigSlotIOVA = 0x2000_0000
)

func newJobRig(t *testing.T, model gpusim.CostModel, elements uint64, c liveCosts) *jobRig {
	t.Helper()
	clk := clock.NewVirtual()
	m, err := mediator.New(mediator.Config{Clock: clk, WatchdogLimit: time.Hour})
	require.NoError(t, err)
	gpu, err := gpusim.New(gpusim.Config{Cost: model, VRAMBytes: 1 << 20})
	require.NoError(t, err)
	caps := gpu.Caps()
	rr, err := scheduler.NewRoundRobin(10*time.Millisecond, scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible})
	require.NoError(t, err)
	dev, err := m.AddDevice("gpu0", gpu, rr)
	require.NoError(t, err)
	dom, err := m.CreateDomain("guest")
	require.NoError(t, err)
	vc, err := m.Attach("guest", "gpu0", mediator.VCoprocConfig{Params: scheduler.Params{Weight: 1}})
	require.NoError(t, err)
	pages := func(n uint64) []byte { return make([]byte, (n+iommu.PageSize-1)/iommu.PageSize*iommu.PageSize) }
	x := pages(4 * elements)
	fillX(x, elements)
	require.NoError(t, dom.Map(rigXIOVA, x, iommu.Read))
	layout := slotLayout{elements: elements, fillWords: c.maxFillWords()}
	slot := pages(layout.size())
	require.NoError(t, dom.Map(rigSlotIOVA, slot, iommu.ReadWrite))
	return &jobRig{clk: clk, dev: dev, vc: vc, layout: layout, slot: slot}
}

// run submits job seq of the plan, runs the device until idle and returns
// the device time the job took.
func (r *jobRig) run(t *testing.T, seq uint64, p jobPlan) time.Duration {
	t.Helper()
	before := r.vc.Stats().Busy
	r.layout.prepare(r.slot, rigSlotIOVA, rigXIOVA, seq, p)
	_, err := r.vc.Submit(r.layout.commands(nil, rigSlotIOVA, seq, p))
	require.NoError(t, err)
	require.NoError(t, r.dev.RunUntilIdle(r.clk, time.Hour))
	require.Equal(t, uint64(0), r.vc.Stats().JobsFailed)
	return r.vc.Stats().Busy - before
}

// TestPlannedJobsTakeExactlyTheirExecutionTime: for execution times from
// the shortest possible to one that needs several DISPATCHes, under the
// default cost model and another one, the planned job passes the audit,
// takes exactly the execution time on the reference GPU (to the cycle, so
// to the nanosecond at 1 GHz) and computes what the guest checks.
func TestPlannedJobsTakeExactlyTheirExecutionTime(t *testing.T) {
	other := gpusim.CostModel{ClockHz: 1_500_000_000, IssueCycles: 80, BytesPerCycle: 32, FlopsPerCycle: 16, LaunchCycles: 150, PollCycles: 40, SwitchCycles: 9000}
	for _, model := range []gpusim.CostModel{gpusim.DefaultCostModel(), other} {
		c, err := newLiveCosts(model)
		require.NoError(t, err)
		shortest := c.m.CyclesToDuration(c.minimum(spec.RefGPUWorkgroupSize))
		for _, exec := range []time.Duration{shortest, time.Microsecond, 40 * time.Microsecond, time.Millisecond + 7, 10 * time.Millisecond, 250 * time.Millisecond} {
			n, err := c.elementsFor(exec, liveMaxElements)
			require.NoError(t, err, "%v", exec)
			p, err := c.plan(exec, n)
			require.NoError(t, err, "%v", exec)
			assert.Equal(t, c.m.DurationToCycles(exec), c.cycleCount(p), "%v", exec)
			assert.LessOrEqual(t, p.FillWords, c.maxFillWords())

			rig := newJobRig(t, model, n, c)
			for seq := uint64(1); seq <= 2; seq++ {
				got := rig.run(t, seq, p)
				// The engine rounds each run's cycles up to the nanosecond:
				// exact at 1 GHz, within a nanosecond per run (one per 10 ms
				// slice) at other clocks.
				slack := float64(exec/(10*time.Millisecond) + 2)
				if model.ClockHz == 1_000_000_000 {
					slack = 0
				}
				assert.InDelta(t, float64(c.m.CyclesToDuration(c.m.DurationToCycles(exec))), float64(got), slack, "clock %d Hz, exec %v: device time", model.ClockHz, exec)
				require.NoError(t, rig.layout.check(rig.slot, seq, p), "%v", exec)
			}
		}
	}
	c, err := newLiveCosts(gpusim.DefaultCostModel())
	require.NoError(t, err)
	n, err := c.elementsFor(10*time.Millisecond, liveMaxElements)
	require.NoError(t, err)
	assert.Equal(t, uint64(liveMaxElements), n, "a 10 ms job carries the whole data bound")
	p, err := c.plan(250*time.Millisecond, n)
	require.NoError(t, err)
	assert.Len(t, p.Groups, 2, "past 2²⁰ workgroups a second DISPATCH")
}

// TestCheckCatchesWrongResults: a job that did not run, or ran on other
// data, fails the guest's check with the element that is wrong.
func TestCheckCatchesWrongResults(t *testing.T) {
	c, err := newLiveCosts(gpusim.DefaultCostModel())
	require.NoError(t, err)
	p, err := c.plan(time.Millisecond, 256)
	require.NoError(t, err)
	rig := newJobRig(t, gpusim.DefaultCostModel(), 256, c)
	rig.run(t, 5, p)
	require.NoError(t, rig.layout.check(rig.slot, 5, p))

	err = rig.layout.check(rig.slot, 6, p)
	require.Error(t, err, "the results of job 5 do not pass for job 6's")
	assert.Contains(t, err.Error(), "fence word is 5, want 6")

	binary.LittleEndian.PutUint32(rig.slot[slotY+4*3:], 0)
	err = rig.layout.check(rig.slot, 5, p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "y[3] = 0, want 11")

	rig.run(t, 7, p)
	binary.LittleEndian.PutUint32(rig.slot[rig.layout.z():], 0)
	if p.FillWords > 0 {
		err = rig.layout.check(rig.slot, 7, p)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "z[0] = 0")
	}
}

func TestPlanRefusesWhatTheReferenceGPUCannotRun(t *testing.T) {
	c, err := newLiveCosts(gpusim.DefaultCostModel())
	require.NoError(t, err)
	_, err = c.elementsFor(100*time.Nanosecond, liveMaxElements)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a job of 100ns is shorter than the shortest job a live guest runs on the reference GPU, 515ns")
	_, err = c.plan(time.Millisecond, 100)
	assert.ErrorContains(t, err, "100 saxpy elements: want a positive multiple of 64")
	_, err = c.plan(10*time.Microsecond, liveMaxElements)
	assert.ErrorContains(t, err, "cannot carry 16384 saxpy elements")
	_, err = c.plan(time.Hour, 64)
	assert.ErrorContains(t, err, "DISPATCHes, more than one inline submission carries")

	m := gpusim.DefaultCostModel()
	m.BytesPerCycle = 2
	_, err = newLiveCosts(m)
	assert.ErrorContains(t, err, "BytesPerCycle ≥ 4")
	m = gpusim.DefaultCostModel()
	m.ClockHz = 0
	_, err = newLiveCosts(m)
	assert.ErrorContains(t, err, "ClockHz is 0")
}
