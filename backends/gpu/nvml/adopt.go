package nvml

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// MIG instances outlive the process that made them: they stay on the GPU
// until destroyed or the GPU is reset. A daemon that restarts must take
// its domains' instances back (Adopt) instead of making new ones beside
// them, or every restart would leak a partition of the GPU; and it must
// show the instances nobody owns (Unowned) without destroying them, since
// another agent (nvidia-smi, a second management stack) may have made them.

// ErrInstanceGone is wrapped when an instance to adopt is not on the GPU
// any more (destroyed, or the GPU was reset).
var ErrInstanceGone = errors.New("MIG instance not found")

// Adopt takes an existing MIG GPU instance giID, with its compute
// instance ciID, as domain's allocation of profile, as a restarted daemon
// does with the instances it had made. The GPU instance must be of the
// profile's GI profile and the compute instance must span it, which is how
// Allocate makes them; it must not be an allocation already.
func (m *Manager) Adopt(uuid, domain, profile string, giID, ciID uint32) (*Allocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, dev, err := m.gpuLocked(uuid)
	if err != nil {
		return nil, err
	}
	p, ok := g.Profile(profile)
	if !ok || p.Kind != MIG {
		return nil, fmt.Errorf("nvml: adopt gi%d for domain %q on %s: %q is not a MIG profile of this GPU (MIG enabled: %v)", giID, domain, uuid, profile, g.MIG.Enabled)
	}
	id := fmt.Sprintf("%s/gi%d/ci%d", g.UUID, giID, ciID)
	if a, taken := m.allocs[id]; taken {
		return nil, fmt.Errorf("nvml: adopt %s for domain %q: already allocated to domain %q", id, domain, a.Domain)
	}
	found, err := gpuInstances(dev, g)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(found, func(f foundInstance) bool { return f.info.Id == giID && f.profile.Name == p.Name })
	if i < 0 {
		return nil, fmt.Errorf("nvml: adopt %s (%s) for domain %q: no GPU instance %d of profile %s: %w", id, profile, domain, giID, p.Name, ErrInstanceGone)
	}
	gi, giInfo := found[i].gi, found[i].info
	ciProfile, err := fullComputeProfile(gi, g.UUID)
	if err != nil {
		return nil, err
	}
	cis, ret := gi.GetComputeInstances(&ciProfile)
	if err := check("nvmlGpuInstanceGetComputeInstances", g.UUID, ret); err != nil {
		return nil, err
	}
	var ci nvml.ComputeInstance
	for _, c := range cis {
		info, ret := c.GetInfo()
		if err := check("nvmlComputeInstanceGetInfo", g.UUID, ret); err != nil {
			return nil, err
		}
		if info.Id == ciID {
			ci = c
		}
	}
	if ci == nil {
		return nil, fmt.Errorf("nvml: adopt %s for domain %q: GPU instance %d has no compute instance %d spanning it: %w", id, domain, giID, ciID, ErrInstanceGone)
	}
	nodes, err := m.nodes.migNodes(g.Minor, giID, ciID)
	if err != nil {
		return nil, err
	}
	a := &Allocation{
		ID: id, Domain: domain, GPU: g.UUID, Profile: p.Name, Kind: MIG, MemoryBytes: p.MemoryBytes, Nodes: nodes,
		GPUInstanceID: giID, ComputeInstanceID: ciID,
		Placement: Placement{Start: giInfo.Placement.Start, Size: giInfo.Placement.Size},
		gi:        gi, ci: ci,
	}
	m.allocs[id] = a
	c := *a
	c.Nodes = slices.Clone(a.Nodes)
	return &c, nil
}

// Instance is a MIG GPU instance as found on a GPU.
type Instance struct {
	GPU       string // UUID
	ID        uint32 // GPU instance ID
	Profile   string
	Placement Placement
}

func (i Instance) String() string {
	return fmt.Sprintf("gi%d (%s at %d:%d) on %s", i.ID, i.Profile, i.Placement.Start, i.Placement.Size, i.GPU)
}

// Unowned lists the MIG GPU instances on the GPUs that are no
// allocation's: made by another agent, or left by a domain that was
// removed while coprocd was not running. coprocd never destroys them on
// its own; Allocate places new instances around them.
func (m *Manager) Unowned() ([]Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	owned := map[string]bool{}
	for _, a := range m.allocs {
		if a.Kind == MIG {
			owned[fmt.Sprintf("%s/%d", a.GPU, a.GPUInstanceID)] = true
		}
	}
	var out []Instance
	for _, g := range m.gpus {
		if !g.MIG.Enabled {
			continue
		}
		found, err := gpuInstances(m.devs[g.UUID], g)
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			if !owned[fmt.Sprintf("%s/%d", g.UUID, f.info.Id)] {
				out = append(out, Instance{GPU: g.UUID, ID: f.info.Id, Profile: f.profile.Name,
					Placement: Placement{Start: f.info.Placement.Start, Size: f.info.Placement.Size}})
			}
		}
	}
	slices.SortFunc(out, func(x, y Instance) int {
		if c := strings.Compare(x.GPU, y.GPU); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return out, nil
}
