package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/internal/dspref"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// session is a domain of the direct tests: an I/O address space and its
// session on the DSP, without the mediator.
type direct struct {
	t    testing.TB
	d    *DSP
	io   *iommu.Context
	ctx  coproc.Context
	next uint64
}

func newDirect(t testing.TB, d *DSP, name string) *direct {
	t.Helper()
	ctx, err := d.Init(name)
	require.NoError(t, err)
	return &direct{t: t, d: d, io: iommu.NewContext(name), ctx: ctx, next: 0x10_0000}
}

func (s *direct) floats(v []float32) uint64 {
	pages := max((4*uint64(len(v))+iommu.PageSize-1)/iommu.PageSize, 1)
	mem := make([]byte, pages*iommu.PageSize)
	testutil.PutFloats(mem, v)
	iova := s.next
	require.NoError(s.t, s.io.Map(iova, mem, iommu.ReadWrite))
	s.next += uint64(len(mem)) + iommu.PageSize
	return iova
}

func (s *direct) on() {
	s.d.IOMMU().Activate(s.io)
	require.NoError(s.t, s.d.SwitchTo(s.ctx))
}

func shadow(op spec.Opcode, operands ...uint64) spec.Command {
	c := spec.Command{Op: op, N: uint8(len(operands))}
	copy(c.Operands[:], operands)
	return c
}

func shadowCall(svc, in, inLen, out, outLen uint64, args ...uint64) spec.Command {
	c := shadow(spec.OpDSPCall, svc, in, inLen, out, outLen, 0x9000_0000)
	c.Args = args
	return c
}

func TestCapsFromTheSpecLimits(t *testing.T) {
	d, err := New(Config{})
	require.NoError(t, err)
	caps := d.Caps()
	assert.Equal(t, coproc.CommandBoundary, caps.Preemption)
	assert.Equal(t, 5*time.Microsecond, caps.SwitchCost)
	// The costliest call: a FIR of 1024 taps over 65536 samples. 2000
	// cycles of dispatch, 256 KiB in + 256 KiB out + 4 KiB of taps at 16
	// B/cycle, 2^26 MACs at 32 per cycle.
	want := time.Duration(2000 + (512<<10+4096)/16 + (1<<26)/32)
	assert.Equal(t, want, caps.MaxNonPreemptible)
	got, err := d.CallCost(spec.DSPServiceFIR, []uint64{1024, 65536, 0})
	require.NoError(t, err)
	assert.Equal(t, want, got)
	for _, k := range d.Spec().Commands.Kernels() {
		args := make([]uint64, len(k.Args))
		for i, a := range k.Args {
			args[i] = a.Max
		}
		c, err := d.CallCost(k.ID, args)
		require.NoError(t, err)
		assert.LessOrEqual(t, c, caps.MaxNonPreemptible, k.Name)
	}
	_, err = d.CallCost(spec.DSPServiceFFT, []uint64{3, 0})
	assert.ErrorContains(t, err, "power of two")
	_, err = d.CallCost(7, nil)
	assert.ErrorContains(t, err, "unknown service 7")

	small, err := New(Config{CallBudget: time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, time.Millisecond, small.Caps().MaxNonPreemptible)
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{MaxSessions: 15}, "MaxSessions 15: the reference DSP holds 1 to 14 sessions"},
		{Config{MaxSessions: -1}, "MaxSessions -1"},
		{Config{CallBudget: -time.Second}, "CallBudget -1s is negative"},
		{Config{MaxQueuedJobs: -2}, "MaxQueuedJobs -2"},
		{Config{Cost: CostModel{CallCycles: 1}}, "ClockHz is 0"},
		{Config{Cost: CostModel{ClockHz: 1, BytesPerCycle: 1, MACsPerCycle: 1, SwitchCycles: 1 << 30}}, "SwitchCycles is 1073741824"},
		{Config{CallBudget: time.Nanosecond, Cost: CostModel{ClockHz: 1000, BytesPerCycle: 1, MACsPerCycle: 1}}, "shorter than one cycle"},
	} {
		_, err := New(c.cfg)
		assert.ErrorContains(t, err, c.want)
	}
}

// Run checks its budget between commands only: a budget of one nanosecond
// still runs one whole call, and the next Run the next one.
func TestRunNeverSplitsACall(t *testing.T) {
	d, err := New(Config{})
	require.NoError(t, err)
	s := newDirect(t, d, "a")
	h, x := dspref.Samples(1, 16), dspref.Samples(2, 1024)
	xa, ha, ya := s.floats(x), s.floats(h), s.floats(make([]float32, 1024))
	c := shadowCall(spec.DSPServiceFIR, xa, 4096, ya, 4096, 16, 1024, ha)
	require.NoError(t, d.Enqueue(s.ctx, &coproc.Job{ID: 1, Commands: []spec.Command{c, c}}))
	s.on()
	cost, err := d.CallCost(spec.DSPServiceFIR, c.Args)
	require.NoError(t, err)

	res, err := d.Run(time.Nanosecond)
	require.NoError(t, err)
	assert.Equal(t, coproc.Preempted, res.State)
	assert.Equal(t, cost, res.Used)
	retry, err := d.SwitchFrom(s.ctx)
	require.NoError(t, err)
	assert.Zero(t, retry, "between calls a session can always be switched out")
	s.on()
	res, err = d.Run(time.Nanosecond)
	require.NoError(t, err)
	assert.Equal(t, coproc.Idle, res.State)
	assert.Equal(t, cost, res.Used)
	require.Len(t, res.Events, 1)
	assert.Equal(t, coproc.EventJobDone, res.Events[0].Kind)
	out := make([]byte, 4096)
	require.NoError(t, s.io.Read(ya, out))
	assert.Equal(t, dspref.FIR(h, x), testutil.GetFloats(out))
}

func TestEnqueueAdmission(t *testing.T) {
	d, err := New(Config{MaxQueuedJobs: 2})
	require.NoError(t, err)
	s := newDirect(t, d, "a")
	nop := []spec.Command{shadow(spec.OpDSPNop)}
	require.NoError(t, d.Enqueue(s.ctx, &coproc.Job{ID: 1, Commands: nop}))
	require.NoError(t, d.Enqueue(s.ctx, &coproc.Job{ID: 2, Commands: nop}))
	err = d.Enqueue(s.ctx, &coproc.Job{ID: 3, Commands: nop})
	assert.ErrorIs(t, err, ErrQueueFull)
	assert.ErrorContains(t, err, "2 jobs queued, the limit is 2")
	assert.Equal(t, 2, d.Pending(s.ctx))

	// Commands the scanner should have refused are refused by the DSP too.
	b := newDirect(t, d, "b")
	for _, c := range []struct {
		cmd  spec.Command
		want string
	}{
		{shadow(spec.OpDSPSetContextBank, 1), "SET_CONTEXT_BANK is privileged"},
		{shadow(0x77), "unknown opcode 0x77"},
		{shadow(spec.OpDSPFence, 0x1000), "FENCE with 1 operands, want 2"},
		{shadow(spec.OpDSPFence, 0x1001, 1), "addr = 0x1001 is not aligned to 8 bytes"},
		{shadow(spec.OpDSPLoadReg, spec.RegDSPClockCtrl, 1), "CLOCK_CTRL (privileged), not a per-session register"},
		{shadow(spec.OpDSPLoadReg, 1<<40, 1), "register 0x10000000000 is no register"},
		{shadowCall(9, 0, 0, 0, 0), "unknown service 9"},
		{shadowCall(spec.DSPServiceFFT, 0, 16, 0, 16, 2), "CALL fft with 1 arguments, want 2"},
		{shadowCall(spec.DSPServiceFIR, 0, 16, 0, 16, 2000, 4, 0), "taps = 2000 is over its limit 1024"},
		{shadowCall(spec.DSPServiceFIR, ^uint64(3), 16, 0, 16, 1, 4, 0), "wraps around the address space"},
	} {
		err := d.Enqueue(b.ctx, &coproc.Job{ID: 9, Commands: []spec.Command{shadow(spec.OpDSPNop), c.cmd}})
		assert.ErrorIs(t, err, ErrBadCommand, c.want)
		assert.ErrorContains(t, err, "job 9 command 1: ")
		assert.ErrorContains(t, err, c.want)
	}
	assert.Zero(t, d.Pending(b.ctx))
	assert.Error(t, d.Enqueue(b.ctx, nil))
}

// The DSP checks every command again when it runs it: a job changed after
// admission fails cleanly instead of running anything unchecked.
func TestRunRechecksCommands(t *testing.T) {
	d, err := New(Config{})
	require.NoError(t, err)
	s := newDirect(t, d, "a")
	xa := s.floats(make([]float32, 16))
	job := &coproc.Job{ID: 4, Commands: []spec.Command{shadowCall(spec.DSPServiceFFT, xa, 64, xa+iommu.PageSize*2, 64, 8, 0)}}
	require.NoError(t, d.Enqueue(s.ctx, job))
	job.Commands[0].Args[0] = 6
	s.on()
	res, err := d.Run(time.Second)
	require.NoError(t, err)
	require.Len(t, res.Events, 1)
	assert.Equal(t, coproc.EventJobFailed, res.Events[0].Kind)
	assert.ErrorIs(t, res.Events[0].Err, ErrBadCommand)
	assert.ErrorContains(t, res.Events[0].Err, "n=6")
	assert.Zero(t, d.Pending(s.ctx))
}

func TestResetAndDeinit(t *testing.T) {
	d, err := New(Config{MaxSessions: 2})
	require.NoError(t, err)
	a, b := newDirect(t, d, "a"), newDirect(t, d, "b")
	_, err = d.Init("c")
	assert.ErrorIs(t, err, ErrNoSession)
	assert.ErrorContains(t, err, "all 2 sessions are open (held by a, b)")

	fence := a.floats(make([]float32, 2))
	nop := shadow(spec.OpDSPNop)
	require.NoError(t, d.Enqueue(a.ctx, &coproc.Job{ID: 1, Commands: []spec.Command{nop, nop}}))
	require.NoError(t, d.Enqueue(a.ctx, &coproc.Job{ID: 2, Commands: []spec.Command{shadow(spec.OpDSPFence, fence, 7)}}))
	_, ok := d.Reset(a.ctx)
	assert.False(t, ok, "nothing has started")
	a.on()
	res, err := d.Run(time.Nanosecond) // runs one NOP of job 1
	require.NoError(t, err)
	assert.Equal(t, coproc.Preempted, res.State)
	id, ok := d.Reset(a.ctx)
	assert.True(t, ok)
	assert.EqualValues(t, 1, id)
	res, err = d.Run(time.Second)
	require.NoError(t, err)
	require.Len(t, res.Events, 2)
	assert.Equal(t, coproc.EventFence, res.Events[0].Kind)
	assert.EqualValues(t, 7, res.Events[0].Value)

	// SwitchTo while another is active, SwitchFrom of an inactive one.
	assert.ErrorContains(t, d.SwitchTo(b.ctx), `domain "a" is still active`)
	_, err = d.SwitchFrom(b.ctx)
	assert.ErrorContains(t, err, "not the active one")

	n, ok := d.Session(b.ctx)
	assert.True(t, ok)
	assert.Equal(t, 1, n)
	d.Deinit(a.ctx)
	_, err = d.Run(time.Second)
	assert.ErrorIs(t, err, coproc.ErrNotActive)
	assert.Equal(t, []string{"", "b"}, d.Sessions())
	assert.ErrorContains(t, d.Enqueue(a.ctx, &coproc.Job{}), "was closed")
	other, err := New(Config{})
	require.NoError(t, err)
	assert.ErrorContains(t, other.SwitchTo(b.ctx), "belongs to another DSP")
	_, err = d.Init("")
	assert.Error(t, err)
	c, err := d.Init("c")
	require.NoError(t, err)
	n, _ = d.Session(c)
	assert.Equal(t, 0, n)
}

func TestRegisterFile(t *testing.T) {
	d, err := New(Config{})
	require.NoError(t, err)
	assert.EqualValues(t, spec.RefDSPID, d.ReadReg(spec.RegDSPID))
	d.WriteReg(spec.RegDSPID, 0)
	assert.EqualValues(t, spec.RefDSPID, d.ReadReg(spec.RegDSPID), "identification is read-only")
	d.WriteReg(spec.RegDSPMbox0, 0x1234)
	assert.EqualValues(t, 0x1234, d.ReadReg(spec.RegDSPMbox0))
	assert.Zero(t, d.ReadReg(0xFFC))
	assert.Zero(t, d.ReadReg(0x2))
	assert.Zero(t, d.ReadReg(1<<20))
}

// A session's queue keeps its order when it empties and fills again (it
// keeps its array when it empties, so that one call at a time does not
// allocate a queue per call).
func TestQueueOrderAcrossEmptying(t *testing.T) {
	d, err := New(Config{})
	require.NoError(t, err)
	s := newDirect(t, d, "a")
	s.on()
	enqueue := func(ids ...uint64) {
		for _, id := range ids {
			require.NoError(t, d.Enqueue(s.ctx, &coproc.Job{ID: id, Commands: []spec.Command{shadow(spec.OpDSPNop)}}))
		}
	}
	var done []uint64
	// A budget of one nanosecond runs one NOP, so one job, per Run.
	run := func(times int) {
		for range times {
			res, err := d.Run(time.Nanosecond)
			require.NoError(t, err)
			for _, e := range res.Events {
				require.Equal(t, coproc.EventJobDone, e.Kind)
				done = append(done, e.Job)
			}
		}
	}
	enqueue(1, 2)
	run(1)
	enqueue(3)
	run(2)
	assert.Zero(t, d.Pending(s.ctx))
	enqueue(4, 5, 6)
	run(1)
	enqueue(7)
	run(3)
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7}, done)
	assert.Zero(t, d.Pending(s.ctx))
}
