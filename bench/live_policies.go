package bench

import (
	"fmt"
	"time"

	"github.com/coprocd/coprocd/daemon"
	"github.com/coprocd/coprocd/scheduler"
)

// A live run runs the daemon's own policies, by the daemon's names
// (daemon/config.go), built by the daemon with the reference GPU's costs.
// livePolicy maps each harness policy to the daemon's configuration that
// builds the same scheduler from the scenario's options, or says why the
// daemon cannot run it. The daemon takes one slice per policy, so where a
// harness policy has two knobs the daemon derives the second: fixed-share's
// quantum for the unreserved part of the frame is the frame's tenth in the
// daemon, the scenario's quantum in sim mode (the report's notes say so
// when they differ: fixedShareNote).

// liveRow is a harness policy's daemon equivalent: the daemon's policy
// name and the scenario option that is its slice.
type liveRow struct {
	daemon string
	slice  func(PolicyOptions) time.Duration
}

var (
	quantumSlice = func(o PolicyOptions) time.Duration { return o.Quantum }
	rrobinSlice  = func(o PolicyOptions) time.Duration { return o.Slice }
	frameSlice   = func(o PolicyOptions) time.Duration { return o.Frame }
)

// liveRows are the harness policies the daemon runs with a slice from the
// scenario; the NVIDIA replicas take theirs from the slot count.
var liveRows = map[string]liveRow{
	"edf+wfair":      {"realtime", quantumSlice},
	"wfair":          {"wfq", quantumSlice},
	"equal-share":    {"equal", quantumSlice},
	"fixed-share":    {"fixed-share", frameSlice},
	"rrobin":         {"rrobin", rrobinSlice},
	"gvt-g":          {"gvtg", quantumSlice},
	"amd-gim":        {"amd-gim", quantumSlice},
	"edf":            {"edf", quantumSlice},
	"fixed-priority": {"fp", quantumSlice},
}

// liveNVIDIA are the NVIDIA replicas' daemon names.
var liveNVIDIA = map[string]string{
	"nvidia-best-effort": "nvidia-best-effort",
	"nvidia-equal-share": "nvidia-equal",
	"nvidia-fixed-share": "nvidia-fixed",
}

func livePolicy(name string, sc *Scenario, device string) (daemon.PolicyConfig, error) {
	o := sc.Options
	if row, ok := liveRows[name]; ok {
		return daemon.PolicyConfig{Name: row.daemon, Slice: daemon.Duration(row.slice(o))}, nil
	}
	if daemonName, ok := liveNVIDIA[name]; ok {
		// The daemon takes the slice from the configuration; the harness's
		// replicas use NVIDIA's default for the slot count.
		n := o.MaxVGPUs
		if n == 0 {
			n = max(sc.domainsOn(device), 1)
		}
		return daemon.PolicyConfig{Name: daemonName, Slice: daemon.Duration(scheduler.NVIDIADefaultSlice(n)), MaxVGPUs: n}, nil
	}
	if name == "fp+wfair" {
		return daemon.PolicyConfig{}, fmt.Errorf("the daemon has no fixed priority composed with weighted fair share: its \"fp\" (fixed-priority here) puts the unreserved domains below every reserved one, and its \"realtime\" (edf+wfair) is EDF-based")
	}
	return daemon.PolicyConfig{}, fmt.Errorf("the daemon has no policy for %q", name)
}

// fixedShareNote says where the daemon's fixed-share departs from sim
// mode's: the daemon builds it from the frame alone, so its quantum for
// the unreserved part of the frame is the frame's tenth (scheduler's
// default), not the scenario's quantum. It is "" when the two agree.
func fixedShareNote(o PolicyOptions) string {
	daemonQuantum := o.Frame / 10
	if daemonQuantum == o.Quantum {
		return ""
	}
	return fmt.Sprintf("fixed-share runs with a quantum of %v (the frame's tenth) for the unreserved part of the frame, where sim mode uses the scenario's quantum, %v: the daemon's fixed-share takes the frame only", daemonQuantum, o.Quantum)
}
