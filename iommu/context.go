package iommu

import (
	"encoding/binary"
	"fmt"
)

// Geometry of an I/O address space.
const (
	PageShift = 12             // log2 of the page size
	PageSize  = 1 << PageShift // bytes per page
	IOVABits  = 48             // IOVAs run from 0 to 1<<IOVABits - 1
)

// MaxFaults is how many recent faults a Context keeps (Faults); older ones
// are dropped but still counted in Stats.Faults.
const MaxFaults = 64

// The IOTLB: direct-mapped, indexed by the low bits of the page number and
// tagged with the whole page number plus a valid bit. Page numbers are below
// 1<<36, so the valid bit never collides with one, and an out-of-range page
// number can never match a tag.
const (
	tlbEntries = 256
	tlbMask    = tlbEntries - 1
	tlbValid   = 1 << 63
)

type tlbEntry struct {
	tag  uint64 // pfn | tlbValid; 0 when empty
	page *[PageSize]byte
	perm Perm
}

// Stats counts what a Context has done.
type Stats struct {
	MappedPages uint64 // pages mapped now
	TableNodes  uint64 // page-table nodes below the root in use now
	TLBHits     uint64 // translations served by the IOTLB
	TLBMisses   uint64 // translations that walked the page table
	Faults      uint64 // faults recorded, ever (the ring keeps MaxFaults)
	Maps        uint64 // successful Map calls
	Unmaps      uint64 // successful Unmap and UnmapAll calls
}

// Mapping is a run of contiguous mapped pages with one permission.
type Mapping struct {
	IOVA uint64
	Size uint64
	Perm Perm
}

func (m Mapping) String() string {
	return fmt.Sprintf("[%#x, %#x) %s", m.IOVA, m.IOVA+m.Size, m.Perm)
}

// Context is one domain's I/O address space: a 4-level page table, an IOTLB
// in front of it, and a record of recent faults.
//
// A Context is NOT safe for concurrent use. It takes no locks so that a
// translation stays at a few nanoseconds; the caller (the mediator, which
// serializes all access to a domain) must not call it from two goroutines at
// once. The zero Context is not usable; call NewContext.
type Context struct {
	domain    string
	pt        pageTable
	tlb       [tlbEntries]tlbEntry
	stats     Stats
	faults    [MaxFaults]Fault
	faultNext int // ring slot the next fault goes to
	faultLen  int // faults held in the ring
}

// NewContext returns an empty address space for domain.
func NewContext(domain string) *Context {
	return &Context{domain: domain}
}

// Domain returns the name the Context was created with.
func (c *Context) Domain() string { return c.domain }

func (c *Context) argError(op string, iova, size uint64, sentinel error, format string, args ...any) error {
	return fmt.Errorf("iommu: domain %q: %s of %#x bytes at IOVA %#x: %s: %w",
		c.domain, op, size, iova, fmt.Sprintf(format, args...), sentinel)
}

// checkRangeArgs validates the arguments shared by Map and Unmap.
func (c *Context) checkRangeArgs(op string, iova, size uint64) error {
	switch {
	case iova&pageMask != 0:
		return c.argError(op, iova, size, ErrInvalidArgument,
			"IOVA is not aligned to the %d-byte page; round it down to %#x", PageSize, iova&^uint64(pageMask))
	case size == 0:
		return c.argError(op, iova, size, ErrInvalidArgument, "size is zero; give at least one page")
	case size&pageMask != 0:
		return c.argError(op, iova, size, ErrInvalidArgument,
			"size is not a multiple of the %d-byte page", PageSize)
	case iova >= 1<<IOVABits || size > 1<<IOVABits-iova:
		return c.argError(op, iova, size, ErrOutOfRange,
			"range ends beyond the %d-bit I/O address space (limit %#x)", IOVABits, uint64(1)<<IOVABits)
	}
	return nil
}

// Map enters mem into the address space at iova with permission perm.
//
// iova must be page-aligned, len(mem) a non-zero multiple of PageSize, the
// whole range below 1<<IOVABits, perm one of Read, Write, ReadWrite, and no
// page of the range mapped already. On any error nothing changes.
//
// The pages alias mem; nothing is copied. Device writes land in mem, and mem
// must stay reserved for the device until the range is unmapped.
func (c *Context) Map(iova uint64, mem []byte, perm Perm) error {
	size := uint64(len(mem))
	if !perm.valid() {
		return c.argError("map", iova, size, ErrInvalidArgument,
			"permission %s is not r, w or rw", perm)
	}
	if err := c.checkRangeArgs("map", iova, size); err != nil {
		return err
	}
	first := iova >> PageShift
	end := first + size>>PageShift

	// Check everything before changing anything.
	for pfn := first; pfn < end; {
		stop := min(end, pfn|levelMask+1)
		if l1 := c.pt.leaf(pfn); l1 != nil {
			for ; pfn < stop; pfn++ {
				if p := l1.page[idx1(pfn)]; p != nil {
					return c.argError("map", iova, size, ErrAlreadyMapped,
						"IOVA %#x is mapped %s already; unmap it first or pick a free range",
						pfn<<PageShift, l1.perm[idx1(pfn)])
				}
			}
		}
		pfn = stop
	}

	off := 0
	for pfn := first; pfn < end; {
		stop := min(end, pfn|levelMask+1)
		l1 := c.pt.leafAlloc(pfn)
		l1.used += int(stop - pfn)
		for ; pfn < stop; pfn++ {
			i := idx1(pfn)
			l1.page[i] = (*[PageSize]byte)(mem[off : off+PageSize])
			l1.perm[i] = perm
			off += PageSize
		}
	}
	c.stats.MappedPages += end - first
	c.stats.Maps++
	return nil
}

// Unmap removes [iova, iova+size) from the address space. iova and size must
// be page-aligned and every page of the range mapped; otherwise Unmap returns
// an error and changes nothing. Every removed page is invalidated in the
// IOTLB, and page-table nodes that become empty are freed.
func (c *Context) Unmap(iova, size uint64) error {
	if err := c.checkRangeArgs("unmap", iova, size); err != nil {
		return err
	}
	first := iova >> PageShift
	end := first + size>>PageShift

	for pfn := first; pfn < end; {
		stop := min(end, pfn|levelMask+1)
		l1 := c.pt.leaf(pfn)
		for ; pfn < stop; pfn++ {
			if l1 == nil || l1.page[idx1(pfn)] == nil {
				return c.argError("unmap", iova, size, ErrNotMapped,
					"IOVA %#x is not mapped; nothing was unmapped", pfn<<PageShift)
			}
		}
	}

	flushAll := end-first > tlbEntries
	for pfn := first; pfn < end; {
		run := pfn
		stop := min(end, pfn|levelMask+1)
		l1 := c.pt.leaf(pfn)
		l1.used -= int(stop - pfn)
		for ; pfn < stop; pfn++ {
			i := idx1(pfn)
			l1.page[i] = nil
			l1.perm[i] = 0
			if !flushAll {
				c.invalidate(pfn)
			}
		}
		if l1.used == 0 {
			c.pt.prune(run)
		}
	}
	if flushAll {
		c.tlb = [tlbEntries]tlbEntry{}
	}
	c.stats.MappedPages -= end - first
	c.stats.Unmaps++
	return nil
}

// invalidate drops pfn's IOTLB entry, if it holds one.
func (c *Context) invalidate(pfn uint64) {
	if e := &c.tlb[pfn&tlbMask]; e.tag == pfn|tlbValid {
		*e = tlbEntry{}
	}
}

// UnmapAll drops every mapping and flushes the IOTLB (domain teardown).
// Recorded faults are kept.
func (c *Context) UnmapAll() {
	c.pt.reset()
	c.tlb = [tlbEntries]tlbEntry{}
	c.stats.MappedPages = 0
	c.stats.Unmaps++
}

// page returns the host page at pfn if access is allowed, else nil. access
// must be valid. This is the hot path: an IOTLB hit is a compare and a load.
func (c *Context) page(pfn uint64, access Perm) *[PageSize]byte {
	e := &c.tlb[pfn&tlbMask]
	if e.tag == pfn|tlbValid && access&^e.perm == 0 {
		c.stats.TLBHits++
		return e.page
	}
	return c.pageMiss(pfn, access)
}

func (c *Context) pageMiss(pfn uint64, access Perm) *[PageSize]byte {
	e := &c.tlb[pfn&tlbMask]
	if e.tag == pfn|tlbValid { // cached, but the access is not allowed
		c.stats.TLBHits++
		return nil
	}
	c.stats.TLBMisses++
	p, perm := c.pt.lookup(pfn)
	if p == nil {
		return nil
	}
	*e = tlbEntry{tag: pfn | tlbValid, page: p, perm: perm}
	if access&^perm != 0 {
		return nil
	}
	return p
}

// pageChecked returns the page at pfn for the copy phase of an access whose
// every page has been checked already. It touches no statistics.
func (c *Context) pageChecked(pfn uint64) *[PageSize]byte {
	if e := &c.tlb[pfn&tlbMask]; e.tag == pfn|tlbValid {
		return e.page
	}
	p, _ := c.pt.lookup(pfn)
	if p == nil {
		panic(fmt.Sprintf("iommu: internal error: page %#x vanished between check and copy", pfn<<PageShift))
	}
	return p
}

// newFault describes why access at iova fails.
func (c *Context) newFault(iova uint64, access Perm) *Fault {
	f := &Fault{Domain: c.domain, IOVA: iova, Access: access}
	pfn := iova >> PageShift
	p, perm := c.pt.lookup(pfn)
	switch {
	case pfn >= maxPFN:
		f.Reason = ErrOutOfRange
	case p == nil:
		f.Reason = ErrNotMapped
	default:
		f.Reason = ErrPermission
		f.Mapped = perm
	}
	return f
}

// record keeps f in the fault ring and returns it as an error.
func (c *Context) record(f *Fault) error {
	c.faults[c.faultNext] = *f
	c.faultNext = (c.faultNext + 1) % MaxFaults
	c.faultLen = min(c.faultLen+1, MaxFaults)
	c.stats.Faults++
	return f
}

func (c *Context) fault(iova uint64, access Perm) error {
	return c.record(c.newFault(iova, access))
}

// checkRange checks every page of [iova, iova+size) for access, in address
// order, and describes the first failure. size must be non-zero.
func (c *Context) checkRange(iova, size uint64, access Perm) *Fault {
	for a := iova; ; {
		pfn := a >> PageShift
		if c.page(pfn, access) == nil {
			return c.newFault(a, access)
		}
		// pfn < maxPFN here, so next cannot overflow.
		next := (pfn + 1) << PageShift
		if next-iova >= size {
			return nil
		}
		a = next
	}
}

func accessError(op string, access Perm) error {
	return fmt.Errorf("iommu: %s: access %s is not r, w or rw: %w", op, access, ErrInvalidArgument)
}

// Translate returns the host bytes from iova to the end of its page, after
// checking that access (Read, Write or ReadWrite) is allowed. A failed
// translation is recorded and returned as a *Fault. The slice aliases the
// mapped memory and is valid until the page is unmapped.
func (c *Context) Translate(iova uint64, access Perm) ([]byte, error) {
	if !access.valid() {
		return nil, accessError("translate", access)
	}
	p := c.page(iova>>PageShift, access)
	if p == nil {
		return nil, c.fault(iova, access)
	}
	return p[iova&pageMask:], nil
}

// Check reports whether all of [iova, iova+size) is mapped with access,
// returning a *Fault for the first page that is not. It moves no data and
// records no fault: it is for scanners that vet a command before it runs.
// A zero size is always fine.
func (c *Context) Check(iova, size uint64, access Perm) error {
	if !access.valid() {
		return accessError("check", access)
	}
	if size == 0 {
		return nil
	}
	if f := c.checkRange(iova, size, access); f != nil {
		return f
	}
	return nil
}

// Read copies len(dst) bytes of guest memory at iova into dst. The range may
// span pages and mappings. All or nothing: every page is checked before any
// byte moves, so on a fault dst is untouched.
func (c *Context) Read(iova uint64, dst []byte) error {
	n := uint64(len(dst))
	if n == 0 {
		return nil
	}
	off := iova & pageMask
	if off+n <= PageSize {
		p := c.page(iova>>PageShift, Read)
		if p == nil {
			return c.fault(iova, Read)
		}
		copy(dst, p[off:])
		return nil
	}
	if f := c.checkRange(iova, n, Read); f != nil {
		return c.record(f)
	}
	for done := 0; done < len(dst); {
		a := iova + uint64(done)
		done += copy(dst[done:], c.pageChecked(a >> PageShift)[a&pageMask:])
	}
	return nil
}

// Write copies src into guest memory at iova. The range may span pages and
// mappings. All or nothing: every page is checked before any byte moves, so
// a write that runs past a mapping changes nothing.
func (c *Context) Write(iova uint64, src []byte) error {
	n := uint64(len(src))
	if n == 0 {
		return nil
	}
	off := iova & pageMask
	if off+n <= PageSize {
		p := c.page(iova>>PageShift, Write)
		if p == nil {
			return c.fault(iova, Write)
		}
		copy(p[off:], src)
		return nil
	}
	if f := c.checkRange(iova, n, Write); f != nil {
		return c.record(f)
	}
	for done := 0; done < len(src); {
		a := iova + uint64(done)
		done += copy(c.pageChecked(a >> PageShift)[a&pageMask:], src[done:])
	}
	return nil
}

// ReadU32 reads a little-endian uint32 at iova (which may cross a page).
func (c *Context) ReadU32(iova uint64) (uint32, error) {
	if off := iova & pageMask; off <= PageSize-4 {
		p := c.page(iova>>PageShift, Read)
		if p == nil {
			return 0, c.fault(iova, Read)
		}
		return binary.LittleEndian.Uint32(p[off:]), nil
	}
	var b [4]byte
	if err := c.Read(iova, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// ReadU64 reads a little-endian uint64 at iova (which may cross a page).
func (c *Context) ReadU64(iova uint64) (uint64, error) {
	if off := iova & pageMask; off <= PageSize-8 {
		p := c.page(iova>>PageShift, Read)
		if p == nil {
			return 0, c.fault(iova, Read)
		}
		return binary.LittleEndian.Uint64(p[off:]), nil
	}
	var b [8]byte
	if err := c.Read(iova, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// WriteU32 writes v little-endian at iova (which may cross a page).
func (c *Context) WriteU32(iova uint64, v uint32) error {
	if off := iova & pageMask; off <= PageSize-4 {
		p := c.page(iova>>PageShift, Write)
		if p == nil {
			return c.fault(iova, Write)
		}
		binary.LittleEndian.PutUint32(p[off:], v)
		return nil
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return c.Write(iova, b[:])
}

// WriteU64 writes v little-endian at iova (which may cross a page).
func (c *Context) WriteU64(iova uint64, v uint64) error {
	if off := iova & pageMask; off <= PageSize-8 {
		p := c.page(iova>>PageShift, Write)
		if p == nil {
			return c.fault(iova, Write)
		}
		binary.LittleEndian.PutUint64(p[off:], v)
		return nil
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return c.Write(iova, b[:])
}

// Faults returns the most recent faults (at most MaxFaults), oldest first.
func (c *Context) Faults() []Fault {
	out := make([]Fault, 0, c.faultLen)
	start := (c.faultNext - c.faultLen + MaxFaults) % MaxFaults
	for i := range c.faultLen {
		out = append(out, c.faults[(start+i)%MaxFaults])
	}
	return out
}

// Stats returns the Context's counters.
func (c *Context) Stats() Stats {
	s := c.stats
	s.TableNodes = c.pt.nodes
	return s
}

// Mappings returns the mapped ranges in ascending IOVA order, adjacent pages
// with the same permission coalesced into one run (whether or not they came
// from one Map call). For debugging and tests; it allocates.
func (c *Context) Mappings() []Mapping {
	var out []Mapping
	c.pt.walk(func(pfn uint64, perm Perm) {
		iova := pfn << PageShift
		if n := len(out); n > 0 && out[n-1].IOVA+out[n-1].Size == iova && out[n-1].Perm == perm {
			out[n-1].Size += PageSize
			return
		}
		out = append(out, Mapping{IOVA: iova, Size: PageSize, Perm: perm})
	})
	return out
}
