package bench

import (
	"fmt"
	"time"

	gpusim "github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/spec"
)

// A live guest turns each job of its workload into a real reference-GPU job
// whose device time, as the reference GPU's cost model (gpusim.CostModel)
// charges it, is the job's execution time to the cycle (the nanosecond at
// the default 1 GHz):
//
//	DISPATCH saxpy (n elements, G₁ workgroups)   issue + n/64 data workgroups + (G₁ − n/64) launches
//	... as many DISPATCHes as the time needs      (at most spec.RefGPUMaxGroups workgroups each)
//	FILL z, w words, pattern                      issue + ⌈4w / BytesPerCycle⌉: the remainder, to the cycle
//	FENCE fence, seq                              issue + ⌈8 / BytesPerCycle⌉
//
// Each DISPATCH computes y += 2·x over the same n elements, so the guest
// checks y = y₀ + 2·k·x (k DISPATCHes) and the FILL's words; every value is
// an integer below 2²⁴ and exact in float32.
//
// Why most of a job is workgroups beyond the data: the reference GPU is a
// model that the daemon's CPU runs. A workgroup with data costs 214 cycles
// of device time and about 100 ns of host CPU (the IOMMU walk and the
// arithmetic: sim.BenchmarkSaxpyDispatch), so a job made only of data would
// cost the host half a core per device in the daemon alone, plus the
// guests' checks, and on a two-core machine the model could not keep pace
// with real time once eight guests run. A workgroup beyond the data costs a
// launch (200 cycles, as the cost model charges a real GPU's empty
// workgroups) and no host CPU, so the data are bounded (liveMaxElements)
// and the rest of the time is launches: device time then dominates the
// per-job CPU cost, which is what a live run must measure.

// liveMaxElements bounds the saxpy data of one job: 16 Ki floats per vector
// (64 KiB), 256 data workgroups, 55 µs of device time with the default
// costs and, by estimate (256 × BenchmarkSaxpyDispatch's ~100 ns per data
// workgroup, not measured for a whole job), about 30 µs of daemon CPU.
const liveMaxElements = 16 << 10

// liveRingSlots is the request ring a guest asks for; maxJobDispatches is
// how many DISPATCHes (4 words each) fit one inline submission on it with
// the FILL (4) and the FENCE (3): with the default costs, jobs of up to
// 26 s.
const liveRingSlots = spec.PVDefaultRingSlots

var maxJobDispatches = uint64(spec.PVMaxInlineWords(liveRingSlots)-7) / 4

const (
	saxpyAlpha   = 2
	saxpyXPeriod = 100 // x[i] = i mod 100
)

// jobPlan is one job's commands, derived from the cost model.
type jobPlan struct {
	// Elements is the saxpy vector length n, a multiple of the workgroup size.
	Elements uint64
	// Groups is each DISPATCH's workgroup count (Elements/64 of them with data).
	Groups []uint64
	// FillWords is the FILL's length, which takes up the remainder.
	FillWords uint64
	// Cycles is the job's device time in cycles.
	Cycles uint64
}

// liveCosts holds what a plan reads from the cost model, checked once.
type liveCosts struct {
	m         gpusim.CostModel
	dataGroup uint64 // one saxpy workgroup with 64 elements
	fence     uint64 // FENCE, issue included
}

func newLiveCosts(m gpusim.CostModel) (liveCosts, error) {
	if err := m.Validate(); err != nil {
		return liveCosts{}, err
	}
	// A FILL of w words costs ⌈4w/B⌉; with B ≥ 4 every remainder r has a
	// w = ⌊rB/4⌋ with exactly that cost. Empty workgroups must cost
	// something, or no number of them makes up the time.
	if m.BytesPerCycle < 4 || m.LaunchCycles == 0 {
		return liveCosts{}, fmt.Errorf("bench: live jobs need a cost model with BytesPerCycle ≥ 4 and LaunchCycles > 0 (got %d and %d)", m.BytesPerCycle, m.LaunchCycles)
	}
	const wg = spec.RefGPUWorkgroupSize
	return liveCosts{
		m:         m,
		dataGroup: m.LaunchCycles + ceilDiv(12*wg, m.BytesPerCycle) + ceilDiv(2*wg, m.FlopsPerCycle),
		fence:     m.IssueCycles + ceilDiv(8, m.BytesPerCycle),
	}, nil
}

func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

// dispatch is one DISPATCH with all n elements' data and no empty group.
func (c liveCosts) dispatch(elements uint64) uint64 {
	return c.m.IssueCycles + elements/spec.RefGPUWorkgroupSize*c.dataGroup
}

// minimum is the cheapest job with the given data: one DISPATCH, an empty
// FILL and the FENCE.
func (c liveCosts) minimum(elements uint64) uint64 {
	return c.dispatch(elements) + c.m.IssueCycles + c.fence
}

// elementsFor is the largest data, a multiple of the workgroup size and at
// most limit, that fits a job of exec; it fails when not even one
// workgroup does.
func (c liveCosts) elementsFor(exec time.Duration, limit uint64) (uint64, error) {
	const wg = spec.RefGPUWorkgroupSize
	target := c.m.DurationToCycles(exec)
	if target < c.minimum(wg) || limit < wg {
		return 0, fmt.Errorf("bench: a job of %v is shorter than the shortest job a live guest runs on the reference GPU, %v (one saxpy workgroup, a FILL and a FENCE)", exec, c.m.CyclesToDuration(c.minimum(wg)))
	}
	groups := min(limit/wg, (target-c.minimum(0))/c.dataGroup)
	return groups * wg, nil
}

// plan derives the job of exec with the given data.
func (c liveCosts) plan(exec time.Duration, elements uint64) (jobPlan, error) {
	const wg = spec.RefGPUWorkgroupSize
	if elements == 0 || elements%wg != 0 {
		return jobPlan{}, fmt.Errorf("bench: %d saxpy elements: want a positive multiple of %d", elements, wg)
	}
	target := c.m.DurationToCycles(exec)
	fixed := c.m.IssueCycles + c.fence // the FILL's issue and the FENCE
	if target < c.minimum(elements) {
		return jobPlan{}, fmt.Errorf("bench: a job of %v cannot carry %d saxpy elements: that alone takes %v", exec, elements, c.m.CyclesToDuration(c.minimum(elements)))
	}
	data := elements / wg
	room := spec.RefGPUMaxGroups - data // empty workgroups one DISPATCH can add
	full := c.dispatch(elements) + room*c.m.LaunchCycles
	k := max(1, ceilDiv(target-fixed, full))
	if k > maxJobDispatches {
		return jobPlan{}, fmt.Errorf("bench: a job of %v needs %d DISPATCHes, more than one inline submission carries (%d, %v)", exec, k, maxJobDispatches, c.m.CyclesToDuration(maxJobDispatches*full))
	}
	base := k*c.dispatch(elements) + fixed
	if target < base {
		return jobPlan{}, fmt.Errorf("bench: a job of %v is too short for %d DISPATCHes of %d elements", exec, k, elements)
	}
	rest := target - base
	empty := rest / c.m.LaunchCycles
	remainder := rest - empty*c.m.LaunchCycles
	p := jobPlan{Elements: elements, FillWords: remainder * c.m.BytesPerCycle / 4, Cycles: target}
	for i := uint64(0); i < k; i++ {
		e := min(empty, room)
		empty -= e
		p.Groups = append(p.Groups, data+e)
	}
	if empty != 0 || c.cycleCount(p) != target {
		return jobPlan{}, fmt.Errorf("bench: internal error: the plan for %v costs %d cycles, want %d", exec, c.cycleCount(p), target)
	}
	return p, nil
}

// cycleCount is what the reference GPU charges for the plan's commands,
// computed from them alone.
func (c liveCosts) cycleCount(p jobPlan) uint64 {
	data := p.Elements / spec.RefGPUWorkgroupSize
	var total uint64
	for _, g := range p.Groups {
		total += c.dispatch(p.Elements) + (g-data)*c.m.LaunchCycles
	}
	return total + c.m.IssueCycles + ceilDiv(4*p.FillWords, c.m.BytesPerCycle) + c.fence
}

// maxFillWords bounds any plan's FILL, for sizing the guest's buffers: the
// largest remainder a FILL takes up is less than one launch (plan).
func (c liveCosts) maxFillWords() uint64 { return c.m.LaunchCycles * c.m.BytesPerCycle / 4 }
