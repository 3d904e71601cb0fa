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
// builds the same scheduler with the same parameters, or says why the
// daemon cannot run it.
func livePolicy(name string, sc *Scenario, device string) (daemon.PolicyConfig, error) {
	o := sc.Options
	pc := func(n string, slice time.Duration) daemon.PolicyConfig {
		return daemon.PolicyConfig{Name: n, Slice: daemon.Duration(slice)}
	}
	switch name {
	case "edf+wfair":
		return pc("realtime", o.Quantum), nil
	case "wfair":
		return pc("wfq", o.Quantum), nil
	case "equal-share":
		return pc("equal", o.Quantum), nil
	case "fixed-share":
		return pc("fixed-share", o.Frame), nil
	case "rrobin":
		return pc("rrobin", o.Slice), nil
	case "gvt-g":
		return pc("gvtg", o.Quantum), nil
	case "amd-gim":
		return pc("amd-gim", o.Quantum), nil
	case "edf":
		return pc("edf", o.Quantum), nil
	case "fixed-priority":
		return pc("fp", o.Quantum), nil
	case "nvidia-best-effort", "nvidia-equal-share", "nvidia-fixed-share":
		// The daemon takes the slice from the configuration; the harness's
		// replicas use NVIDIA's default for the slot count.
		n := o.MaxVGPUs
		if n == 0 {
			n = max(sc.domainsOn(device), 1)
		}
		daemonName := map[string]string{"nvidia-best-effort": "nvidia-best-effort", "nvidia-equal-share": "nvidia-equal", "nvidia-fixed-share": "nvidia-fixed"}[name]
		p := pc(daemonName, scheduler.NVIDIADefaultSlice(n))
		p.MaxVGPUs = n
		return p, nil
	case "fp+wfair":
		return daemon.PolicyConfig{}, fmt.Errorf("the daemon has no fixed priority composed with weighted fair share: its \"fp\" (fixed-priority here) puts the unreserved domains below every reserved one, and its \"realtime\" (edf+wfair) is EDF-based")
	}
	return daemon.PolicyConfig{}, fmt.Errorf("the daemon has no policy for %q", name)
}
