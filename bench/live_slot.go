package bench

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/coprocd/coprocd/spec"
)

// slotLayout places the guest memory of one job in flight in one buffer
// that the device reads and writes through the domain's IOMMU context:
//
//	0          the saxpy argument block: n, alpha (float32 bits), x, y
//	32         the FENCE's 64-bit word
//	64         y: n float32
//	64 + 4n    z: the FILL's words
//
// x (i mod 100, read-only for the device) is shared by every slot. A guest
// keeps several slots so that open-loop workloads can have jobs queued on
// the device while the earlier ones' results are checked.
type slotLayout struct {
	elements  uint64 // n
	fillWords uint64 // the largest FILL a plan makes
}

const (
	slotArgs  = 0
	slotFence = 32
	slotY     = 64
)

func (l slotLayout) z() uint64    { return slotY + 4*l.elements }
func (l slotLayout) size() uint64 { return l.z() + 4*l.fillWords }

// fillX writes x[i] = i mod 100 for n elements.
func fillX(mem []byte, n uint64) {
	for i := uint64(0); i < n; i++ {
		binary.LittleEndian.PutUint32(mem[4*i:], math.Float32bits(float32(i%saxpyXPeriod)))
	}
}

// y0 is the value y starts from in job seq: different from one job to the
// next, so that a job that did not run cannot pass for one that did.
func y0(seq uint64) float32 { return float32(seq % 1024) }

// fillPattern is job seq's FILL pattern (never the zero the slot is cleared to).
func fillPattern(seq uint64) uint32 { return uint32(seq%0x7fff_ffff) + 1 }

// prepare writes job seq's argument block, resets y to y0 and clears the
// words the FILL will write.
func (l slotLayout) prepare(mem []byte, iova, xIOVA, seq uint64, p jobPlan) {
	for i, w := range []uint64{p.Elements, uint64(math.Float32bits(saxpyAlpha)), xIOVA, iova + slotY} {
		binary.LittleEndian.PutUint64(mem[slotArgs+8*i:], w)
	}
	binary.LittleEndian.PutUint64(mem[slotFence:], 0)
	start := math.Float32bits(y0(seq))
	for i := uint64(0); i < p.Elements; i++ {
		binary.LittleEndian.PutUint32(mem[slotY+4*i:], start)
	}
	clear(mem[l.z() : l.z()+4*p.FillWords])
}

// commands encodes job seq: the plan's DISPATCHes, the FILL, the FENCE.
func (l slotLayout) commands(buf []uint64, iova, seq uint64, p jobPlan) []uint64 {
	for _, g := range p.Groups {
		buf = spec.Encode(buf, spec.OpDispatch, spec.KernelSaxpy, g, iova+slotArgs)
	}
	buf = spec.Encode(buf, spec.OpFill, iova+l.z(), p.FillWords, uint64(fillPattern(seq)))
	return spec.Encode(buf, spec.OpFence, iova+slotFence, seq)
}

// check verifies what job seq computed: y = y0 + 2·k·x after k DISPATCHes,
// the FILL's words, the FENCE's value.
func (l slotLayout) check(mem []byte, seq uint64, p jobPlan) error {
	if got := binary.LittleEndian.Uint64(mem[slotFence:]); got != seq {
		return fmt.Errorf("job %d: the fence word is %d, want %d", seq, got, seq)
	}
	k := float32(len(p.Groups))
	for i := uint64(0); i < p.Elements; i++ {
		got := math.Float32frombits(binary.LittleEndian.Uint32(mem[slotY+4*i:]))
		if want := y0(seq) + k*saxpyAlpha*float32(i%saxpyXPeriod); got != want {
			return fmt.Errorf("job %d: y[%d] = %v, want %v (%d saxpy DISPATCHes)", seq, i, got, want, len(p.Groups))
		}
	}
	pattern := fillPattern(seq)
	for i := uint64(0); i < p.FillWords; i++ {
		if got := binary.LittleEndian.Uint32(mem[l.z()+4*i:]); got != pattern {
			return fmt.Errorf("job %d: z[%d] = %#x, want the FILL's %#x", seq, i, got, pattern)
		}
	}
	return nil
}
