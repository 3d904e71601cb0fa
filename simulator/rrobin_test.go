package simulator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRoundRobinGivesSaturatingTenantsEqualShares(t *testing.T) {
	var vcs []VCoproc
	for i := 0; i < 5; i++ {
		vcs = append(vcs, saturating(string(rune('a'+i)), 7*ms, 300*us))
	}
	sc := Scenario{Horizon: 10 * time.Second, Devices: oneDevice(15*us, 0), VCoprocs: vcs}
	res := run(t, roundRobin(2*ms), sc, 1)
	checkAccounting(t, sc, res)
	assert.GreaterOrEqual(t, res.Devices[0].Fairness, 0.999)
	for _, v := range res.VCoprocs {
		assert.InEpsilon(t, 0.2, v.BusyShare, 0.01, "%s", v.Name)
	}
	// Every turn is a slice plus at most one segment, plus a switch.
	turns := float64(res.Devices[0].Switches)
	assert.InDelta(t, 10.0/(2.15e-3+15e-6), turns, 10.0/(2e-3+15e-6)-10.0/(2.3e-3+15e-6))
}

// TestRoundRobinBoundsResponseTime checks rrobin's documented guarantee in
// the simulator: with n runnable vcoprocs, one gets the device within
// (n−1)·(slice + MaxNonPreemptible + SwitchCost) of asking; a job no longer
// than a slice then finishes a switch and its execution later.
func TestRoundRobinBoundsResponseTime(t *testing.T) {
	const slice, seg, sw, exec = 2 * ms, 300 * us, 15 * us, ms
	for _, noWakePreemption := range []bool{false, true} {
		sc := Scenario{
			Horizon: 20 * time.Second,
			Devices: oneDevice(sw, seg),
			VCoprocs: []VCoproc{
				saturating("a", 7*ms, 0),
				saturating("b", 11*ms, 0),
				saturating("c", 5*ms, 0),
				{Name: "light", Workload: Periodic{JobSpec: JobSpec{Exec: exec, ExecMin: exec / 2}, Period: 20 * ms, ReleaseJitter: 7 * ms}},
			},
		}
		sc.Devices[0].NoWakePreemption = noWakePreemption
		res := run(t, roundRobin(slice), sc, 3)
		checkAccounting(t, sc, res)
		light := vc(t, res, "light")
		bound := 3*(slice+seg+sw) + sw + exec
		assert.LessOrEqual(t, light.Response.Max, bound, "no wake preemption: %v", noWakePreemption)
		assert.Greater(t, light.Response.Max, bound/2, "the bound is approached: the test has contention")
		assert.Zero(t, light.DeadlineMisses)
		assert.GreaterOrEqual(t, light.Completed, 999)
	}
}
