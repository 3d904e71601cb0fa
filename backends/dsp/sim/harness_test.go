package sim

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/clock"
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
	putFloats(mem, v)
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

func putFloats(b []byte, v []float32) {
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
}

func getFloats(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// lcg is a tiny deterministic generator of test data.
type lcg uint64

func (r *lcg) float() float32 {
	*r = *r*6364136223846793005 + 1442695040888963407
	return float32(uint64(*r)>>40) / float32(1<<24)
}

func randFloats(seed uint64, n int) []float32 {
	r := lcg(seed)
	v := make([]float32, n)
	for i := range v {
		v[i] = r.float()*2 - 1
	}
	return v
}

// Naive references, written from the definitions in spec/refdsp.go and
// independent of the DSP's implementations.

func naiveFIR(h, x []float32) []float32 {
	y := make([]float32, len(x))
	for n := range x {
		var acc float32
		for k := 0; k < len(h) && k <= n; k++ {
			acc += float32(h[k] * x[n-k])
		}
		y[n] = acc
	}
	return y
}

// naiveDFT computes the DFT of interleaved complex samples in float64.
func naiveDFT(x []float32, inverse bool) []float64 {
	n := len(x) / 2
	out := make([]float64, 2*n)
	sign := -1.0
	if inverse {
		sign = 1
	}
	for k := range n {
		var re, im float64
		for t := range n {
			s, c := math.Sincos(sign * 2 * math.Pi * float64((k*t)%n) / float64(n))
			xr, xi := float64(x[2*t]), float64(x[2*t+1])
			re += xr*c - xi*s
			im += xr*s + xi*c
		}
		if inverse {
			re, im = re/float64(n), im/float64(n)
		}
		out[2*k], out[2*k+1] = re, im
	}
	return out
}

// fftTolerance bounds the float32 FFT's error against the exact DFT for
// inputs in [-1, 1]: outputs grow like sqrt(n), rounding like log2(n).
func fftTolerance(n int) float64 {
	return 4e-7 * math.Sqrt(float64(n)) * math.Log2(float64(n)) * 4
}

func naiveMix(gains, x []float32) []float32 {
	c := len(gains)
	y := make([]float32, len(x)/c)
	for f := range y {
		var acc float32
		for ch := 0; ch < c; ch++ {
			acc += float32(gains[ch] * x[f*c+ch])
		}
		y[f] = float32(math.Max(-1, math.Min(1, float64(acc))))
	}
	return y
}

func maxAbsDiff(got []float32, want []float64) float64 {
	var worst float64
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i])-want[i]))
	}
	return worst
}
