package mediator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// TestSubmitStepsAnIdleDeviceInline: with the runner asleep, a short job
// has run by the time Submit returns (no hand-off to the runner); a job
// longer than one step is left to the runner, which finishes it, with
// what is submitted meanwhile.
func TestSubmitStepsAnIdleDeviceInline(t *testing.T) {
	r := newRig(t, withRealClock())
	r.runDevice()
	idle := func() bool {
		r.m.mu.Lock()
		defer r.m.mu.Unlock()
		return r.dev.runnerIdle
	}
	require.Eventually(t, idle, 5*time.Second, time.Millisecond)

	g := r.guest("g", 0)
	fence, mem := g.alloc(8, iommu.ReadWrite)
	_, err := g.vc.Submit(spec.Encode(nil, spec.OpFence, fence, 7))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), g.vc.Stats().JobsDone, "done inline, before Submit returned")
	assert.Equal(t, byte(7), mem[0])

	// A job of about 20 ms of device time: one inline step, then the runner.
	const n = 1 << 22
	x, _ := g.floats(make([]float32, n))
	y, _ := g.floats(make([]float32, n))
	_, err = g.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelSaxpy, n/64, g.words(n, f32(1), x, y)))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), g.vc.Stats().JobsDone, "a long job is not finished inline")
	_, err = g.vc.Submit(spec.Encode(nil, spec.OpFence, fence, 8))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return g.vc.Stats().JobsDone == 3 }, 10*time.Second, time.Millisecond, "the runner finishes both")
	assert.Equal(t, byte(8), mem[0])
}
