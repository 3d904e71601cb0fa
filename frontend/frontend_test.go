package frontend_test

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/pvhost/pvtest"
	"github.com/coprocd/coprocd/spec"
)

func dial(t *testing.T, opts frontend.Options) (*pvtest.Host, *frontend.Conn) {
	t.Helper()
	h := pvtest.NewHost(t, pvtest.Options{})
	h.SetSelf(pvtest.Domain("fe", "gpu0", 1<<20))
	c, err := frontend.Dial(h.Path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return h, c
}

// TestConcurrentCalls: many goroutines share one connection, with sleeping
// (no polling) and with polling receivers; every answer reaches its caller.
func TestConcurrentCalls(t *testing.T) {
	for _, spin := range []time.Duration{-1, time.Millisecond} {
		_, c := dial(t, frontend.Options{SpinWait: spin, RequestSlots: 16, ResponseSlots: 16})
		gpu := c.Devices()[0]
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reg := uint32(spec.RegUser0 + 8*g)
				for i := 0; i < 200; i++ {
					v := uint64(g<<20 | i)
					if err := gpu.WriteReg(ctx, reg, 8, v); err != nil {
						errs <- err
						return
					}
					got, err := gpu.ReadReg(ctx, reg, 8)
					if err != nil || got != v {
						errs <- assert.AnError
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("spin %v: %v", spin, err)
		}
		// Bounded sleeps recover from a lost notification, so every call
		// above completes even if one is lost; the counter sees it. (Under
		// -race one run in about ten lost one with SpinWait < 0 while the
		// rings' store-then-load was not fenced there: see
		// pvwire.storeFenced and TestNoLostWakeups.)
		assert.Zero(t, c.LostWakeups(), "spin %v: interrupts lost: %v", spin, c.LostWakeupReports())
	}
}

func TestWaitsHonourTheirContext(t *testing.T) {
	_, c := dial(t, frontend.Options{SpinWait: -1})
	gpu := c.Devices()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := gpu.WaitFence(ctx, 1000)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	// The connection still works.
	v, err := gpu.ReadReg(context.Background(), spec.RegID, 4)
	require.NoError(t, err)
	assert.Equal(t, uint64(spec.RefGPUID), v)
}

func TestEventsAndFailures(t *testing.T) {
	_, c := dial(t, frontend.Options{})
	gpu := c.Devices()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf, err := c.Alloc(ctx, 4096, spec.PVPermReadWrite)
	require.NoError(t, err)
	job, err := gpu.Submit(ctx, spec.Encode(nil, spec.OpFence, buf.IOVA, 5))
	require.NoError(t, err)
	require.NoError(t, gpu.WaitFence(ctx, 5))
	require.NoError(t, gpu.WaitJob(ctx, job))
	assert.Equal(t, uint64(5), gpu.Fence())
	e, err := c.NextEvent(ctx)
	require.NoError(t, err)
	assert.Equal(t, frontend.EventFence, e.Kind)
	assert.Equal(t, uint64(5), e.Value)

	// A FILL into read-only memory is refused at submission, with the
	// mediator's reason.
	ro, err := c.Alloc(ctx, 4096, spec.PVPermRead)
	require.NoError(t, err)
	_, err = gpu.Submit(ctx, spec.Encode(nil, spec.OpFill, ro.IOVA, 16, 1))
	var fe *frontend.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, uint32(spec.PVStatusRefused), fe.Status)
	assert.Contains(t, fe.Text, "FILL")

	// A too-large inline submission is refused locally with advice.
	_, err = gpu.Submit(ctx, make([]uint64, 10000))
	assert.ErrorContains(t, err, "use SubmitIndirect")

	require.NoError(t, c.Close())
	_, err = gpu.ReadReg(ctx, spec.RegID, 4)
	assert.ErrorIs(t, err, frontend.ErrClosed)
}

// TestHybridWait: with Options.HybridWait, a guest whose jobs take a
// steady time learns it, sleeps until shortly before each job's end
// (TimedSleeps), learns how late such sleeps wake (Lateness), and still
// gets every job's result.
func TestHybridWait(t *testing.T) {
	_, c := dial(t, frontend.Options{HybridWait: true})
	gpu := c.Devices()[0]
	ctx := context.Background()
	const words = 1 << 22
	// (The reference GPU's fill is modelled faster than it computes, so
	// these jobs take what the model's computing takes.)
	buf, err := c.Alloc(ctx, 4*words, spec.PVPermReadWrite)
	require.NoError(t, err)
	for i := range 48 {
		pattern := uint64(0x5a000000 + 4*i)
		// Four passes over 16 MiB: a few milliseconds, long against the
		// machine's jitter.
		var cmds []uint64
		for pass := range uint64(4) {
			cmds = spec.Encode(cmds, spec.OpFill, buf.IOVA, words, pattern+3-pass)
		}
		job, err := gpu.Submit(ctx, cmds)
		require.NoError(t, err)
		require.NoError(t, gpu.WaitJob(ctx, job))
		for _, at := range []int{0, 4 * (words / 2), 4 * (words - 1)} {
			require.Equal(t, uint32(pattern), binary.LittleEndian.Uint32(buf.Bytes[at:]), "job %d: word at byte %d", i, at)
		}
	}
	st := c.HybridWaitStats()
	t.Logf("hybrid waiting: %+v", st)
	assert.NotZero(t, st.TimedSleeps, "steady jobs of milliseconds were never predicted")
	if st.TimedSleeps > st.Early {
		assert.Positive(t, st.Lateness, "timed sleeps ran their time, and their lateness was not learned")
	}
	assert.Zero(t, c.LostWakeups())
}
