package iommu

import (
	"errors"
	"fmt"
	"sort"
)

// Device-memory errors. Compare with errors.Is.
var (
	// ErrQuota: the allocation would take the domain past its quota, or the
	// domain has none.
	ErrQuota = errors.New("device-memory quota exceeded")
	// ErrOutOfMemory: no free run is large enough.
	ErrOutOfMemory = errors.New("out of device memory")
	// ErrNotAllocated: Free of an allocation that is not live in this
	// DeviceMemory (a double free, a foreign or a nil allocation).
	ErrNotAllocated = errors.New("not a live allocation")
)

// DeviceMemory is a device's own memory (VRAM) partitioned among domains.
// It owns the memory as one []byte and hands out granule-aligned runs of it,
// first fit, within per-domain quotas. Freed runs are scrubbed to zeros
// before they return to the free list, and adjacent free runs coalesce.
//
// Every byte on the free list is zero, so a new allocation always reads as
// zeros: the next owner never sees what the previous one left (the
// LeftoverLocals class of leak, CVE-2023-4969).
//
// DeviceMemory does not know about address spaces: before freeing an
// allocation that was mapped into a Context, the caller must unmap it.
//
// A DeviceMemory is NOT safe for concurrent use; the caller serializes.
type DeviceMemory struct {
	mem       []byte
	granule   uint64
	free      []span // sorted by offset; no two touch
	freeBytes uint64
	domains   map[string]*domainMem
	allocs    uint64 // live allocations
	scrubbed  uint64 // bytes zeroed by Free, ever
}

type span struct{ off, size uint64 }

type domainMem struct {
	quota uint64
	used  uint64
	live  map[*Allocation]struct{}
}

// Allocation is a run of device memory owned by one domain. The exported
// fields describe it; changing them changes nothing (DeviceMemory keeps its
// own record).
type Allocation struct {
	Domain string
	Offset uint64 // from the start of device memory
	Size   uint64 // a multiple of the granule

	m      *DeviceMemory
	domain string
	off    uint64
	size   uint64
	freed  bool
}

// Bytes returns the device memory the allocation covers (capacity limited
// to it, so append cannot spill into a neighbour), or nil once it is freed.
// A guest reaches it only by having it mapped into its Context. Slices taken
// before Free still alias the memory; do not keep them past Free.
func (a *Allocation) Bytes() []byte {
	if a == nil || a.m == nil || a.freed {
		return nil
	}
	return a.m.mem[a.off : a.off+a.size : a.off+a.size]
}

// DeviceMemoryStats describes the state of a DeviceMemory.
type DeviceMemoryStats struct {
	Size        uint64 // total bytes
	Granule     uint64 // allocation granule
	Free        uint64 // free bytes
	LargestFree uint64 // size of the largest free run
	FreeRuns    uint64 // number of free runs (1 when fully coalesced)
	Allocations uint64 // live allocations
	Scrubbed    uint64 // bytes zeroed on Free, ever
}

// NewDeviceMemory returns size bytes of device memory, all free, allocated
// in units of granule. granule must be a non-zero multiple of PageSize (so
// allocations can be mapped into a Context) and size a non-zero multiple of
// granule.
func NewDeviceMemory(size, granule uint64) (*DeviceMemory, error) {
	switch {
	case granule == 0 || granule%PageSize != 0:
		return nil, fmt.Errorf("iommu: device memory: granule %d is not a non-zero multiple of the %d-byte page: %w",
			granule, PageSize, ErrInvalidArgument)
	case size == 0 || size%granule != 0:
		return nil, fmt.Errorf("iommu: device memory: size %d is not a non-zero multiple of the granule (%s): %w",
			size, fmtSize(granule), ErrInvalidArgument)
	}
	return &DeviceMemory{
		mem:       make([]byte, size),
		granule:   granule,
		free:      []span{{0, size}},
		freeBytes: size,
		domains:   make(map[string]*domainMem),
	}, nil
}

// Size returns the total bytes of device memory.
func (m *DeviceMemory) Size() uint64 { return uint64(len(m.mem)) }

// Granule returns the allocation granule.
func (m *DeviceMemory) Granule() uint64 { return m.granule }

func (m *DeviceMemory) domain(name string) *domainMem {
	d := m.domains[name]
	if d == nil {
		d = &domainMem{live: make(map[*Allocation]struct{})}
		m.domains[name] = d
	}
	return d
}

// SetQuota sets how many bytes domain may hold. 0 allows no allocation; a
// domain SetQuota was never called for cannot allocate. Lowering a quota
// below what the domain holds keeps its allocations and refuses new ones.
func (m *DeviceMemory) SetQuota(domain string, bytes uint64) {
	m.domain(domain).quota = bytes
}

// Quota returns domain's quota (0 if none was set).
func (m *DeviceMemory) Quota(domain string) uint64 {
	if d := m.domains[domain]; d != nil {
		return d.quota
	}
	return 0
}

// Used returns the bytes domain holds.
func (m *DeviceMemory) Used(domain string) uint64 {
	if d := m.domains[domain]; d != nil {
		return d.used
	}
	return 0
}

// FreeBytes returns the bytes not allocated to anyone.
func (m *DeviceMemory) FreeBytes() uint64 { return m.freeBytes }

// Stats returns the state of the DeviceMemory.
func (m *DeviceMemory) Stats() DeviceMemoryStats {
	return DeviceMemoryStats{
		Size:        m.Size(),
		Granule:     m.granule,
		Free:        m.freeBytes,
		LargestFree: m.largestFree(),
		FreeRuns:    uint64(len(m.free)),
		Allocations: m.allocs,
		Scrubbed:    m.scrubbed,
	}
}

func (m *DeviceMemory) largestFree() uint64 {
	var l uint64
	for _, s := range m.free {
		l = max(l, s.size)
	}
	return l
}

// Alloc gives domain size bytes (rounded up to the granule) from the lowest
// free run that fits. The memory reads as zeros.
func (m *DeviceMemory) Alloc(domain string, size uint64) (*Allocation, error) {
	if size == 0 {
		return nil, fmt.Errorf("iommu: device memory: domain %q asks 0 bytes; ask for at least one granule (%s): %w",
			domain, fmtSize(m.granule), ErrInvalidArgument)
	}
	need := size
	if size <= m.Size() {
		need = (size + m.granule - 1) / m.granule * m.granule
	}
	asks := fmtSize(need)
	if need != size {
		asks = fmt.Sprintf("%s (%d bytes rounded up to the %s granule)", asks, size, fmtSize(m.granule))
	}
	d := m.domains[domain]
	if d == nil {
		return nil, fmt.Errorf("iommu: device memory: domain %q asks %s but has no quota; SetQuota first: %w",
			domain, asks, ErrQuota)
	}
	if need > d.quota || d.used > d.quota-need {
		return nil, fmt.Errorf("iommu: device memory: domain %q asks %s, quota %s with %s in use: %w",
			domain, asks, fmtSize(d.quota), fmtSize(d.used), ErrQuota)
	}
	i := -1
	for j, s := range m.free {
		if s.size >= need {
			i = j
			break
		}
	}
	if i < 0 {
		return nil, fmt.Errorf("iommu: device memory: domain %q asks %s: %w: %s free, largest free run %s",
			domain, asks, ErrOutOfMemory, fmtSize(m.freeBytes), fmtSize(m.largestFree()))
	}
	off := m.free[i].off
	if m.free[i].size == need {
		m.free = append(m.free[:i], m.free[i+1:]...)
	} else {
		m.free[i].off += need
		m.free[i].size -= need
	}
	m.freeBytes -= need
	d.used += need
	m.allocs++
	a := &Allocation{Domain: domain, Offset: off, Size: need, m: m, domain: domain, off: off, size: need}
	d.live[a] = struct{}{}
	return a, nil
}

// Free scrubs (zeroes) the allocation's bytes and returns them to the free
// list. Freeing twice, freeing nil or an allocation of another
// DeviceMemory is an error and changes nothing.
func (m *DeviceMemory) Free(a *Allocation) error {
	switch {
	case a == nil:
		return fmt.Errorf("iommu: device memory: free of a nil allocation: %w", ErrNotAllocated)
	case a.m != m:
		return fmt.Errorf("iommu: device memory: free of domain %q's allocation at offset %#x: it belongs to another device memory: %w",
			a.domain, a.off, ErrNotAllocated)
	case a.freed:
		return fmt.Errorf("iommu: device memory: double free of domain %q's allocation at offset %#x (%s): %w",
			a.domain, a.off, fmtSize(a.size), ErrNotAllocated)
	}
	m.release(a)
	return nil
}

// FreeAll scrubs and frees every allocation domain holds (domain teardown)
// and returns the bytes freed. The quota stays.
func (m *DeviceMemory) FreeAll(domain string) uint64 {
	d := m.domains[domain]
	if d == nil {
		return 0
	}
	var n uint64
	for a := range d.live {
		n += a.size
		m.release(a)
	}
	return n
}

func (m *DeviceMemory) release(a *Allocation) {
	clear(m.mem[a.off : a.off+a.size])
	m.scrubbed += a.size
	d := m.domains[a.domain]
	delete(d.live, a)
	d.used -= a.size
	m.allocs--
	a.freed = true
	m.insertFree(span{a.off, a.size})
}

// insertFree puts s on the free list, merging it with the runs it touches.
func (m *DeviceMemory) insertFree(s span) {
	m.freeBytes += s.size
	i := sort.Search(len(m.free), func(j int) bool { return m.free[j].off > s.off })
	mergePrev := i > 0 && m.free[i-1].off+m.free[i-1].size == s.off
	mergeNext := i < len(m.free) && s.off+s.size == m.free[i].off
	switch {
	case mergePrev && mergeNext:
		m.free[i-1].size += s.size + m.free[i].size
		m.free = append(m.free[:i], m.free[i+1:]...)
	case mergePrev:
		m.free[i-1].size += s.size
	case mergeNext:
		m.free[i].off = s.off
		m.free[i].size += s.size
	default:
		m.free = append(m.free, span{})
		copy(m.free[i+1:], m.free[i:])
		m.free[i] = s
	}
}

// fmtSize writes n in the largest binary unit that divides it exactly.
func fmtSize(n uint64) string {
	switch {
	case n == 0:
		return "0 bytes"
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
