package bench

import (
	"fmt"
	"strings"

	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/simulator"
)

// Origin says whose design a policy is: coprocd's own, with a guarantee
// of ours, or a replica of another system's scheduler (an anchor), run on
// the same work for comparison.
type Origin string

const (
	Ours   Origin = "ours"
	Anchor Origin = "anchor"
)

// Policy is one row of the policy table: how to build it for a device of a
// scenario.
type Policy struct {
	Name        string
	Origin      Origin
	Description string
	build       func(o PolicyOptions, sc *Scenario, d simulator.Device) (scheduler.Policy, error)
}

// policyTable is every policy the harness can run, ours first, then the
// anchors' replicas; DefaultPolicies is its order.
var policyTable = []Policy{
	{"edf+wfair", Ours, "EDF over constant-bandwidth servers for the reservations, weighted fair share (stride) for the rest",
		func(o PolicyOptions, _ *Scenario, d simulator.Device) (scheduler.Policy, error) {
			fair, err := scheduler.NewWeightedFair(o.Quantum, d.Costs)
			if err != nil {
				return nil, err
			}
			return scheduler.NewHierarchical(scheduler.NewEDF(scheduler.ReservationConfig{Costs: d.Costs, Label: d.Name}), fair)
		}},
	{"fp+wfair", Ours, "fixed priority with deferrable servers for the reservations, weighted fair share for the rest",
		func(o PolicyOptions, _ *Scenario, d simulator.Device) (scheduler.Policy, error) {
			fair, err := scheduler.NewWeightedFair(o.Quantum, d.Costs)
			if err != nil {
				return nil, err
			}
			return scheduler.NewHierarchical(scheduler.NewFixedPriority(scheduler.ReservationConfig{Costs: d.Costs, Label: d.Name, Quantum: o.Quantum}), fair)
		}},
	{"wfair", Ours, "weighted fair share (stride scheduling), work-conserving",
		func(o PolicyOptions, _ *Scenario, d simulator.Device) (scheduler.Policy, error) {
			return scheduler.NewWeightedFair(o.Quantum, d.Costs)
		}},
	{"equal-share", Ours, "fair share with every weight 1, work-conserving",
		func(o PolicyOptions, _ *Scenario, d simulator.Device) (scheduler.Policy, error) {
			return scheduler.NewEqualShare(o.Quantum, d.Costs)
		}},
	{"fixed-share", Ours, "a window of share x frame per frame for each domain with a share, held when idle; round-robin for the rest",
		func(o PolicyOptions, _ *Scenario, d simulator.Device) (scheduler.Policy, error) {
			return scheduler.NewFixedShare(scheduler.FixedShareConfig{Frame: o.Frame, Quantum: o.Quantum, Costs: d.Costs, Label: d.Name})
		}},
	{"rrobin", Anchor, "Xen SCF's rrobin: turns of one slice among the runnable, parameters ignored",
		func(o PolicyOptions, _ *Scenario, d simulator.Device) (scheduler.Policy, error) {
			return scheduler.NewRoundRobin(o.Slice, d.Costs)
		}},
	{"gvt-g", Anchor, "replica of Intel GVT-g's weighted time-based scheduler (1 ms tick, 100 ms balance)",
		func(PolicyOptions, *Scenario, simulator.Device) (scheduler.Policy, error) {
			return scheduler.NewGVTg(), nil
		}},
	{"nvidia-best-effort", Anchor, "replica of NVIDIA vGPU best effort: round-robin among the vGPUs with work",
		nvidia(scheduler.NVIDIABestEffort)},
	{"nvidia-equal-share", Anchor, "replica of NVIDIA vGPU equal share: one slot per running vGPU, held when idle",
		nvidia(scheduler.NVIDIAEqualShare)},
	{"nvidia-fixed-share", Anchor, "replica of NVIDIA vGPU fixed share: 1/max-vGPUs of the GPU each, held when idle",
		nvidia(scheduler.NVIDIAFixedShare)},
	{"amd-gim", Anchor, "replica of AMD GIM (MxGPU): 6 ms round-robin world switches",
		func(_ PolicyOptions, _ *Scenario, d simulator.Device) (scheduler.Policy, error) {
			return scheduler.NewAMDGIM(d.Costs), nil
		}},
	{"edf", Ours, "EDF over constant-bandwidth servers only: refuses domains without a reservation",
		func(_ PolicyOptions, _ *Scenario, d simulator.Device) (scheduler.Policy, error) {
			return scheduler.NewEDF(scheduler.ReservationConfig{Costs: d.Costs, Label: d.Name}), nil
		}},
	{"fixed-priority", Ours, "fixed priority with deferrable servers; unreserved domains below every reserved one",
		func(o PolicyOptions, _ *Scenario, d simulator.Device) (scheduler.Policy, error) {
			return scheduler.NewFixedPriority(scheduler.ReservationConfig{Costs: d.Costs, Label: d.Name, Quantum: o.Quantum}), nil
		}},
}

func nvidia(mode scheduler.NVIDIAMode) func(PolicyOptions, *Scenario, simulator.Device) (scheduler.Policy, error) {
	return func(o PolicyOptions, sc *Scenario, d simulator.Device) (scheduler.Policy, error) {
		maxVGPUs := o.MaxVGPUs
		if maxVGPUs == 0 {
			maxVGPUs = max(sc.domainsOn(d.Name), 1)
		}
		return scheduler.NewNVIDIAShare(scheduler.NVIDIAConfig{Mode: mode, MaxVGPUs: maxVGPUs, Costs: d.Costs})
	}
}

// Policies returns the policy table.
func Policies() []Policy { return append([]Policy(nil), policyTable...) }

// PolicyNames lists every policy name, in table order.
func PolicyNames() []string {
	names := make([]string, len(policyTable))
	for i, p := range policyTable {
		names[i] = p.Name
	}
	return names
}

// DefaultPolicies is the shoot-out of a scenario that names none: our
// composed real-time and fair policies and every anchor replica.
func DefaultPolicies() []string {
	return []string{"edf+wfair", "fp+wfair", "wfair", "rrobin", "gvt-g", "nvidia-best-effort", "nvidia-equal-share", "nvidia-fixed-share", "amd-gim"}
}

func policyByName(name string) (Policy, bool) {
	for _, p := range policyTable {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// ParsePolicies reads a comma-separated list of policy names ("all" for the
// whole table); an empty list is nil.
func ParsePolicies(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	if strings.TrimSpace(list) == "all" {
		return PolicyNames(), nil
	}
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if _, ok := policyByName(n); !ok {
			return nil, fmt.Errorf("bench: unknown policy %q (known: %s, or all)", n, strings.Join(PolicyNames(), ", "))
		}
		for _, seen := range out {
			if seen == n {
				return nil, fmt.Errorf("bench: policy %q is listed twice", n)
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// factory returns the simulator's PolicyFactory for a policy on a scenario.
func (p Policy) factory(sc *Scenario) simulator.PolicyFactory {
	return func(d simulator.Device) (scheduler.Policy, error) {
		return p.build(sc.Options, sc, d)
	}
}
