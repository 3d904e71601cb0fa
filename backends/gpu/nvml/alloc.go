package nvml

import (
	"errors"
	"fmt"
	"slices"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Allocation is one profile given to one domain's vcoproc: a MIG GPU
// instance with one compute instance spanning it, or a time-slice share of
// a whole GPU. Nodes are the device nodes the domain must be able to open,
// and only those (the daemon hands them to isolation/cgroupdev).
type Allocation struct {
	ID          string
	Domain      string
	GPU         string // UUID
	Profile     string
	Kind        ProfileKind
	MemoryBytes uint64
	Nodes       []DeviceNode

	// MIG allocations.
	GPUInstanceID     uint32
	ComputeInstanceID uint32
	Placement         Placement

	// Time-slice allocations: 1/Divisor of the GPU.
	Divisor uint32

	gi nvml.GpuInstance
	ci nvml.ComputeInstance
}

// ErrNoCapacity is wrapped when a profile does not fit on a GPU any more.
var ErrNoCapacity = errors.New("no capacity left")

// Allocate gives domain a share of GPU uuid per the named profile: on a
// MIG GPU it creates a GPU instance at the first free placement and a
// compute instance spanning it; on a time-sliced GPU it books the share.
// The returned allocation lists the device nodes the domain needs.
func (m *Manager) Allocate(uuid, domain, profile string) (*Allocation, error) {
	if domain == "" {
		return nil, errors.New("nvml: allocate: empty domain name")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g, dev, p, err := m.profileLocked(uuid, profile, false)
	if err != nil {
		return nil, fmt.Errorf("nvml: allocate %q for domain %q on %s: %w", profile, domain, uuid, err)
	}
	var a *Allocation
	switch p.Kind {
	case MIG:
		a, err = m.allocateMIG(g, dev, domain, p)
	case TimeSlice:
		a, err = m.allocateTimeSlice(g, domain, p)
	}
	if err != nil {
		return nil, err
	}
	return m.addLocked(a), nil
}

// profileLocked finds GPU uuid and its profile of that name, or says
// which profiles the GPU offers. With migOnly, as for Adopt (only MIG
// instances outlive the daemon), a profile of another kind is not one.
// Called with m.mu held.
func (m *Manager) profileLocked(uuid, profile string, migOnly bool) (*GPU, nvml.Device, Profile, error) {
	g, dev, err := m.gpuLocked(uuid)
	if err != nil {
		return nil, nil, Profile{}, err
	}
	p, ok := g.Profile(profile)
	if ok && (!migOnly || p.Kind == MIG) {
		return g, dev, p, nil
	}
	kind := "profile"
	if migOnly {
		kind = "MIG profile"
	}
	var names []string
	for _, q := range g.Profiles {
		if !migOnly || q.Kind == MIG {
			names = append(names, q.Name)
		}
	}
	return nil, nil, Profile{}, fmt.Errorf("%q is not a %s of this GPU (MIG enabled: %v; offered: %v)", profile, kind, g.MIG.Enabled, names)
}

// addLocked records a as an allocation and returns a copy for the caller,
// whose changes to it (its Nodes too) cannot reach the manager's own.
// Called with m.mu held.
func (m *Manager) addLocked(a *Allocation) *Allocation {
	m.allocs[a.ID] = a
	c := *a
	c.Nodes = slices.Clone(a.Nodes)
	return &c
}

// migAllocID is the ID of the MIG allocation of GPU instance gi and its
// compute instance ci: Allocate and Adopt name an instance alike, so that
// Adopt finds one that is an allocation already.
func migAllocID(uuid string, gi, ci uint32) string {
	return fmt.Sprintf("%s/gi%d/ci%d", uuid, gi, ci)
}

func (m *Manager) allocateTimeSlice(g *GPU, domain string, p Profile) (*Allocation, error) {
	units := uint64(shareDenominator / p.Divisor)
	if used := m.shares[g.UUID]; used+units > shareDenominator {
		return nil, fmt.Errorf("nvml: allocate %s for domain %q on %s: %.4g of the GPU is given out already, %s needs %.4g: %w",
			p.Name, domain, g.UUID, float64(used)/shareDenominator, p.Name, float64(units)/shareDenominator, ErrNoCapacity)
	}
	nodes, err := m.nodes.gpuNodes(g.Minor)
	if err != nil {
		return nil, err
	}
	m.shares[g.UUID] += units
	id := fmt.Sprintf("%s/ts/%s/%d", g.UUID, domain, len(m.allocs))
	for m.allocs[id] != nil {
		id += "'"
	}
	return &Allocation{ID: id, Domain: domain, GPU: g.UUID, Profile: p.Name, Kind: TimeSlice,
		MemoryBytes: p.MemoryBytes, Divisor: p.Divisor, Nodes: nodes}, nil
}

// occupied lists the placements of every GPU instance on the device, ours
// and any made by others (nvidia-smi, another agent), so that Allocate
// never asks the driver for a placement it would refuse.
func occupied(dev nvml.Device, g *GPU) ([]Placement, error) {
	found, err := gpuInstances(dev, g)
	if err != nil {
		return nil, err
	}
	used := make([]Placement, 0, len(found))
	for _, f := range found {
		used = append(used, Placement{Start: f.info.Placement.Start, Size: f.info.Placement.Size})
	}
	return used, nil
}

// foundInstance is a GPU instance on a device, with the profile it is of.
type foundInstance struct {
	gi      nvml.GpuInstance
	info    nvml.GpuInstanceInfo
	profile Profile
}

// gpuInstances lists every GPU instance on the device, profile by
// profile (the driver lists them per profile).
func gpuInstances(dev nvml.Device, g *GPU) ([]foundInstance, error) {
	var out []foundInstance
	for _, p := range g.Profiles {
		info, ret := dev.GetGpuInstanceProfileInfo(p.GIProfileIndex)
		if err := check("nvmlDeviceGetGpuInstanceProfileInfo", g.UUID, ret); err != nil {
			return nil, err
		}
		gis, ret := dev.GetGpuInstances(&info)
		if err := check("nvmlDeviceGetGpuInstances", g.UUID, ret); err != nil {
			return nil, err
		}
		for _, gi := range gis {
			gInfo, ret := gi.GetInfo()
			if err := check("nvmlGpuInstanceGetInfo", g.UUID, ret); err != nil {
				return nil, err
			}
			out = append(out, foundInstance{gi: gi, info: gInfo, profile: p})
		}
	}
	return out, nil
}

// freePlacement is the first placement of p that overlaps none of used.
func freePlacement(p Profile, used []Placement) (Placement, bool) {
	for _, candidate := range p.Placements {
		if !slices.ContainsFunc(used, candidate.overlaps) {
			return candidate, true
		}
	}
	return Placement{}, false
}

// fullComputeProfile is the compute-instance profile spanning the whole GPU
// instance (the largest one the GI offers): a vcoproc gets all of its GI.
func fullComputeProfile(gi nvml.GpuInstance, uuid string) (nvml.ComputeInstanceProfileInfo, error) {
	var best nvml.ComputeInstanceProfileInfo
	found := false
	for index := range nvml.COMPUTE_INSTANCE_PROFILE_COUNT {
		info, ret := gi.GetComputeInstanceProfileInfo(index, nvml.COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
		if ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_INVALID_ARGUMENT {
			continue
		}
		if err := check("nvmlGpuInstanceGetComputeInstanceProfileInfo", uuid, ret); err != nil {
			return info, err
		}
		if !found || info.SliceCount > best.SliceCount {
			best, found = info, true
		}
	}
	if !found {
		return best, fmt.Errorf("nvml: GPU instance on %s offers no compute-instance profile", uuid)
	}
	return best, nil
}

func (m *Manager) allocateMIG(g *GPU, dev nvml.Device, domain string, p Profile) (*Allocation, error) {
	used, err := occupied(dev, g)
	if err != nil {
		return nil, err
	}
	placement, ok := freePlacement(p, used)
	if !ok {
		return nil, fmt.Errorf("nvml: allocate %s for domain %q on %s: every placement %v overlaps an existing GPU instance %v: %w",
			p.Name, domain, g.UUID, p.Placements, used, ErrNoCapacity)
	}
	info, ret := dev.GetGpuInstanceProfileInfo(p.GIProfileIndex)
	if err := check("nvmlDeviceGetGpuInstanceProfileInfo", g.UUID, ret); err != nil {
		return nil, err
	}
	nvPlacement := nvml.GpuInstancePlacement{Start: placement.Start, Size: placement.Size}
	gi, ret := dev.CreateGpuInstanceWithPlacement(&info, &nvPlacement)
	if err := check("nvmlDeviceCreateGpuInstanceWithPlacement", g.UUID, ret); err != nil {
		return nil, fmt.Errorf("nvml: allocate %s at %d:%d for domain %q: %w", p.Name, placement.Start, placement.Size, domain, err)
	}
	// From here on, a failure must not leave the GPU instance behind.
	undo := func(cause error) error {
		if ret := gi.Destroy(); ret != nvml.SUCCESS {
			return errors.Join(cause, fmt.Errorf("nvml: and rolling back the GPU instance failed: %w", check("nvmlGpuInstanceDestroy", g.UUID, ret)))
		}
		return cause
	}
	giInfo, ret := gi.GetInfo()
	if err := check("nvmlGpuInstanceGetInfo", g.UUID, ret); err != nil {
		return nil, undo(err)
	}
	ciProfile, err := fullComputeProfile(gi, g.UUID)
	if err != nil {
		return nil, undo(err)
	}
	ci, ret := gi.CreateComputeInstance(&ciProfile)
	if err := check("nvmlGpuInstanceCreateComputeInstance", g.UUID, ret); err != nil {
		return nil, undo(fmt.Errorf("nvml: allocate %s for domain %q: %w", p.Name, domain, err))
	}
	undoBoth := func(cause error) error {
		if ret := ci.Destroy(); ret != nvml.SUCCESS {
			return errors.Join(cause, fmt.Errorf("nvml: and rolling back the compute instance failed: %w", check("nvmlComputeInstanceDestroy", g.UUID, ret)))
		}
		return undo(cause)
	}
	ciInfo, ret := ci.GetInfo()
	if err := check("nvmlComputeInstanceGetInfo", g.UUID, ret); err != nil {
		return nil, undoBoth(err)
	}
	nodes, err := m.nodes.migNodes(g.Minor, giInfo.Id, ciInfo.Id)
	if err != nil {
		return nil, undoBoth(err)
	}
	return &Allocation{
		ID:     migAllocID(g.UUID, giInfo.Id, ciInfo.Id),
		Domain: domain, GPU: g.UUID, Profile: p.Name, Kind: MIG, MemoryBytes: p.MemoryBytes, Nodes: nodes,
		GPUInstanceID: giInfo.Id, ComputeInstanceID: ciInfo.Id, Placement: placement,
		gi: gi, ci: ci,
	}, nil
}

// Release gives an allocation back: a MIG allocation's compute and GPU
// instances are destroyed (the driver refuses with ERROR_IN_USE while a
// process still uses them: stop the domain's processes first); a
// time-slice share is returned. On error the allocation stays, so the
// caller can retry.
func (m *Manager) Release(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.allocs[id]
	if !ok {
		return fmt.Errorf("nvml: release %q: no such allocation", id)
	}
	switch a.Kind {
	case MIG:
		if a.ci != nil {
			if err := check("nvmlComputeInstanceDestroy", a.GPU, a.ci.Destroy()); err != nil {
				return fmt.Errorf("nvml: release %s of domain %q: %w", id, a.Domain, err)
			}
			a.ci = nil
		}
		if err := check("nvmlGpuInstanceDestroy", a.GPU, a.gi.Destroy()); err != nil {
			return fmt.Errorf("nvml: release %s of domain %q: %w", id, a.Domain, err)
		}
	case TimeSlice:
		m.shares[a.GPU] -= uint64(shareDenominator / a.Divisor)
	}
	delete(m.allocs, id)
	return nil
}

// Allocations lists the allocations of one domain, or of all when domain
// is "".
func (m *Manager) Allocations(domain string) []Allocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Allocation
	for _, a := range m.allocs {
		if domain == "" || a.Domain == domain {
			c := *a
			c.Nodes = slices.Clone(a.Nodes)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y Allocation) int {
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	return out
}
