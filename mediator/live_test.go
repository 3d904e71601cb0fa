package mediator

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// TestLiveRunUnderTheRealClock is the live path: the same policy object
// drives the reference GPU through the mediator under the real clock, with
// Device.Run in its own goroutine as the daemon runs it, while guests on
// other goroutines submit work and wait for their interrupts.
func TestLiveRunUnderTheRealClock(t *testing.T) {
	t.Run("rrobin", func(t *testing.T) { liveRun(t, false) })
	t.Run("edf+wfq", func(t *testing.T) { liveRun(t, true) })
}

// liveRun drives three guests under round-robin or, with realtime, under
// EDF reservations for the first guest and weighted fair share for the
// others (the policy objects the simulator drives).
func liveRun(t *testing.T, realtime bool) {
	r := newRig(t, withRealClock(), withSlice(200*time.Microsecond))
	if realtime {
		caps := r.gpu.Caps()
		costs := scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: 100 * time.Microsecond}
		wfq, err := scheduler.NewWeightedFair(200*time.Microsecond, costs)
		require.NoError(t, err)
		h, err := scheduler.NewHierarchical(scheduler.NewEDF(scheduler.ReservationConfig{Costs: costs, Label: "gpu0"}), wfq)
		require.NoError(t, err)
		require.NoError(t, r.dev.SetPolicy(h))
	}
	r.runDevice()

	const guests, jobs = 3, 5
	const n = 1 << 14
	var wg sync.WaitGroup
	results := make([][]float32, guests)
	for i := 0; i < guests; i++ {
		g := r.guest(string(rune('a'+i)), 0)
		if realtime && i == 0 {
			require.NoError(t, g.vc.SetParams(scheduler.Params{Budget: 2 * time.Millisecond, Period: 10 * time.Millisecond}))
		}
		x := make([]float32, n)
		for j := range x {
			x[j] = float32(j % 10)
		}
		xIOVA, _ := g.floats(x)
		yIOVA, yMem := g.floats(make([]float32, n))
		args := g.words(n, f32(1), xIOVA, yIOVA)
		fenceIOVA, fence := g.alloc(8, iommu.ReadWrite)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 1; j <= jobs; j++ {
				var buf []uint64
				buf = spec.Encode(buf, spec.OpDispatch, spec.KernelSaxpy, n/spec.RefGPUWorkgroupSize, args)
				buf = spec.Encode(buf, spec.OpFence, fenceIOVA, uint64(j))
				if _, err := g.vc.Submit(buf); err != nil {
					t.Error(err)
					return
				}
				deadline := time.After(10 * time.Second)
			wait:
				for {
					select {
					case <-g.vc.Notify():
						for _, e := range g.vc.Events() {
							if e.Kind == EventFence && e.Value == uint64(j) {
								break wait
							}
						}
					case <-deadline:
						t.Errorf("guest %d: no fence %d after 10 s", i, j)
						return
					}
				}
				if got := binary.LittleEndian.Uint64(fence); got != uint64(j) {
					t.Errorf("guest %d: fence memory holds %d after fence %d", i, got, j)
					return
				}
			}
			results[i] = getFloats(yMem, n)
		}(i)
	}
	wg.Wait()

	for i, y := range results {
		require.Len(t, y, n, "guest %d", i)
		for j := range y {
			require.Equal(t, float32(jobs*(j%10)), y[j], "guest %d y[%d]", i, j) // y += x, five times
		}
	}
	st := r.dev.Stats()
	assert.GreaterOrEqual(t, st.Switches, uint64(guests), "the device changed hands")
	assert.Positive(t, st.Busy)
}
