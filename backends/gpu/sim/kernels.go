package sim

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/spec"
)

// kernel is the engine's implementation of one kernel of the spec.
//
// Every kernel splits its data into elements and hands workgroup g the
// elements [g*perGroup, (g+1)*perGroup) that exist: a float for saxpy,
// reduce_sum and local_read (64 per workgroup, one per lane), a row of C for
// sgemm (one per workgroup). A workgroup with no element costs a launch and
// does nothing.
type kernel struct {
	def      *spec.KernelDef
	perGroup uint64
	// elements is the number of elements of a dispatch with these arguments.
	elements func(args []uint64) uint64
	// work is what a workgroup with e > 0 elements moves and computes.
	work func(args []uint64, e uint64) (bytes, flops uint64)
	// run executes a workgroup on the elements [first, first+e).
	run func(g *GPU, args []uint64, first, e uint64) error
}

func buildKernels(set *spec.CommandSet) (map[uint64]*kernel, error) {
	impls := []kernel{
		{def: &spec.KernelDef{ID: spec.KernelSaxpy}, perGroup: spec.RefGPUWorkgroupSize,
			elements: func(a []uint64) uint64 { return a[0] },
			work:     func(_ []uint64, e uint64) (uint64, uint64) { return 12 * e, 2 * e },
			run:      (*GPU).saxpy},
		{def: &spec.KernelDef{ID: spec.KernelSgemm}, perGroup: 1,
			elements: func(a []uint64) uint64 { return a[0] },
			work: func(a []uint64, e uint64) (uint64, uint64) {
				n, k := a[1], a[2]
				// Row of A, all of B (row by row), row of C.
				return e * 4 * (k + k*n + n), e * 2 * k * n
			},
			run: (*GPU).sgemm},
		{def: &spec.KernelDef{ID: spec.KernelReduceSum}, perGroup: spec.RefGPUWorkgroupSize,
			elements: func(a []uint64) uint64 { return a[0] },
			// Loads, then read-modify-write of out; 63 tree additions over
			// all 64 lanes and one into out.
			work: func(_ []uint64, e uint64) (uint64, uint64) { return 4*e + 8, spec.RefGPUWorkgroupSize },
			run:  (*GPU).reduceSum},
		{def: &spec.KernelDef{ID: spec.KernelLocalRead}, perGroup: spec.RefGPUWorkgroupSize,
			elements: func(a []uint64) uint64 { return a[0] },
			work:     func(_ []uint64, e uint64) (uint64, uint64) { return 4 * e, 0 },
			run:      (*GPU).localRead},
	}
	ks := make(map[uint64]*kernel, len(impls))
	for i := range impls {
		k := &impls[i]
		def, ok := set.Kernel(k.def.ID)
		if !ok {
			return nil, fmt.Errorf("sim: the spec has no kernel %d", k.def.ID)
		}
		k.def = def
		ks[def.ID] = k
	}
	for _, d := range set.Kernels() {
		if _, ok := ks[d.ID]; !ok {
			return nil, fmt.Errorf("sim: kernel %s (id %d) of the spec is not implemented", d.Name, d.ID)
		}
	}
	return ks, nil
}

// groupElements is the number of elements workgroup g handles.
func (k *kernel) groupElements(args []uint64, g uint64) (first, e uint64) {
	total := k.elements(args)
	first = g * k.perGroup // g ≤ RefGPUMaxGroups, perGroup ≤ 64: no overflow
	if first >= total {
		return first, 0
	}
	return first, min(k.perGroup, total-first)
}

// groupCost is the cycles one workgroup with e elements takes.
func (gpu *GPU) groupCost(k *kernel, args []uint64, e uint64) uint64 {
	c := gpu.cost.LaunchCycles
	if e > 0 {
		b, f := k.work(args, e)
		c += gpu.cost.transfer(b) + gpu.cost.compute(f)
	}
	return c
}

// groupsCost is the cycles the workgroups [from, to) take together, in
// closed form: full workgroups, at most one partial one, and empty ones.
func (gpu *GPU) groupsCost(k *kernel, args []uint64, from, to uint64) uint64 {
	if from >= to {
		return 0
	}
	total := k.elements(args)
	fullEnd := total / k.perGroup // workgroups [0, fullEnd) are full
	var c uint64
	if from < fullEnd {
		c += (min(to, fullEnd) - from) * gpu.groupCost(k, args, k.perGroup)
	}
	if rem := total % k.perGroup; rem != 0 && fullEnd >= from && fullEnd < to {
		c += gpu.groupCost(k, args, rem)
	}
	busyEnd := engine.CeilDiv(total, k.perGroup)
	if to > busyEnd {
		c += (to - max(from, busyEnd)) * gpu.cost.LaunchCycles
	}
	return c
}

func f32(b []byte, i uint64) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
}

func putF32(b []byte, i uint64, v float32) {
	binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
}

// Floating point: every product is converted to float32 explicitly before
// it is added, which forbids the compiler from fusing a multiply-add (the Go
// spec allows fusion otherwise). Results are then bit-identical on every
// architecture.

// saxpy: y[i] = alpha*x[i] + y[i].
func (gpu *GPU) saxpy(args []uint64, first, e uint64) error {
	alpha := math.Float32frombits(uint32(args[1]))
	x, y := gpu.scratchA[:4*e], gpu.scratchB[:4*e]
	if err := gpu.unit.Read(args[2]+4*first, x); err != nil {
		return err
	}
	if err := gpu.unit.Read(args[3]+4*first, y); err != nil {
		return err
	}
	for i := range e {
		putF32(y, i, float32(alpha*f32(x, i))+f32(y, i))
	}
	return gpu.unit.Write(args[3]+4*first, y)
}

// sgemm: row `first` of C = row of A × B, accumulating over k in order. B
// is read in runs of whole rows (row-major B keeps them contiguous), as many
// as fit in the scratch chunk.
func (gpu *GPU) sgemm(args []uint64, first, e uint64) error {
	n, k := args[1], args[2]
	a, b, c := args[3], args[4], args[5]
	if n == 0 {
		return nil
	}
	rowsPerRead := uint64(len(gpu.scratchA)) / (4 * n) // n ≤ 4096: at least 4
	for row := first; row < first+e; row++ {
		ar, acc := gpu.scratchB[:4*k], gpu.acc[:n]
		if err := gpu.unit.Read(a+4*row*k, ar); err != nil {
			return err
		}
		clear(acc)
		for p0 := uint64(0); p0 < k; p0 += rowsPerRead {
			rows := min(rowsPerRead, k-p0)
			br := gpu.scratchA[:4*rows*n]
			if err := gpu.unit.Read(b+4*p0*n, br); err != nil {
				return err
			}
			for p := range rows {
				av, bp := f32(ar, p0+p), br[4*p*n:4*(p+1)*n]
				for j := range n {
					acc[j] += float32(av * f32(bp, j))
				}
			}
		}
		out := gpu.scratchB[:4*n]
		for j := range n {
			putF32(out, j, acc[j])
		}
		if err := gpu.unit.Write(c+4*row*n, out); err != nil {
			return err
		}
	}
	return nil
}

// reduceSum: the workgroup loads its 64 elements into local memory (lanes
// past the data load 0), halves the active lanes until lane 0 holds the
// partial sum, and adds it to out.
func (gpu *GPU) reduceSum(args []uint64, first, e uint64) error {
	const lanes = spec.RefGPUWorkgroupSize
	lm := gpu.local[:4*lanes]
	x := gpu.scratchA[:4*e]
	if err := gpu.unit.Read(args[1]+4*first, x); err != nil {
		return err
	}
	copy(lm, x)
	clear(lm[4*e:])
	for s := uint64(lanes / 2); s > 0; s /= 2 {
		for i := range s {
			putF32(lm, i, f32(lm, i)+f32(lm, i+s))
		}
	}
	out, err := gpu.unit.ReadU32(args[2])
	if err != nil {
		return err
	}
	return gpu.unit.WriteU32(args[2], math.Float32bits(math.Float32frombits(out)+f32(lm, 0)))
}

// localRead copies local memory, as it is, to out: the LeftoverLocals
// listener. The engine clears local memory at every launch and switch, so
// this reads zeros.
func (gpu *GPU) localRead(args []uint64, first, e uint64) error {
	return gpu.unit.Write(args[1]+4*first, gpu.local[4*first:4*(first+e)])
}
