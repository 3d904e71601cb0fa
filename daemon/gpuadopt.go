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
	// Placement tells the instance from another agent's that took its
	// IDs after a GPU reset. State files of older coprocd versions lack
	// it (nil): their instances are not adopted, only reported.
	Placement *savedPlacement `json:"placement,omitempty"`
}

// savedPlacement is a GPU instance's placement, in memory slices.
type savedPlacement struct {
	Start uint32 `json:"start"`
	Size  uint32 `json:"size"`
}

// allocateGPU gives the index-th GPU share of domain: the MIG instance it
// had before a restart when that is still on the GPU, a new allocation
// otherwise. Called with d.mu held.
func (d *Daemon) allocateGPU(domain string, index int, uuid, profile string) (*nvml.Allocation, error) {
	for _, s := range d.savedInstances[domain] {
		if s.Index != index || s.GPU != uuid || s.Profile != profile {
			continue
		}
		if s.Placement == nil {
			// Adopting on the IDs alone could take, and at the domain's
			// removal destroy, another agent's instance; left alone, it is
			// reported as unowned at most.
			d.log.Warn("saved MIG instance has no placement (state file of an older coprocd): not adopted, since it cannot be told from another agent's; allocating a new one",
				"domain", domain, "gpu", uuid, "profile", profile, "gpu_instance", s.GI)
			continue
		}
		placement := nvml.Placement{Start: s.Placement.Start, Size: s.Placement.Size}
		a, err := d.nvml.Adopt(uuid, domain, profile, s.GI, s.CI, placement)
		if err == nil {
			d.log.Info("MIG instance adopted after restart", "domain", domain, "allocation", a.ID, "profile", profile)
			return a, nil
		}
		var level string
		switch {
		case errors.Is(err, nvml.ErrInstanceGone):
			level = "not on the GPU any more (destroyed, or the GPU was reset)"
		case errors.Is(err, nvml.ErrInstanceMismatch):
			level = "replaced by another instance with its IDs (another agent's, after a GPU reset?): that one is left alone"
		default:
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
				out[name] = append(out[name], savedGPUInstance{Index: i, GPU: a.GPU, Profile: a.Profile, GI: a.GPUInstanceID, CI: a.ComputeInstanceID,
					Placement: &savedPlacement{Start: a.Placement.Start, Size: a.Placement.Size}})
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
