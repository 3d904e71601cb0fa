package daemon

import (
	"errors"
	"fmt"

	"github.com/coprocd/coprocd/backends/gpu/nvml"
)

// MIG instances survive the daemon: a restart (or a crash) leaves the
// domains' GPU instances on the GPU, with their containers still using
// them. The state file records each instance (savedGPUInstance), and a
// restarted daemon adopts it back for the same domain's same GPU share
// instead of carving a new one beside it, which would leak a partition of
// the GPU at every restart. Instances nobody adopts are reported, never
// destroyed: another agent may own them.

// savedGPUInstance is one MIG allocation in the state file: the Index-th
// entry of the domain's gpus.
type savedGPUInstance struct {
	Index   int    `json:"index"`
	GPU     string `json:"gpu"`
	Profile string `json:"profile"`
	GI      uint32 `json:"gpu_instance"`
	CI      uint32 `json:"compute_instance"`
}

// allocateGPU gives the index-th GPU share of domain: the MIG instance it
// had before a restart when that is still on the GPU, a new allocation
// otherwise. Called with d.mu held.
func (d *Daemon) allocateGPU(domain string, index int, uuid, profile string) (*nvml.Allocation, error) {
	for _, s := range d.savedInstances[domain] {
		if s.Index != index || s.GPU != uuid || s.Profile != profile {
			continue
		}
		a, err := d.nvml.Adopt(uuid, domain, profile, s.GI, s.CI)
		if err == nil {
			d.log.Info("MIG instance adopted after restart", "domain", domain, "allocation", a.ID, "profile", profile)
			return a, nil
		}
		level := "not on the GPU any more (destroyed, or the GPU was reset)"
		if !errors.Is(err, nvml.ErrInstanceGone) {
			level = "cannot be adopted"
		}
		d.log.Warn("saved MIG instance "+level+"; allocating a new one", "domain", domain, "gpu_instance", s.GI, "err", err)
	}
	return d.nvml.Allocate(uuid, domain, profile)
}

// savedGPUInstances lists every domain's MIG allocations for the state
// file. Called with d.mu held.
func (d *Daemon) savedGPUInstances() map[string][]savedGPUInstance {
	out := map[string][]savedGPUInstance{}
	for name, ds := range d.domains {
		if ds.iso == nil {
			continue
		}
		for i, a := range ds.iso.gpus {
			if a.Kind == nvml.MIG {
				out[name] = append(out[name], savedGPUInstance{Index: i, GPU: a.GPU, Profile: a.Profile, GI: a.GPUInstanceID, CI: a.ComputeInstanceID})
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// reportUnowned warns about MIG instances no domain holds once the
// domains are restored.
func (d *Daemon) reportUnowned() {
	if d.nvml == nil {
		return
	}
	unowned, err := d.nvml.Unowned()
	if err != nil {
		d.log.Warn("listing MIG instances", "err", err)
		return
	}
	for _, in := range unowned {
		d.log.Warn("MIG instance held by no domain: left as is (another agent's, or a domain's removed while coprocd was down); new instances are placed around it",
			"instance", in.String(), "destroy", fmt.Sprintf("nvidia-smi mig -dci -gi %d -i <gpu> && nvidia-smi mig -dgi -gi %d -i <gpu>", in.ID, in.ID))
	}
}
