package simulator

import (
	"fmt"
	"strings"
	"time"

	"github.com/coprocd/coprocd/scheduler"
)

// Scenario is everything a run needs besides the policy and the seed: the
// devices, the vcoprocs bound to them with their scheduling parameters and
// workloads, and how long to simulate. It is plain data so that the
// benchmark harness can declare it in a file and hand the same value to many
// policies.
type Scenario struct {
	// Horizon is the simulated span: the run covers [0, Horizon).
	Horizon time.Duration
	// Devices are the physical coprocessors, each driven by its own
	// policy instance.
	Devices []Device
	// VCoprocs are the tenants. Vcoproc i has scheduler.ID i+1; its
	// random stream is keyed by the seed and its name, so adding, removing
	// or reordering tenants leaves the others' draws alone.
	VCoprocs []VCoproc
	// RecordTrace keeps the trace (who held each device when) in the
	// Result. It costs memory proportional to the number of ownership
	// changes, so long benchmark runs may leave it off.
	RecordTrace bool
}

// Device is a physical coprocessor's cost model.
type Device struct {
	// Name identifies the device in results and traces (e.g. "gpu0").
	Name string
	// Costs is what the device declares: the time one context switch
	// takes, and its preemption granularity (MaxNonPreemptible, the
	// longest stretch of work it cannot interrupt; 0 means it can stop
	// anywhere). The policy is built with the same Costs.
	Costs scheduler.Costs
	// NoWakePreemption makes a wake leave the running vcoproc alone until
	// its slice ends or its work runs out, which is how the mediator's
	// Step drives a device today. By default a vcoproc becoming runnable
	// makes the device ask the policy again at the next preemption point,
	// so that preemptive policies (EDF, fixed priority) can preempt.
	NoWakePreemption bool
}

// VCoproc is one tenant: a virtual coprocessor on one device.
type VCoproc struct {
	// Name identifies the vcoproc in results and traces.
	Name string
	// Device names the device it runs on; it may be empty when the
	// scenario has exactly one device.
	Device string
	// Params are handed to the policy's Admit.
	Params scheduler.Params
	// Workload generates its jobs.
	Workload Workload
	// Start is the instant its workload begins releasing jobs.
	Start time.Duration
	// Stop, when non-zero, is the instant its workload stops releasing
	// jobs: the tenant goes idle once the jobs already released are done.
	Stop time.Duration
}

// validName reports whether a name can appear in a trace line, whose fields
// are separated by spaces.
func validName(name string) error {
	if name == "" {
		return fmt.Errorf("name is empty")
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("name %q contains a space or a control character", name)
	}
	return nil
}

// validate checks the scenario and returns, for each vcoproc, the index of
// its device.
func (sc *Scenario) validate() ([]int, error) {
	if sc.Horizon <= 0 {
		return nil, fmt.Errorf("simulator: scenario horizon %v must be positive", sc.Horizon)
	}
	if len(sc.Devices) == 0 {
		return nil, fmt.Errorf("simulator: scenario has no device")
	}
	devIndex := make(map[string]int, len(sc.Devices))
	for i, d := range sc.Devices {
		if err := validName(d.Name); err != nil {
			return nil, fmt.Errorf("simulator: device %d: %w", i, err)
		}
		if _, dup := devIndex[d.Name]; dup {
			return nil, fmt.Errorf("simulator: device %q declared twice", d.Name)
		}
		if d.Costs.SwitchCost < 0 {
			return nil, fmt.Errorf("simulator: device %q: switch cost %v is negative", d.Name, d.Costs.SwitchCost)
		}
		if d.Costs.MaxNonPreemptible < 0 {
			return nil, fmt.Errorf("simulator: device %q: max non-preemptible %v is negative", d.Name, d.Costs.MaxNonPreemptible)
		}
		devIndex[d.Name] = i
	}
	vcDev := make([]int, len(sc.VCoprocs))
	seen := make(map[string]bool, len(sc.VCoprocs))
	for i, v := range sc.VCoprocs {
		if err := validName(v.Name); err != nil {
			return nil, fmt.Errorf("simulator: vcoproc %d: %w", i, err)
		}
		if seen[v.Name] {
			return nil, fmt.Errorf("simulator: vcoproc %q declared twice", v.Name)
		}
		seen[v.Name] = true
		switch {
		case v.Device == "" && len(sc.Devices) == 1:
			vcDev[i] = 0
		case v.Device == "":
			return nil, fmt.Errorf("simulator: vcoproc %q names no device and the scenario has %d", v.Name, len(sc.Devices))
		default:
			d, ok := devIndex[v.Device]
			if !ok {
				return nil, fmt.Errorf("simulator: vcoproc %q: device %q is not in the scenario", v.Name, v.Device)
			}
			vcDev[i] = d
		}
		if v.Start < 0 {
			return nil, fmt.Errorf("simulator: vcoproc %q: start %v is negative", v.Name, v.Start)
		}
		if v.Stop != 0 && v.Stop < v.Start {
			return nil, fmt.Errorf("simulator: vcoproc %q: stop %v is before start %v", v.Name, v.Stop, v.Start)
		}
		if v.Workload == nil {
			return nil, fmt.Errorf("simulator: vcoproc %q has no workload", v.Name)
		}
		if err := v.Workload.validate(); err != nil {
			return nil, fmt.Errorf("simulator: vcoproc %q: %w", v.Name, err)
		}
	}
	return vcDev, nil
}
