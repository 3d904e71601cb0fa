package bench

import (
	"fmt"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	gpusim "github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/daemon"
	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/simulator"
)

// liveVRAM is each reference GPU's device memory in a live run: the guests
// compute in their own buffers, so a little is enough, and the daemon does
// not hold 256 MiB per device for nothing.
const liveVRAM = daemon.Size(16 << 20)

// liveConfig is the daemon configuration of one live run, as YAML and
// parsed by the daemon's own parser (so that it is checked as an
// operator's file would be): one reference GPU per scenario device under
// the policy, sockets and state under dir. It holds no domains: the
// harness creates them through the control API one by one, so that a
// domain the policy's admission refuses is reported as refused, as the
// simulator reports it, instead of failing the daemon's start.
func liveConfig(sc *Scenario, sim simulator.Scenario, policy, dir string) (*daemon.Config, error) {
	var longest time.Duration
	for _, v := range sim.VCoprocs {
		longest = max(longest, v.Workload.Jobs().Exec)
	}
	cfg := daemon.Config{
		RuntimeDir: filepath.Join(dir, "run"),
		StateDir:   filepath.Join(dir, "state"),
		Control:    daemon.ControlConfig{Socket: daemon.DefaultSocketName, Mode: 0o600},
		// The watchdog counts a job's own device time: twice the longest
		// job leaves it room, and never less than the daemon's default.
		Watchdog: daemon.Duration(max(2*time.Second, 2*longest)),
		// At the horizon the guests are gone; their queued work need not
		// be waited for.
		Grace: daemon.Duration(100 * time.Millisecond),
	}
	for _, d := range sim.Devices {
		pc, err := livePolicy(policy, sc, d.Name)
		if err != nil {
			return nil, err
		}
		cfg.Devices = append(cfg.Devices, daemon.DeviceConfig{Name: d.Name, Backend: "refgpu", VRAM: liveVRAM, Preemption: "workgroup",
			SwitchCost: daemon.Duration(liveSwitchCost(d)), Policy: pc})
	}
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: writing the daemon's configuration: %w", err)
	}
	parsed, err := daemon.ParseConfig(data, fmt.Sprintf("live configuration for scenario %s, policy %s", sc.Name, policy))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return parsed, nil
}

// liveCostModel is the cost model the guests size their jobs with: the
// daemon's reference GPUs run the default one but for their switch cost
// (liveSwitchCost), which no job's length depends on.
func liveCostModel() gpusim.CostModel { return gpusim.DefaultCostModel() }

// liveSwitchCost is the switch_cost of the daemon's reference GPU for
// scenario device d: the scenario's, where the configuration can hold it
// (0: the model's own 20 µs, and the report's notes say so).
func liveSwitchCost(d simulator.Device) time.Duration {
	if c := d.Costs.SwitchCost; c > 0 && c <= daemon.MaxSwitchCost {
		return c
	}
	return 0
}

// domainRequest is the control-API request that creates vcoproc v's domain
// with the scenario's scheduling parameters.
func domainRequest(sim simulator.Scenario, v simulator.VCoproc) api.DomainRequest {
	p := v.Params
	return api.DomainRequest{Name: v.Name, VCoprocs: []api.VCoprocRequest{{
		Device: deviceOf(sim, v), Weight: max(p.Weight, 1),
		BudgetNs: int64(p.Budget), PeriodNs: int64(p.Period), DeadlineNs: int64(p.Deadline),
		Share: p.Share, Priority: p.Priority,
	}}}
}

// deviceOf names a vcoproc's device (the only one when it names none).
func deviceOf(sim simulator.Scenario, v simulator.VCoproc) string {
	if v.Device == "" && len(sim.Devices) > 0 {
		return sim.Devices[0].Name
	}
	return v.Device
}
