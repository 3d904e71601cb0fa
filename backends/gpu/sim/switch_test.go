package sim

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/spec"
)

// saxpyJob sets up y = 2x + y over n elements in d and returns the expected
// result and the memory to check.
func saxpyJob(d *domain, id uint64, n int, seed uint64) (want []float32, ymem []byte) {
	x, y := randFloats(seed, n), randFloats(seed+100, n)
	xa, _ := d.floats(x)
	ya, ymem := d.floats(y)
	d.enqueue(id, dispatch(spec.KernelSaxpy, uint64(n+63)/64, uint64(n), f32bits(2), xa, ya))
	return saxpyRef(2, x, y), ymem
}

func TestPreemptMidDispatchAndResume(t *testing.T) {
	g := newGPU(t, Config{})
	a, b := newDomain(t, g, "a"), newDomain(t, g, "b")
	wantA, ymemA := saxpyJob(a, 1, 64*100, 1)
	const m, n, k = 5, 70, 9
	am, bm := randFloats(7, m*k), randFloats(8, k*n)
	aa, _ := b.floats(am)
	ba, _ := b.floats(bm)
	ca, cmem := b.alloc(4 * m * n)
	b.enqueue(1, dispatch(spec.KernelSgemm, m, m, n, k, aa, ba, ca))

	// a runs a slice and is switched out in the middle of its dispatch.
	a.on()
	res, err := g.Run(3 * time.Microsecond)
	require.NoError(t, err)
	require.Equal(t, coproc.Preempted, res.State)
	c := g.cost
	wg := c.LaunchCycles + c.transfer(12*64) + c.compute(2*64)
	// The budget is checked before each workgroup: it stops at the first
	// boundary at or after 3 µs.
	done := (3000 - c.IssueCycles + wg - 1) / wg
	assert.Equal(t, time.Duration(c.IssueCycles+done*wg), res.Used)
	assert.Equal(t, position{cmd: 0, started: true, group: done}, a.ctx.(*context).pos, "the saved position")
	a.off()

	// b runs to the end in small slices.
	b.on()
	slices := 0
	for {
		res, err := g.Run(time.Microsecond)
		require.NoError(t, err)
		slices++
		if res.State == coproc.Idle {
			break
		}
		require.Equal(t, coproc.Preempted, res.State)
		b.off() // and back, to exercise save/restore on b too
		b.on()
	}
	assert.Greater(t, slices, 1)
	assert.Equal(t, sgemmRef(m, n, k, am, bm), testutil.GetFloats(cmem))
	b.off()

	a.on()
	ev, _ := runIdle(t, g, time.Microsecond)
	assert.Equal(t, []coproc.Event{{Kind: coproc.EventJobDone, Job: 1}}, untimed(ev))
	assert.Equal(t, wantA, testutil.GetFloats(ymemA))
}

func TestCommandBoundarySwitchFromRetries(t *testing.T) {
	g := newGPU(t, Config{Preemption: coproc.CommandBoundary})
	a, b := newDomain(t, g, "a"), newDomain(t, g, "b")
	want, ymem := saxpyJob(a, 1, 1000, 3) // 16 workgroups, the last partial
	fence, fmem := a.alloc(8)
	a.enqueue(2, cmd(spec.OpFence, fence, 1))

	a.on()
	res, err := g.Run(time.Microsecond)
	require.NoError(t, err)
	require.Equal(t, coproc.Preempted, res.State, "Run stops between workgroups whatever the granularity")
	pos := a.ctx.(*context).pos
	require.True(t, pos.started)
	require.Greater(t, pos.group, uint64(0))

	retry, err := g.SwitchFrom(a.ctx)
	require.NoError(t, err)
	c := g.cost
	wg := c.LaunchCycles + c.transfer(12*64) + c.compute(2*64)
	last := c.LaunchCycles + c.transfer(12*(1000%64)) + c.compute(2*(1000%64))
	assert.Equal(t, time.Duration((15-pos.group)*wg+last), retry, "the remaining workgroups")
	assert.Error(t, g.SwitchTo(b.ctx), "a is still on the engine")

	res, err = g.Run(retry)
	require.NoError(t, err)
	assert.Equal(t, retry, res.Used, "exactly the rest of the dispatch")
	assert.Equal(t, coproc.Preempted, res.State, "the FENCE job is left")
	assert.Equal(t, []coproc.Event{{Kind: coproc.EventJobDone, Job: 1}}, untimed(res.Events))
	assert.Equal(t, want, testutil.GetFloats(ymem))

	retry, err = g.SwitchFrom(a.ctx)
	require.NoError(t, err)
	assert.Zero(t, retry)
	g.IOMMU().Deactivate()
	b.on()
	b.off()
	a.on()
	runIdle(t, g, time.Hour)
	assert.Equal(t, uint64(1), u64(fmem))
}

func TestWorkgroupSwitchFromNeverRetries(t *testing.T) {
	g := newGPU(t, Config{})
	a := newDomain(t, g, "a")
	saxpyJob(a, 1, 1000, 3)
	a.on()
	res, err := g.Run(time.Microsecond)
	require.NoError(t, err)
	require.Equal(t, coproc.Preempted, res.State)
	retry, err := g.SwitchFrom(a.ctx)
	require.NoError(t, err)
	assert.Zero(t, retry)
}

func TestReset(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	word, _ := d.alloc(8)
	fence, fmem := d.alloc(8)
	d.on()

	id, ok := g.Reset(d.ctx)
	assert.False(t, ok, "nothing running")
	assert.Zero(t, id)

	d.enqueue(1, cmd(spec.OpFence, fence, 1), cmd(spec.OpWait, word, 1)) // hangs
	d.enqueue(2, cmd(spec.OpFence, fence, 2))
	res, err := g.Run(time.Hour)
	require.NoError(t, err)
	require.Equal(t, coproc.Blocked, res.State)
	assert.Equal(t, 2, g.Pending(d.ctx))

	id, ok = g.Reset(d.ctx)
	assert.True(t, ok)
	assert.Equal(t, uint64(1), id)
	assert.Equal(t, 1, g.Pending(d.ctx), "the queued job stays")
	id, ok = g.Reset(d.ctx)
	assert.False(t, ok, "job 2 has not started")
	assert.Zero(t, id)

	ev, _ := runIdle(t, g, time.Hour)
	assert.Equal(t, []coproc.Event{{Kind: coproc.EventFence, Job: 2, Value: 2}, {Kind: coproc.EventJobDone, Job: 2}}, untimed(ev))
	assert.Equal(t, uint64(2), u64(fmem))
}

func TestResetMidDispatchClearsLocalMemory(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	x := make([]float32, 64*64)
	for i := range x {
		x[i] = 1
	}
	xa, _ := d.floats(x)
	oa, omem := d.floats([]float32{0})
	d.enqueue(5, dispatch(spec.KernelReduceSum, 64, uint64(len(x)), xa, oa))
	d.enqueue(6, dispatch(spec.KernelReduceSum, 64, uint64(len(x)), xa, oa))
	d.on()
	res, err := g.Run(time.Microsecond)
	require.NoError(t, err)
	require.Equal(t, coproc.Preempted, res.State)
	require.NotEqual(t, make([]byte, 256), g.local[:256])

	id, ok := g.Reset(d.ctx)
	assert.True(t, ok)
	assert.Equal(t, uint64(5), id)
	assert.Equal(t, make([]byte, len(g.local)), g.local)
	partial := testutil.GetFloats(omem)[0]
	assert.Greater(t, partial, float32(0))
	assert.Less(t, partial, float32(len(x)))

	ev, _ := runIdle(t, g, time.Hour)
	assert.Equal(t, []coproc.Event{{Kind: coproc.EventJobDone, Job: 6}}, untimed(ev))
	assert.Equal(t, partial+float32(len(x)), testutil.GetFloats(omem)[0], "job 6 ran whole, from its start")
}

func TestContextErrors(t *testing.T) {
	g := newGPU(t, Config{})
	other := newGPU(t, Config{})
	a, b := newDomain(t, g, "a"), newDomain(t, g, "b")
	foreign := newDomain(t, other, "f")

	_, err := g.Run(time.Hour)
	assert.ErrorIs(t, err, coproc.ErrNotActive)
	_, err = g.Init("")
	assert.Error(t, err)

	assert.ErrorContains(t, g.SwitchTo(foreign.ctx), "another GPU")
	assert.Error(t, g.SwitchTo(nil))
	_, err = g.SwitchFrom(a.ctx)
	assert.ErrorContains(t, err, "not the active one")

	require.NoError(t, g.SwitchTo(a.ctx))
	assert.NoError(t, g.SwitchTo(a.ctx), "already active: nothing to do")
	assert.ErrorContains(t, g.SwitchTo(b.ctx), `domain "a" is still active`)
	_, err = g.SwitchFrom(b.ctx)
	assert.Error(t, err)
	assert.ErrorContains(t, g.Enqueue(a.ctx, nil), "nil job")
	assert.Error(t, g.Enqueue(foreign.ctx, &coproc.Job{ID: 1}))
	assert.Zero(t, g.Pending(foreign.ctx))

	// Deinit of the active context detaches it and drops its jobs.
	a.enqueue(1, cmd(spec.OpNop))
	g.Deinit(a.ctx)
	_, err = g.Run(time.Hour)
	assert.True(t, errors.Is(err, coproc.ErrNotActive))
	assert.ErrorContains(t, g.Enqueue(a.ctx, &coproc.Job{ID: 2}), "destroyed")
	assert.Error(t, g.SwitchTo(a.ctx))
	assert.Zero(t, g.Pending(a.ctx))
	g.Deinit(a.ctx)       // twice: ignored
	g.Deinit(foreign.ctx) // not ours: ignored
	_, ok := g.Reset(foreign.ctx)
	assert.False(t, ok)
	require.NoError(t, g.SwitchTo(b.ctx))
	assert.Equal(t, "b", b.ctx.Domain())
}

func TestEmptyJobAndNoIOMMUContext(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	fence, _ := d.alloc(8)
	require.NoError(t, g.SwitchTo(d.ctx)) // the unit has no active context
	d.enqueue(1)
	d.enqueue(2, cmd(spec.OpFence, fence, 1))
	ev, used := runIdle(t, g, time.Hour)
	require.Len(t, ev, 2)
	assert.Equal(t, coproc.Event{Kind: coproc.EventJobDone, Job: 1}, ev[0])
	assert.Equal(t, coproc.EventJobFailed, ev[1].Kind)
	assert.ErrorContains(t, ev[1].Err, "no IOMMU context")
	assert.Equal(t, time.Duration(g.cost.IssueCycles+g.cost.transfer(8)), used)
}

// scenario runs a fixed mix of work on a fresh GPU under a fixed sequence of
// budgets and records every result.
func scenario(t *testing.T) []coproc.Result {
	g := newGPU(t, Config{})
	a, b := newDomain(t, g, "a"), newDomain(t, g, "b")
	saxpyJob(a, 1, 5000, 9)
	x := randFloats(10, 3000)
	xa, _ := b.floats(x)
	oa, _ := b.floats([]float32{0})
	src, _ := b.alloc(100 << 10)
	dst, _ := b.alloc(100 << 10)
	b.enqueue(1, dispatch(spec.KernelReduceSum, 50, 3000, xa, oa), cmd(spec.OpCopy, dst, src, 100<<10))
	b.enqueue(2, cmd(spec.OpFill, dst, 1000, 7), cmd(spec.OpFence, oa+4, 0)) // misaligned: fails
	var out []coproc.Result
	budgets := []time.Duration{time.Microsecond, 700 * time.Nanosecond, 2 * time.Microsecond}
	for i := 0; g.Pending(a.ctx)+g.Pending(b.ctx) > 0 && i < 10_000; i++ {
		d := a
		if i%2 == 1 {
			d = b
		}
		d.on()
		res, err := g.Run(budgets[i%len(budgets)])
		require.NoError(t, err)
		out = append(out, res)
		d.off()
	}
	return out
}

func TestDeterministic(t *testing.T) {
	first, second := scenario(t), scenario(t)
	require.Greater(t, len(first), 10)
	assert.Equal(t, first, second)
}
