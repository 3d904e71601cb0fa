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

// ErrInstanceMismatch is wrapped when the GPU instance with the ID to
// adopt is not where the adopted one was: the driver reuses IDs, so after
// a GPU reset another agent's instance may carry it. Adopting that one
// would hand its partition to a domain, and Release would destroy it.
var ErrInstanceMismatch = errors.New("MIG instance is not the one recorded")

// Adopt takes an existing MIG GPU instance giID, with its compute
// instance ciID, as domain's allocation of profile, as a restarted daemon
// does with the instances it had made. The GPU instance must be of the
// profile's GI profile, at placement (the Allocation's Placement when it
// was made), and the compute instance must span it, which is how Allocate
// makes them; it must not be an allocation already. The placement check
// narrows what the IDs alone would let through (an ID reused by another
// agent after a GPU reset); an instance made again at the same placement
// with the same IDs is indistinguishable from the recorded one.
func (m *Manager) Adopt(uuid, domain, profile string, giID, ciID uint32, placement Placement) (*Allocation, error) {
	if domain == "" {
		return nil, errors.New("nvml: adopt: empty domain name")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g, dev, p, err := m.profileLocked(uuid, profile, true)
	if err != nil {
		return nil, fmt.Errorf("nvml: adopt gi%d for domain %q on %s: %w", giID, domain, uuid, err)
	}
	id := migAllocID(g.UUID, giID, ciID)
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
	if at := (Placement{Start: giInfo.Placement.Start, Size: giInfo.Placement.Size}); at != placement {
		return nil, fmt.Errorf("nvml: adopt %s (%s) for domain %q: GPU instance %d is at %d:%d, the recorded one was at %d:%d: %w",
			id, profile, domain, giID, at.Start, at.Size, placement.Start, placement.Size, ErrInstanceMismatch)
	}
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
	return m.addLocked(&Allocation{
		ID: id, Domain: domain, GPU: g.UUID, Profile: p.Name, Kind: MIG, MemoryBytes: p.MemoryBytes, Nodes: nodes,
		GPUInstanceID: giID, ComputeInstanceID: ciID, Placement: placement,
		gi: gi, ci: ci,
	}), nil
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
