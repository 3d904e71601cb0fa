package sim

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// rig is a mediator with one reference DSP under round-robin and a virtual
// clock: the in-process door of DESIGN.md, as mediator/rig_test.go builds
// it for the GPU.
type rig struct {
	t   testing.TB
	clk *clock.Virtual
	m   *mediator.Mediator
	dsp *DSP
	dev *mediator.Device
}

func newRig(t testing.TB, cfg Config, slice time.Duration) *rig {
	t.Helper()
	clk := clock.NewVirtual()
	m, err := mediator.New(mediator.Config{Clock: clk})
	require.NoError(t, err)
	d, err := New(cfg)
	require.NoError(t, err)
	caps := d.Caps()
	rr, err := scheduler.NewRoundRobin(slice, scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible})
	require.NoError(t, err)
	dev, err := m.AddDevice("dsp0", d, rr)
	require.NoError(t, err)
	return &rig{t: t, clk: clk, m: m, dsp: d, dev: dev}
}

func (r *rig) run() {
	r.t.Helper()
	require.NoError(r.t, r.dev.RunUntilIdle(r.clk, time.Minute))
}

// guest is a domain as a guest driver sees it: memory it maps into its
// address space and a vcoproc (a session) on the rig's DSP.
type guest struct {
	t    testing.TB
	r    *rig
	dom  *mediator.Domain
	vc   *mediator.VCoproc
	next uint64
}

func (r *rig) guest(name string, tcmQuota uint64) *guest {
	r.t.Helper()
	dom, err := r.m.CreateDomain(name)
	require.NoError(r.t, err)
	vc, err := r.m.Attach(name, "dsp0", mediator.VCoprocConfig{MemoryQuota: tcmQuota})
	require.NoError(r.t, err)
	return &guest{t: r.t, r: r, dom: dom, vc: vc, next: 0x10_0000}
}

// alloc maps a fresh page-rounded buffer with perm, followed by an unmapped
// guard page, and returns its IOVA and memory (size bytes long).
func (g *guest) alloc(size uint64, perm iommu.Perm) (uint64, []byte) {
	g.t.Helper()
	pages := max((size+iommu.PageSize-1)/iommu.PageSize, 1)
	mem := make([]byte, pages*iommu.PageSize)
	iova := g.next
	require.NoError(g.t, g.dom.Map(iova, mem, perm))
	g.next += uint64(len(mem)) + iommu.PageSize
	return iova, mem[:size]
}

func (g *guest) floats(v []float32) (uint64, []byte) {
	iova, mem := g.alloc(4*uint64(len(v)), iommu.ReadWrite)
	testutil.PutFloats(mem, v)
	return iova, mem
}

// args maps an argument block.
func (g *guest) args(v ...uint64) uint64 {
	iova, mem := g.alloc(8*uint64(len(v)), iommu.Read)
	for i, w := range v {
		binary.LittleEndian.PutUint64(mem[8*i:], w)
	}
	return iova
}

func (g *guest) submit(words []uint64) uint64 {
	g.t.Helper()
	id, err := g.vc.Submit(words)
	require.NoError(g.t, err)
	return id
}

func (g *guest) read(off uint32, size uint8) uint64 {
	g.t.Helper()
	v, err := g.vc.Access(off, size, false, 0)
	require.NoError(g.t, err)
	return v
}

// firCall maps x, h and an output buffer and returns the CALL's words and
// the output memory.
func (g *guest) firCall(h, x []float32) ([]uint64, []byte) {
	xa, _ := g.floats(x)
	ha, _ := g.floats(h)
	ya, y := g.alloc(4*uint64(len(x)), iommu.ReadWrite)
	n := 4 * uint64(len(x))
	return call(spec.DSPServiceFIR, xa, n, ya, n, g.args(uint64(len(h)), uint64(len(x)), ha)), y
}

func (g *guest) fftCall(x []float32, inverse bool) ([]uint64, []byte) {
	xa, _ := g.floats(x)
	n := uint64(len(x))
	ya, y := g.alloc(4*n, iommu.ReadWrite)
	inv := uint64(0)
	if inverse {
		inv = 1
	}
	return call(spec.DSPServiceFFT, xa, 4*n, ya, 4*n, g.args(n/2, inv)), y
}

func (g *guest) mixCall(gains, x []float32) ([]uint64, []byte) {
	xa, _ := g.floats(x)
	ga, _ := g.floats(gains)
	frames := uint64(len(x) / len(gains))
	ya, y := g.alloc(4*frames, iommu.ReadWrite)
	return call(spec.DSPServiceMix, xa, 4*uint64(len(x)), ya, 4*frames, g.args(uint64(len(gains)), frames, ga)), y
}

func call(svc, in, inLen, out, outLen, args uint64) []uint64 {
	return spec.Encode(nil, spec.OpDSPCall, svc, in, inLen, out, outLen, args)
}

func eventsOf(evs []mediator.Event, k mediator.EventKind) []mediator.Event {
	var out []mediator.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
