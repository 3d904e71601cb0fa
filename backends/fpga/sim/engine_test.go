package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// domain drives the backend directly, without the mediator: an I/O address
// space and a context, switched on and off by hand.
type domain struct {
	t    testing.TB
	f    *FPGA
	io   *iommu.Context
	ctx  coproc.Context
	next uint64
}

func newFPGA(t testing.TB, cfg Config) *FPGA {
	t.Helper()
	if cfg.DDRBytes == 0 {
		cfg.DDRBytes, cfg.DDRGranule = 1<<20, 64<<10
	}
	f, err := New(cfg)
	require.NoError(t, err)
	return f
}

func newDomain(t testing.TB, f *FPGA, name string) *domain {
	t.Helper()
	ctx, err := f.Init(name)
	require.NoError(t, err)
	return &domain{t: t, f: f, io: iommu.NewContext(name), ctx: ctx, next: 0x10_0000}
}

func (d *domain) alloc(size uint64) (uint64, []byte) {
	d.t.Helper()
	pages := max((size+iommu.PageSize-1)/iommu.PageSize, 1)
	mem := make([]byte, pages*iommu.PageSize)
	iova := d.next
	require.NoError(d.t, d.io.Map(iova, mem, iommu.ReadWrite))
	d.next += uint64(len(mem)) + iommu.PageSize
	return iova, mem[:size]
}

func (d *domain) on() {
	d.t.Helper()
	d.f.IOMMU().Activate(d.io)
	require.NoError(d.t, d.f.SwitchTo(d.ctx))
}

func (d *domain) off() {
	d.t.Helper()
	retry, err := d.f.SwitchFrom(d.ctx)
	require.NoError(d.t, err)
	require.Zero(d.t, retry)
	d.f.IOMMU().Deactivate()
}

func (d *domain) enqueue(id uint64, cmds ...spec.Command) {
	d.t.Helper()
	require.NoError(d.t, d.f.Enqueue(d.ctx, &coproc.Job{ID: id, Commands: cmds}))
}

// crc queues a CRC32 of n bytes as one job and returns nothing to check:
// the reconfiguration tests look at time, the harness tests at results.
func (d *domain) crc(id, n uint64) {
	src, _ := d.alloc(max(n, 1))
	out, _ := d.alloc(4)
	d.enqueue(id, invokeCmd(spec.AccelCRC32, n, src, out))
}

func (d *domain) fir(id, n uint64) {
	x, _ := d.alloc(2 * max(n, 1))
	h, _ := d.alloc(2 * 8)
	y, _ := d.alloc(8 * max(n, 1))
	d.enqueue(id, invokeCmd(spec.AccelFIR, n, 8, x, h, y))
}

// invokeCmd is the shadow command the scanner makes of an INVOKE.
func invokeCmd(accel uint64, args ...uint64) spec.Command {
	return spec.Command{Op: spec.FPGAOpInvoke, N: 2, Operands: [spec.MaxOperands]uint64{accel, 0}, Args: args}
}

// runIdle runs the active context to Idle and returns the device time used.
func runIdle(t testing.TB, f *FPGA) (time.Duration, []coproc.Event) {
	t.Helper()
	res, err := f.Run(time.Hour)
	require.NoError(t, err)
	require.Equal(t, coproc.Idle, res.State)
	return res.Used, res.Events
}
