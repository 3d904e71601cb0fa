package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

func TestNewDefaults(t *testing.T) {
	g, err := New(Config{})
	require.NoError(t, err)
	assert.Equal(t, DefaultCostModel(), g.CostModel())
	assert.Same(t, spec.ReferenceGPU(), g.Spec())
	assert.NotNil(t, g.IOMMU())
	assert.NotNil(t, g.DeviceMemory())
	assert.Equal(t, "refgpu0", g.IOMMU().Device())

	c := g.Caps()
	assert.Equal(t, coproc.Workgroup, c.Preemption)
	assert.Equal(t, 20*time.Microsecond, c.SwitchCost)
	// The longest segment is one sgemm workgroup at the limits: a row of C
	// with k = n = 4096 reads a row of A, all of B, and writes a row of C.
	const dim = 4096
	m := DefaultCostModel()
	row := m.LaunchCycles + m.transfer(4*(dim+dim*dim+dim)) + m.compute(2*dim*dim)
	assert.Equal(t, time.Duration(row), c.MaxNonPreemptible)
	assert.Greater(t, row, m.IssueCycles+m.transfer(64<<20), "larger than the largest COPY")
	assert.Equal(t, uint64(spec.RefGPUCapsPreemptWorkgroup), g.ReadReg(spec.RegCaps)&spec.RefGPUCapsPreemptWorkgroup)
}

func TestCapsCommandBoundary(t *testing.T) {
	g := newGPU(t, Config{Preemption: coproc.CommandBoundary})
	c := g.Caps()
	assert.Equal(t, coproc.CommandBoundary, c.Preemption)
	// A whole sgemm at the limits: 4096 rows, and launches up to the
	// workgroup limit.
	const dim = 4096
	m := DefaultCostModel()
	row := m.LaunchCycles + m.transfer(4*(dim+dim*dim+dim)) + m.compute(2*dim*dim)
	want := m.IssueCycles + dim*row + (spec.RefGPUMaxGroups-dim)*m.LaunchCycles
	assert.Equal(t, time.Duration(want), c.MaxNonPreemptible)
	assert.Zero(t, g.ReadReg(spec.RegCaps)&spec.RefGPUCapsPreemptWorkgroup, "CAPS says no workgroup preemption")
}

func TestCapsSlowClock(t *testing.T) {
	m := DefaultCostModel()
	m.ClockHz = 3 // three cycles a second: durations round up
	m.SwitchCycles = 4
	g := newGPU(t, Config{Cost: m})
	assert.Equal(t, 1333333334*time.Nanosecond, g.Caps().SwitchCost)
	assert.Equal(t, uint64(3), g.Cycles(time.Second))
	assert.Equal(t, uint64(0), g.Cycles(-time.Second))
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"instruction preemption", Config{Preemption: coproc.Instruction}, "coproc.Workgroup or coproc.CommandBoundary"},
		{"no clock", Config{Cost: CostModel{BytesPerCycle: 1, FlopsPerCycle: 1}}, "ClockHz is 0"},
		{"no bandwidth", Config{Cost: CostModel{ClockHz: 1e9, FlopsPerCycle: 1}}, "BytesPerCycle is 0"},
		{"no flops", Config{Cost: CostModel{ClockHz: 1e9, BytesPerCycle: 1}}, "FlopsPerCycle is 0"},
		{"huge launch", Config{Cost: CostModel{ClockHz: 1e9, BytesPerCycle: 1, FlopsPerCycle: 1, LaunchCycles: 1 << 40}}, "LaunchCycles"},
		{"granule over VRAM", Config{VRAMBytes: 64 << 10, VRAMGranule: 1 << 20}, "larger than the VRAM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, g)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := New(Config{VRAMBytes: 100 << 10, VRAMGranule: 64 << 10})
	assert.ErrorIs(t, err, iommu.ErrInvalidArgument, "the device memory's own checks")
	assert.ErrorContains(t, err, "sim: device memory of 102400 bytes")

	// A partial cost model is taken as given: zero additive costs are fine.
	g, err := New(Config{VRAMBytes: 1 << 20, Cost: CostModel{ClockHz: 1e9, BytesPerCycle: 1, FlopsPerCycle: 1}})
	require.NoError(t, err)
	assert.Zero(t, g.Caps().SwitchCost)
}

func TestRegisters(t *testing.T) {
	g := newGPU(t, Config{})
	assert.Equal(t, uint64(spec.RefGPUID), g.ReadReg(spec.RegID))
	assert.Equal(t, uint64(1), g.ReadReg(spec.RegClockCtrl), "reset value")
	assert.Equal(t, uint64(1), g.ReadReg(spec.RegPower), "reset value")
	assert.Zero(t, g.ReadReg(spec.RegUser0+8*7))

	g.WriteReg(spec.RegUser0+8*7, ^uint64(0))
	assert.Equal(t, ^uint64(0), g.ReadReg(spec.RegUser0+8*7))
	g.WriteReg(spec.RegClockCtrl, 0xdead_beef_0000_0002)
	assert.Equal(t, uint64(2), g.ReadReg(spec.RegClockCtrl), "a 32-bit register keeps its mask")
	g.WriteReg(spec.RegPTBase, 0x1234_5000)
	assert.Equal(t, uint64(0x1234_5000), g.ReadReg(spec.RegPTBase))

	g.WriteReg(spec.RegID, 0)
	assert.Equal(t, uint64(spec.RefGPUID), g.ReadReg(spec.RegID), "identification is read-only")
	for _, off := range []uint32{spec.RegRingBase, spec.RegDoorbell, 0x0FFC, 0x1000, 0xFFFF_FFFF, spec.RegUser0 + 4} {
		g.WriteReg(off, 5)
		assert.Zero(t, g.ReadReg(off), "offset 0x%x is not in the hardware file", off)
	}
}

func TestCopyFillFence(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	const size = 200 << 10 // several 64 KiB chunks
	src, smem := d.alloc(size)
	for i := range smem {
		smem[i] = byte(i*7 + i>>8)
	}
	dst, dmem := d.alloc(size)
	fence, fmem := d.alloc(8)
	fill, fillMem := d.alloc(4 * 1000)
	d.on()
	d.enqueue(1,
		cmd(spec.OpCopy, dst, src, size),
		cmd(spec.OpFill, fill+4, 998, 0xA1B2C3D4),
		cmd(spec.OpFence, fence, 42),
	)
	ev, used := runIdle(t, g, time.Hour)
	assert.Equal(t, []coproc.Event{{Kind: coproc.EventFence, Job: 1, Value: 42}, {Kind: coproc.EventJobDone, Job: 1}}, untimed(ev))
	assert.Equal(t, smem, dmem)
	assert.Equal(t, uint64(42), u64(fmem))
	assert.Equal(t, []byte{0, 0, 0, 0}, fillMem[:4])
	assert.Equal(t, []byte{0xD4, 0xC3, 0xB2, 0xA1}, fillMem[4:8])
	assert.Equal(t, []byte{0xD4, 0xC3, 0xB2, 0xA1}, fillMem[4*998:4*999])
	assert.Equal(t, []byte{0, 0, 0, 0}, fillMem[4*999:])
	c := g.cost
	assert.Equal(t, time.Duration(3*c.IssueCycles+c.transfer(size)+c.transfer(4*998)+c.transfer(8)), used)
}

func TestCopyOverlapping(t *testing.T) {
	const size = 400 << 10
	for _, shift := range []int64{4099, -4099, 70 << 10, -(70 << 10), 1, -1} {
		g := newGPU(t, Config{})
		d := newDomain(t, g, "a")
		base, mem := d.alloc(size)
		for i := range mem {
			mem[i] = byte(i ^ i>>8 ^ i>>16)
		}
		const n = 200 << 10
		from := uint64(100 << 10)
		to := uint64(int64(from) + shift)
		want := append([]byte(nil), mem...)
		copy(want[to:to+n], want[from:from+n]) // Go's copy is memmove
		d.on()
		d.enqueue(1, cmd(spec.OpCopy, base+to, base+from, n))
		runIdle(t, g, time.Hour)
		assert.Equal(t, want, mem, "shift %d", shift)
	}
}

func TestWait(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	word, wmem := d.alloc(8)
	fence, fmem := d.alloc(8)
	d.on()
	d.enqueue(1, cmd(spec.OpWait, word, 5), cmd(spec.OpFence, fence, 9))
	c := g.cost

	res, err := g.Run(time.Hour)
	require.NoError(t, err)
	assert.Equal(t, coproc.Blocked, res.State)
	assert.Empty(t, res.Events)
	assert.Equal(t, time.Duration(c.IssueCycles+c.PollCycles), res.Used, "issue and one poll")
	assert.False(t, res.Progressed, "a run that only polled completed nothing")
	assert.Equal(t, 1, g.Pending(d.ctx))

	wmem[0] = 4 // still below 5
	res, err = g.Run(time.Hour)
	require.NoError(t, err)
	assert.Equal(t, coproc.Blocked, res.State)
	assert.Equal(t, time.Duration(c.PollCycles), res.Used, "one poll; the issue is not charged again")

	res, err = g.Run(0)
	require.NoError(t, err)
	assert.Equal(t, coproc.Preempted, res.State, "no budget: not even a poll")
	assert.Zero(t, res.Used)

	// A blocked context can be switched out and back.
	d.off()
	d.on()
	wmem[0] = 5
	res, err = g.Run(time.Hour)
	require.NoError(t, err)
	assert.Equal(t, coproc.Idle, res.State)
	assert.Equal(t, []coproc.EventKind{coproc.EventFence, coproc.EventJobDone}, kinds(res.Events))
	assert.Equal(t, time.Duration(c.PollCycles+c.IssueCycles+c.transfer(8)), res.Used)
	assert.True(t, res.Progressed)
	assert.Equal(t, uint64(9), u64(fmem))
	assert.Zero(t, g.Pending(d.ctx))

	// A run that completes a command and then blocks has progressed all
	// the same: its write may be what another job waits for.
	d.enqueue(2, cmd(spec.OpFence, fence, 10), cmd(spec.OpWait, word, 6))
	res, err = g.Run(time.Hour)
	require.NoError(t, err)
	assert.Equal(t, coproc.Blocked, res.State)
	assert.True(t, res.Progressed)
	assert.Equal(t, uint64(10), u64(fmem))
}

func TestLoadStoreReg(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	out, omem := d.alloc(8)
	fence, fmem := d.alloc(8)
	user3 := uint64(spec.RegUser0 + 3*8)
	d.on()
	d.enqueue(1, cmd(spec.OpLoadReg, user3, 0x0123_4567_89ab_cdef), cmd(spec.OpStoreReg, user3, out))
	d.enqueue(2, cmd(spec.OpLoadReg, spec.RegPTBase, 0x1000)) // privileged: refused
	d.enqueue(3, cmd(spec.OpStoreReg, spec.RegID, out))       // read-only: refused
	d.enqueue(4, cmd(spec.OpLoadReg, user3+4, 1))             // middle of a register: refused
	d.enqueue(5, cmd(spec.OpLoadReg, 1<<40, 1))               // far outside the window
	d.enqueue(6, cmd(spec.OpFence, fence, 6))
	ev, _ := runIdle(t, g, time.Hour)

	assert.Equal(t, uint64(0x0123_4567_89ab_cdef), u64(omem))
	assert.Equal(t, uint64(0x0123_4567_89ab_cdef), g.ReadReg(uint32(user3)))
	assert.Zero(t, g.ReadReg(spec.RegPTBase), "the privileged register is untouched")
	require.Len(t, ev, 7)
	assert.Equal(t, coproc.Event{Kind: coproc.EventJobDone, Job: 1}, untimed(ev)[0])
	for i, id := range []uint64{2, 3, 4, 5} {
		e := ev[1+i]
		assert.Equal(t, coproc.EventJobFailed, e.Kind)
		assert.Equal(t, id, e.Job)
		assert.ErrorIs(t, e.Err, ErrBadCommand)
	}
	assert.Contains(t, ev[1].Err.Error(), "PT_BASE (privileged)")
	assert.Equal(t, []coproc.EventKind{coproc.EventFence, coproc.EventJobDone}, kinds(ev[5:]))
	assert.Equal(t, uint64(6), u64(fmem))
}

func TestBadCommandsFailTheJob(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	buf, _ := d.alloc(4096)
	fence, fmem := d.alloc(8)
	bad := []spec.Command{
		cmd(spec.OpSetPTBase, 0x1000),
		cmd(spec.OpInvalidateTLB),
		cmd(0x99),
		cmd(spec.OpFence, fence),             // operand missing
		cmd(spec.OpFence, fence+4, 1),        // misaligned
		cmd(spec.OpCopy, buf, buf, 64<<20+1), // over the limit
		cmd(spec.OpFill, ^uint64(0)-3, 2, 0), // wraps around
		dispatch(99, 1),                      // unknown kernel
		dispatch(spec.KernelSaxpy, 1<<20+1, 1, 0, buf, buf),
		dispatch(spec.KernelSaxpy, 1, 1, 0, buf), // argument missing
		dispatch(spec.KernelSaxpy, 1, 1<<24+1, 0, buf, buf),
		dispatch(spec.KernelLocalRead, 1, 4097, buf), // beyond local memory
		dispatch(spec.KernelSgemm, 1, 4097, 1, 1, buf, buf, buf),
	}
	for i, c := range bad {
		d.enqueue(uint64(i), cmd(spec.OpNop), c, cmd(spec.OpFence, fence, 1))
	}
	d.enqueue(100, cmd(spec.OpFence, fence, 2))
	d.on()
	ev, _ := runIdle(t, g, time.Hour)
	require.Len(t, ev, len(bad)+2)
	for i := range bad {
		assert.Equal(t, coproc.EventJobFailed, ev[i].Kind, "command %d", i)
		assert.Equal(t, uint64(i), ev[i].Job)
		assert.ErrorIs(t, ev[i].Err, ErrBadCommand, "command %d", i)
		assert.Contains(t, ev[i].Err.Error(), "command 1", "the error names the command")
	}
	assert.Equal(t, []coproc.EventKind{coproc.EventFence, coproc.EventJobDone}, kinds(ev[len(bad):]))
	assert.Equal(t, uint64(2), u64(fmem), "no failed job reached its fence")
}

func TestDMAFaultAbortsOnlyThatJob(t *testing.T) {
	g := newGPU(t, Config{})
	a, b := newDomain(t, g, "a"), newDomain(t, g, "b")
	const n = 2048 // y spans two pages, 16 workgroups each
	x, y := randFloats(4, n), randFloats(5, n)
	xa, _ := a.floats(x)
	ya, ymem := a.floats(y)
	gone, _ := a.alloc(4096)
	fa, fmem := a.alloc(8)
	bFence, bmem := b.alloc(8)

	// The audit saw these buffers mapped; the guest unmaps them afterwards.
	a.enqueue(1, cmd(spec.OpCopy, ya, gone, 16), cmd(spec.OpFence, fa, 1))
	a.enqueue(2, dispatch(spec.KernelSaxpy, n/64, n, f32bits(1), xa, ya), cmd(spec.OpFence, fa, 2))
	a.enqueue(3, cmd(spec.OpFence, fa, 3))
	require.NoError(t, a.io.Unmap(gone, 4096))

	a.on()
	res, err := g.Run(1) // the COPY faults: job 1 fails; job 2 is next
	require.NoError(t, err)
	assert.Equal(t, coproc.Preempted, res.State)
	require.Len(t, res.Events, 1)
	assert.Equal(t, coproc.EventJobFailed, res.Events[0].Kind)
	assert.Equal(t, uint64(1), res.Events[0].Job)
	f, ok := res.Events[0].Err.(*iommu.Fault)
	require.True(t, ok, "Err is the *iommu.Fault itself, got %T", res.Events[0].Err)
	assert.ErrorIs(t, f, iommu.ErrNotMapped)
	assert.Equal(t, gone, f.IOVA)
	assert.Equal(t, iommu.Read, f.Access)
	assert.Equal(t, "a", f.Domain)
	assert.Equal(t, "refgpu0", f.Device)
	assert.Zero(t, u64(fmem), "the failed job's fence never ran")
	assert.Equal(t, y, testutil.GetFloats(ymem), "nothing was copied")

	// The dispatch runs a few workgroups and is preempted; meanwhile b runs
	// and the guest of a unmaps the second page of y.
	res, err = g.Run(time.Microsecond)
	require.NoError(t, err)
	require.Equal(t, coproc.Preempted, res.State)
	require.Empty(t, res.Events)
	a.off()
	require.NoError(t, a.io.Unmap(ya+4096, 4096))

	b.on()
	b.enqueue(1, cmd(spec.OpFence, bFence, 11))
	ev, _ := runIdle(t, g, time.Hour)
	assert.Equal(t, []coproc.EventKind{coproc.EventFence, coproc.EventJobDone}, kinds(ev), "b is not affected")
	assert.Equal(t, uint64(11), u64(bmem))
	b.off()

	a.on()
	ev, _ = runIdle(t, g, time.Hour)
	require.Len(t, ev, 3)
	assert.Equal(t, coproc.EventJobFailed, ev[0].Kind)
	assert.Equal(t, uint64(2), ev[0].Job)
	require.ErrorAs(t, ev[0].Err, &f)
	assert.Equal(t, ya+4096, f.IOVA, "workgroup 16 is the first to touch the unmapped page")
	assert.Equal(t, []coproc.Event{{Kind: coproc.EventFence, Job: 3, Value: 3}, {Kind: coproc.EventJobDone, Job: 3}}, untimed(ev[1:]))
	assert.Equal(t, uint64(3), u64(fmem))

	want := saxpyRef(1, x, y)
	got := testutil.GetFloats(ymem)
	assert.Equal(t, want[:n/2], got[:n/2], "the workgroups before the fault completed")
	assert.Equal(t, y[n/2:], got[n/2:], "nothing past the fault was written")
}

// TestEventsAreTimedWithinTheRun: each event carries the device time at
// which it happened, in order and within the run's Used.
func TestEventsAreTimedWithinTheRun(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	dst, _ := d.alloc(1 << 20)
	fence, _ := d.alloc(8)
	d.enqueue(1, cmd(spec.OpFence, fence, 1))
	d.enqueue(2, cmd(spec.OpFill, dst, 1<<18, 7), cmd(spec.OpFence, fence, 2))
	d.on()
	res, err := g.Run(time.Second)
	require.NoError(t, err)
	require.Len(t, res.Events, 4)
	for i := 1; i < len(res.Events); i++ {
		assert.LessOrEqual(t, res.Events[i-1].At, res.Events[i].At)
	}
	assert.Less(t, res.Events[1].At, res.Events[2].At, "job 1 ended before the fill")
	assert.Greater(t, res.Events[2].At-res.Events[1].At, 16*time.Microsecond, "1 MiB at 64 B/cycle")
	assert.LessOrEqual(t, res.Events[3].At, res.Used)
}
