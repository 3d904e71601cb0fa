package demo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/spec"
)

// cluster drives the command ring: it writes a saxpy dispatch and a fence
// into its ring, advances RING_TAIL and rings the doorbell, exactly as a
// guest driver programs the reference GPU.
type cluster struct {
	g     *guest
	x, y  []float32
	yMem  []byte
	fence []byte
	elems int
	alpha float32
}

func newCluster() *cluster { return &cluster{elems: 1 << 16, alpha: 3} }

func (c *cluster) guest() *guest { return c.g }

func (c *cluster) start(m *mediator.Mediator) error {
	g, err := newGuest(m, "cluster", 0)
	if err != nil {
		return err
	}
	c.g = g
	c.x = make([]float32, c.elems)
	c.y = make([]float32, c.elems)
	for i := range c.x {
		c.x[i] = float32(i%1000) * 0.25
		c.y[i] = float32(i % 7)
	}
	xIOVA, _, err1 := g.floats(c.x)
	yIOVA, yMem, err2 := g.floats(c.y)
	args, err3 := g.words(uint64(c.elems), f32bits(c.alpha), xIOVA, yIOVA)
	fenceIOVA, fence, err4 := g.alloc(8)
	ringIOVA, ring, err5 := g.alloc(4096)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return err
	}
	c.yMem, c.fence = yMem, fence
	var cmds []uint64
	cmds = spec.Encode(cmds, spec.OpDispatch, spec.KernelSaxpy, uint64(c.elems/spec.RefGPUWorkgroupSize), args)
	cmds = spec.Encode(cmds, spec.OpFence, fenceIOVA, 1)
	for i, w := range cmds {
		binary.LittleEndian.PutUint64(ring[8*i:], w)
	}
	for _, r := range []struct {
		off  uint32
		size uint8
		v    uint64
	}{
		{spec.RegRingBase, 8, ringIOVA},
		{spec.RegRingSize, 4, 4096},
		{spec.RegRingTail, 4, uint64(8 * len(cmds))},
		{spec.RegDoorbell, 4, 1},
	} {
		if _, err := g.vc.Access(r.off, r.size, true, r.v); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) check() DomainResult {
	d := DomainResult{Name: "cluster", Work: fmt.Sprintf("saxpy y = %gx + y, %d elements", c.alpha, c.elems), Door: "ring + doorbell"}
	got := readFloats(c.yMem, c.elems)
	var worst float64
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i]-(c.alpha*c.x[i]+c.y[i]))))
	}
	fence := binary.LittleEndian.Uint64(c.fence)
	d.OK = worst == 0 && fence == 1
	d.Detail = fmt.Sprintf("max error %g, fence %d", worst, fence)
	return d
}

// ivi multiplies matrices in device memory: it copies A and B from its own
// memory into its slice of the GPU's memory, runs sgemm there, and copies C
// back, all in one submitted buffer.
type ivi struct {
	g    *guest
	dim  int
	a, b []float32
	cMem []byte
}

func newIVI() *ivi { return &ivi{dim: 96} }

func (v *ivi) guest() *guest { return v.g }

func (v *ivi) start(m *mediator.Mediator) error {
	g, err := newGuest(m, "ivi", 4<<20)
	if err != nil {
		return err
	}
	v.g = g
	n := v.dim
	v.a = make([]float32, n*n)
	v.b = make([]float32, n*n)
	for i := range v.a {
		v.a[i] = float32(i%11) - 5
		v.b[i] = float32(i%13) * 0.5
	}
	bytes := uint64(4 * n * n)
	aHost, _, err1 := g.floats(v.a)
	bHost, _, err2 := g.floats(v.b)
	cHost, cMem, err3 := g.alloc(bytes)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	v.cMem = cMem
	const vram = 0x40_0000_0000 // where the guest maps its device memory
	if err := g.vc.AllocDeviceMemory(vram, 3*bytes, iommu.ReadWrite); err != nil {
		return err
	}
	aDev, bDev, cDev := uint64(vram), vram+bytes, vram+2*bytes
	args, err := g.words(uint64(n), uint64(n), uint64(n), aDev, bDev, cDev)
	if err != nil {
		return err
	}
	var cmds []uint64
	cmds = spec.Encode(cmds, spec.OpCopy, aDev, aHost, bytes)
	cmds = spec.Encode(cmds, spec.OpCopy, bDev, bHost, bytes)
	cmds = spec.Encode(cmds, spec.OpDispatch, spec.KernelSgemm, uint64(n), args)
	cmds = spec.Encode(cmds, spec.OpCopy, cHost, cDev, bytes)
	_, err = g.vc.Submit(cmds)
	return err
}

func (v *ivi) check() DomainResult {
	n := v.dim
	d := DomainResult{Name: "ivi", Work: fmt.Sprintf("sgemm %d×%d×%d in device memory", n, n, n), Door: "submit"}
	got := readFloats(v.cMem, n*n)
	var worst float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for k := 0; k < n; k++ {
				s += v.a[i*n+k] * v.b[k*n+j]
			}
			worst = math.Max(worst, math.Abs(float64(got[i*n+j]-s)))
		}
	}
	d.OK = worst <= 1e-3
	d.Detail = fmt.Sprintf("max error %g", worst)
	return d
}

// adas sums a vector with the reduce_sum kernel. The values are small
// integers, so the float32 sum is exact and checkable to the last bit.
type adas struct {
	g     *guest
	x     []float32
	out   []byte
	elems int
}

func newADAS() *adas { return &adas{elems: 1 << 16} }

func (a *adas) guest() *guest { return a.g }

func (a *adas) start(m *mediator.Mediator) error {
	g, err := newGuest(m, "adas", 0)
	if err != nil {
		return err
	}
	a.g = g
	a.x = make([]float32, a.elems)
	for i := range a.x {
		a.x[i] = float32(i % 16)
	}
	xIOVA, _, err1 := g.floats(a.x)
	outIOVA, out, err2 := g.floats([]float32{0})
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	a.out = out
	args, err := g.words(uint64(a.elems), xIOVA, outIOVA)
	if err != nil {
		return err
	}
	_, err = g.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelReduceSum, uint64(a.elems/spec.RefGPUWorkgroupSize), args))
	return err
}

func (a *adas) check() DomainResult {
	d := DomainResult{Name: "adas", Work: fmt.Sprintf("reduce-sum of %d elements", a.elems), Door: "submit"}
	var want float64
	for _, v := range a.x {
		want += float64(v)
	}
	got := float64(readFloats(a.out, 1)[0])
	d.OK = got == want
	d.Detail = fmt.Sprintf("sum %g (CPU %g)", got, want)
	return d
}
