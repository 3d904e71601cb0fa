package sim

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// domain is a guest of the test: an I/O address space with Go slices mapped
// into it, and its context on the GPU.
type domain struct {
	t    testing.TB
	g    *GPU
	name string
	io   *iommu.Context
	ctx  coproc.Context
	next uint64 // next free IOVA
}

func newGPU(t testing.TB, cfg Config) *GPU {
	t.Helper()
	if cfg.VRAMBytes == 0 {
		cfg.VRAMBytes, cfg.VRAMGranule = 1<<20, 64<<10
	}
	g, err := New(cfg)
	require.NoError(t, err)
	return g
}

func newDomain(t testing.TB, g *GPU, name string) *domain {
	t.Helper()
	ctx, err := g.Init(name)
	require.NoError(t, err)
	return &domain{t: t, g: g, name: name, io: iommu.NewContext(name), ctx: ctx, next: 0x10_0000}
}

// alloc maps a fresh buffer of at least size bytes read-write and returns
// its IOVA and the Go slice behind it (exactly size bytes long). Buffers are
// separated by an unmapped guard page.
func (d *domain) alloc(size uint64) (uint64, []byte) {
	d.t.Helper()
	pages := (size + iommu.PageSize - 1) / iommu.PageSize
	mem := make([]byte, max(pages, 1)*iommu.PageSize)
	iova := d.next
	require.NoError(d.t, d.io.Map(iova, mem, iommu.ReadWrite))
	d.next += uint64(len(mem)) + iommu.PageSize
	return iova, mem[:size]
}

func (d *domain) floats(v []float32) (uint64, []byte) {
	iova, mem := d.alloc(4 * uint64(len(v)))
	testutil.PutFloats(mem, v)
	return iova, mem
}

// on switches d onto the GPU: its IOMMU context, then its engine context.
func (d *domain) on() {
	d.t.Helper()
	d.g.IOMMU().Activate(d.io)
	require.NoError(d.t, d.g.SwitchTo(d.ctx))
}

// off switches d out; it must succeed at once.
func (d *domain) off() {
	d.t.Helper()
	retry, err := d.g.SwitchFrom(d.ctx)
	require.NoError(d.t, err)
	require.Zero(d.t, retry)
	d.g.IOMMU().Deactivate()
}

func (d *domain) enqueue(id uint64, cmds ...spec.Command) {
	d.t.Helper()
	require.NoError(d.t, d.g.Enqueue(d.ctx, &coproc.Job{ID: id, Commands: cmds}))
}

// runIdle runs the active context with the given budget per call until it
// is idle, and returns the events and the total time used.
func runIdle(t testing.TB, g *GPU, budget time.Duration) ([]coproc.Event, time.Duration) {
	t.Helper()
	var events []coproc.Event
	var used time.Duration
	for range 1_000_000 {
		res, err := g.Run(budget)
		require.NoError(t, err)
		events = append(events, res.Events...)
		used += res.Used
		switch res.State {
		case coproc.Idle:
			return events, used
		case coproc.Blocked:
			require.FailNow(t, "blocked", "events so far: %v", events)
		}
	}
	require.FailNow(t, "the context never became idle")
	return nil, 0
}

func cmd(op spec.Opcode, operands ...uint64) spec.Command {
	c := spec.Command{Op: op, N: uint8(len(operands))}
	copy(c.Operands[:], operands)
	return c
}

// dispatch builds a DISPATCH shadow command; the argument block IOVA is
// irrelevant to the engine, which uses the snapshot in Args.
func dispatch(kernel, groups uint64, args ...uint64) spec.Command {
	c := cmd(spec.OpDispatch, kernel, groups, 0x8000_0000)
	c.Args = args
	return c
}

func f32bits(v float32) uint64 { return uint64(math.Float32bits(v)) }

func u64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// kinds lists the kinds of events, for compact assertions.
func kinds(ev []coproc.Event) []coproc.EventKind {
	k := make([]coproc.EventKind, len(ev))
	for i, e := range ev {
		k[i] = e.Kind
	}
	return k
}

// lcg is a tiny deterministic generator of test data.
type lcg uint64

func (r *lcg) float() float32 {
	*r = *r*6364136223846793005 + 1442695040888963407
	return float32(uint64(*r)>>40) / float32(1<<24)
}

func (r *lcg) floats(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.float()*2 - 1
	}
	return v
}

func randFloats(seed uint64, n int) []float32 {
	r := lcg(seed)
	return r.floats(n)
}

// untimed drops the events' offsets, for comparing what happened.
func untimed(ev []coproc.Event) []coproc.Event {
	out := make([]coproc.Event, len(ev))
	for i, e := range ev {
		e.At = 0
		out[i] = e
	}
	return out
}
