package mediator

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// rig is a mediator with one reference GPU under round-robin and a
// virtual clock: the in-process door of DESIGN.md.
type rig struct {
	t   testing.TB
	clk *clock.Virtual // nil under withRealClock
	m   *Mediator
	gpu *sim.GPU
	dev *Device
}

type rigOption func(*Config, *sim.Config, *time.Duration)

func withPreemption(g coproc.Granularity) rigOption {
	return func(_ *Config, s *sim.Config, _ *time.Duration) { s.Preemption = g }
}

func withWatchdog(d time.Duration) rigOption {
	return func(c *Config, _ *sim.Config, _ *time.Duration) { c.WatchdogLimit = d }
}

// withRealClock makes the mediator read the host's clock: the daemon's
// configuration, for tests that run the device with Device.Run.
func withRealClock() rigOption {
	return func(c *Config, _ *sim.Config, _ *time.Duration) { c.Clock = clock.NewReal() }
}

func withVRAM(size uint64) rigOption {
	return func(_ *Config, s *sim.Config, _ *time.Duration) { s.VRAMBytes = size }
}

func withSlice(d time.Duration) rigOption {
	return func(_ *Config, _ *sim.Config, s *time.Duration) { *s = d }
}

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	clk := clock.NewVirtual()
	cfg := Config{Clock: clk}
	scfg := sim.Config{VRAMBytes: 4 << 20, VRAMGranule: 64 << 10}
	slice := 100 * time.Microsecond
	for _, o := range opts {
		o(&cfg, &scfg, &slice)
	}
	m, err := New(cfg)
	require.NoError(t, err)
	if cfg.Clock != clock.Clock(clk) {
		clk = nil
	}
	gpu, err := sim.New(scfg)
	require.NoError(t, err)
	caps := gpu.Caps()
	rr, err := scheduler.NewRoundRobin(slice, scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible})
	require.NoError(t, err)
	dev, err := m.AddDevice("gpu0", gpu, rr)
	require.NoError(t, err)
	return &rig{t: t, clk: clk, m: m, gpu: gpu, dev: dev}
}

// runDevice drives the rig's device with Device.Run, as the daemon does,
// until the test ends (withRealClock).
func (r *rig) runDevice() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.dev.Run(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		require.NoError(r.t, <-done, "Device.Run")
	})
}

func (r *rig) run() {
	r.t.Helper()
	require.NoError(r.t, r.dev.RunUntilIdle(r.clk, time.Minute))
}

// guest is a domain as a guest driver sees it: memory it maps into its
// address space and a vcoproc on the rig's GPU.
type guest struct {
	t    testing.TB
	r    *rig
	dom  *Domain
	vc   *VCoproc
	next uint64
	// ring state, when the guest uses the ring
	ringIOVA uint64
	ring     []byte
	tail     uint64
}

func (r *rig) guest(name string, quota uint64) *guest {
	r.t.Helper()
	dom, err := r.m.CreateDomain(name)
	require.NoError(r.t, err)
	vc, err := r.m.Attach(name, "gpu0", VCoprocConfig{MemoryQuota: quota})
	require.NoError(r.t, err)
	return &guest{t: r.t, r: r, dom: dom, vc: vc, next: 0x10_0000}
}

// alloc maps a fresh page-rounded buffer with perm, followed by an unmapped
// guard page, and returns its IOVA and memory.
func (g *guest) alloc(size uint64, perm iommu.Perm) (uint64, []byte) {
	g.t.Helper()
	pages := max((size+iommu.PageSize-1)/iommu.PageSize, 1)
	mem := make([]byte, pages*iommu.PageSize)
	iova := g.next
	require.NoError(g.t, g.dom.Map(iova, mem, perm))
	g.next += uint64(len(mem)) + iommu.PageSize
	return iova, mem
}

func (g *guest) floats(v []float32) (uint64, []byte) {
	iova, mem := g.alloc(4*uint64(len(v)), iommu.ReadWrite)
	for i, f := range v {
		binary.LittleEndian.PutUint32(mem[4*i:], math.Float32bits(f))
	}
	return iova, mem
}

func (g *guest) words(v ...uint64) uint64 {
	iova, mem := g.alloc(8*uint64(len(v)), iommu.ReadWrite)
	for i, w := range v {
		binary.LittleEndian.PutUint64(mem[8*i:], w)
	}
	return iova
}

func (g *guest) write(off uint32, size uint8, v uint64) {
	g.t.Helper()
	_, err := g.vc.Access(off, size, true, v)
	require.NoError(g.t, err)
}

func (g *guest) read(off uint32, size uint8) uint64 {
	g.t.Helper()
	v, err := g.vc.Access(off, size, false, 0)
	require.NoError(g.t, err)
	return v
}

// setupRing maps a ring of size bytes and programs RING_BASE/RING_SIZE.
func (g *guest) setupRing(size uint64) {
	g.ringIOVA, g.ring = g.alloc(size, iommu.Read|iommu.Write)
	g.ring = g.ring[:size]
	g.write(spec.RegRingBase, 8, g.ringIOVA)
	g.write(spec.RegRingSize, 4, size)
}

// push writes a command buffer into the ring at the tail, wrapping, and
// advances RING_TAIL; kick rings the doorbell.
func (g *guest) push(words []uint64) {
	for _, w := range words {
		binary.LittleEndian.PutUint64(g.ring[g.tail:], w)
		g.tail = (g.tail + 8) % uint64(len(g.ring))
	}
	g.write(spec.RegRingTail, 4, g.tail)
}

func (g *guest) kick() { g.write(spec.RegDoorbell, 4, 1) }

func f32(v float32) uint64 { return uint64(math.Float32bits(v)) }

func getFloats(b []byte, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func eventsOf(evs []Event, k EventKind) []Event {
	var out []Event
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
