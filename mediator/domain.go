package mediator

import (
	"sort"

	"github.com/coprocd/coprocd/iommu"
)

// Domain is a VM, container or process that shares coprocessors. It owns one
// I/O address space, used by all of its vcoprocs: its memory is reachable
// by a device only through it.
type Domain struct {
	m        *Mediator
	name     string
	as       *iommu.Context
	vcoprocs map[string]*VCoproc // by device name
}

// Name is the domain's name.
func (d *Domain) Name() string { return d.name }

// Map makes guest memory reachable by the domain's devices at iova with perm.
// The memory is aliased, not copied: device writes land in mem.
func (d *Domain) Map(iova uint64, mem []byte, perm iommu.Perm) error {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return d.as.Map(iova, mem, perm)
}

// Unmap removes [iova, iova+size) from the domain's address space. A job
// that touches it afterwards faults, in this domain only.
func (d *Domain) Unmap(iova, size uint64) error {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return d.as.Unmap(iova, size)
}

// Faults returns the domain's most recent IOMMU faults.
func (d *Domain) Faults() []iommu.Fault {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return d.as.Faults()
}

// VCoprocs returns the domain's vcoprocs sorted by name.
func (d *Domain) VCoprocs() []*VCoproc {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	out := make([]*VCoproc, 0, len(d.vcoprocs))
	for _, vc := range d.vcoprocs {
		out = append(out, vc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
