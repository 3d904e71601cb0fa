package mediator

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// TestPacerAccount: the pacer's arithmetic, on made-up instants.
func TestPacerAccount(t *testing.T) {
	ms := time.Millisecond
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	var p pacer
	assert.Zero(t, p.aheadAt(t0), "no step yet: no debt")
	assert.Equal(t, 1500*time.Microsecond, p.ran(2*ms, t0, at(ms/2)), "2 ms of device time in 0.5 ms")
	assert.Equal(t, ms, p.aheadAt(at(ms)), "real time pays the debt")
	assert.Equal(t, -ms, p.aheadAt(at(3*ms)), "and turns into credit while busy")
	assert.Equal(t, -maxPacingCredit, p.aheadAt(at(time.Second)), "bounded credit")

	// Idle pays a debt; it does not forgive it.
	p = pacer{}
	p.ran(2*ms, t0, at(ms/2))
	p.wentIdle(at(ms / 2))
	assert.Equal(t, ms, p.aheadAt(at(ms)))
	assert.Equal(t, 1400*time.Microsecond, p.ran(ms/2, at(ms), at(ms+ms/10)), "the debt left, plus the step's")
	// Idle earns no credit, and drops what there was.
	p = pacer{}
	p.ran(ms/10, t0, at(3*ms))
	assert.Equal(t, -2900*time.Microsecond, p.aheadAt(at(3*ms)))
	p.wentIdle(at(3 * ms))
	assert.Zero(t, p.aheadAt(at(time.Second)))
	assert.Equal(t, ms/2, p.ran(ms, at(time.Second), at(time.Second+ms/2)), "a step after idle starts from zero")

	// Steps that each find the device idle add up: the old pacer forgave
	// each one's debt.
	p = pacer{}
	now := t0
	for range 10 {
		p.ran(ms, now, now.Add(ms/10))
		p.wentIdle(now.Add(ms / 10))
		now = now.Add(ms / 5)
	}
	assert.Equal(t, 8*ms, p.aheadAt(now), "10 ms of device time in 2 ms of real time")
}

// TestDeviceTimeKeepsToTheRealClock: jobs whose device time is several
// times what the model takes to compute them, each submitted after the
// device went idle (so each is stepped inline, on the submitter): the
// device is never busy for more device time than real time has passed,
// give or take the pacing threshold. Before inline steps were paced and
// idle paid the debt, this device was busy ~2× the wall clock.
func TestDeviceTimeKeepsToTheRealClock(t *testing.T) {
	slowDMA := sim.DefaultCostModel()
	slowDMA.BytesPerCycle = 1 // 1 GB/s: a 256 KiB FILL is 262 µs of device time
	r := newRig(t, withRealClock(), func(_ *Config, s *sim.Config, _ *time.Duration) { s.Cost = slowDMA })
	g := r.guest("g", 0)
	const words = 64 << 10
	buf, _ := g.alloc(4*words, iommu.ReadWrite)
	r.runDevice()

	start := time.Now()
	var jobs uint64
	for time.Since(start) < 100*time.Millisecond {
		_, err := g.vc.Submit(spec.Encode(nil, spec.OpFill, buf, words, jobs))
		require.NoError(t, err)
		jobs++
		for g.vc.Stats().JobsDone < jobs {
			runtime.Gosched()
		}
		// The device goes idle for 50 µs (a spin: a sleep would last a
		// timer's granularity, and the device would have paid its debt).
		for idle := time.Now(); time.Since(idle) < 50*time.Microsecond; {
			runtime.Gosched()
		}
	}
	wall := time.Since(start)
	busy := r.dev.Stats().Busy
	t.Logf("%d jobs: %v of device time in %v", jobs, busy, wall)
	assert.LessOrEqual(t, busy, wall+2*paceSleep, "device time ran ahead of the real clock")
	// Enough jobs that an unpaced device would have run well ahead
	// (each is 262 µs of device time computed in some tens of µs); how
	// many a loaded machine gets through in 100 ms varies, so no share of
	// the wall clock is asserted.
	assert.GreaterOrEqual(t, jobs, uint64(20), "too few jobs ran for the test to mean anything")
}
