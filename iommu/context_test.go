package iommu

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pattern returns n bytes that differ from page to page and from seed to seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i) + byte(i>>12)*7
	}
	return b
}

// mapped returns a context for domain with pages of fresh patterned memory
// mapped at iova with perm.
func mapped(t *testing.T, domain string, iova uint64, pages int, perm Perm) (*Context, []byte) {
	t.Helper()
	c := NewContext(domain)
	mem := pattern(pages*PageSize, 1)
	require.NoError(t, c.Map(iova, mem, perm))
	return c, mem
}

// snapshot is the observable state of a context that a failed call must
// leave alone.
type snapshot struct {
	mappings []Mapping
	pages    uint64
	nodes    uint64
	maps     uint64
	unmaps   uint64
	faults   uint64
}

func snap(c *Context) snapshot {
	s := c.Stats()
	return snapshot{c.Mappings(), s.MappedPages, s.TableNodes, s.Maps, s.Unmaps, s.Faults}
}

func TestPermString(t *testing.T) {
	for p, want := range map[Perm]string{0: "-", Read: "r", Write: "w", ReadWrite: "rw", 4: "Perm(0x4)"} {
		assert.Equal(t, want, p.String())
	}
}

func TestMapTranslateUnmap(t *testing.T) {
	c, mem := mapped(t, "ivi", 0x10000, 2, ReadWrite)
	assert.Equal(t, "ivi", c.Domain())

	b, err := c.Translate(0x10005, Read)
	require.NoError(t, err)
	assert.Len(t, b, PageSize-5, "translate returns the rest of the page")
	assert.Equal(t, mem[5:PageSize], b)

	// The mapping aliases mem both ways.
	b[0] = 0xAB
	assert.Equal(t, byte(0xAB), mem[5])
	mem[PageSize+7] = 0xCD
	b, err = c.Translate(0x11007, Write)
	require.NoError(t, err)
	assert.Equal(t, byte(0xCD), b[0])

	assert.Equal(t, []Mapping{{IOVA: 0x10000, Size: 2 * PageSize, Perm: ReadWrite}}, c.Mappings())
	s := c.Stats()
	assert.Equal(t, uint64(2), s.MappedPages)
	assert.Equal(t, uint64(1), s.Maps)

	require.NoError(t, c.Unmap(0x10000, PageSize))
	_, err = c.Translate(0x10000, Read)
	assert.ErrorIs(t, err, ErrNotMapped)
	_, err = c.Translate(0x11000, Read)
	assert.NoError(t, err, "the second page stays mapped")
	assert.Equal(t, []Mapping{{IOVA: 0x11000, Size: PageSize, Perm: ReadWrite}}, c.Mappings())

	require.NoError(t, c.Unmap(0x11000, PageSize))
	assert.Empty(t, c.Mappings())
	s = c.Stats()
	assert.Equal(t, uint64(0), s.MappedPages)
	assert.Equal(t, uint64(2), s.Unmaps)
	assert.Equal(t, uint64(0), s.TableNodes)
}

func TestMapBadArguments(t *testing.T) {
	const top = uint64(1) << IOVABits
	tests := []struct {
		name  string
		iova  uint64
		size  int
		perm  Perm
		is    error
		words string
	}{
		{"unaligned IOVA", 0x1001, PageSize, ReadWrite, ErrInvalidArgument, "not aligned"},
		{"zero size", 0x1000, 0, ReadWrite, ErrInvalidArgument, "size is zero"},
		{"size not a page multiple", 0x1000, 100, ReadWrite, ErrInvalidArgument, "not a multiple"},
		{"zero permission", 0x1000, PageSize, 0, ErrInvalidArgument, "permission - is not"},
		{"unknown permission bits", 0x1000, PageSize, 4, ErrInvalidArgument, "permission Perm(0x4)"},
		{"IOVA at 2^48", top, PageSize, ReadWrite, ErrOutOfRange, "48-bit"},
		{"range crosses 2^48", top - PageSize, 2 * PageSize, ReadWrite, ErrOutOfRange, "48-bit"},
		{"range wraps uint64", ^uint64(0) &^ pageMask, 2 * PageSize, ReadWrite, ErrOutOfRange, "48-bit"},
		{"exact overlap", 0x40000, PageSize, Read, ErrAlreadyMapped, "IOVA 0x40000 is mapped rw already"},
		{"overlap at the end", 0x3e000, 3 * PageSize, Read, ErrAlreadyMapped, "IOVA 0x40000 is mapped rw already"},
		{"overlap at the start", 0x41000, 2 * PageSize, Read, ErrAlreadyMapped, "IOVA 0x41000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mapped(t, "ivi", 0x40000, 2, ReadWrite)
			before := snap(c)
			var mem []byte
			if tt.size > 0 {
				mem = make([]byte, tt.size)
			}
			err := c.Map(tt.iova, mem, tt.perm)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.is)
			assert.Contains(t, err.Error(), `iommu: domain "ivi": map`)
			assert.Contains(t, err.Error(), tt.words)
			assert.Equal(t, before, snap(c), "a failed Map changes nothing")
			_, err = c.Translate(0x3e000, Read)
			assert.ErrorIs(t, err, ErrNotMapped, "no page of a failed Map is mapped")
		})
	}
}

func TestUnmapBadArguments(t *testing.T) {
	tests := []struct {
		name  string
		iova  uint64
		size  uint64
		is    error
		words string
	}{
		{"unaligned IOVA", 0x40800, PageSize, ErrInvalidArgument, "not aligned"},
		{"zero size", 0x40000, 0, ErrInvalidArgument, "size is zero"},
		{"size not a page multiple", 0x40000, 10, ErrInvalidArgument, "not a multiple"},
		{"beyond 2^48", 1 << IOVABits, PageSize, ErrOutOfRange, "48-bit"},
		{"never mapped", 0x90000, PageSize, ErrNotMapped, "IOVA 0x90000 is not mapped; nothing was unmapped"},
		{"runs past the mapping", 0x41000, 2 * PageSize, ErrNotMapped, "IOVA 0x42000 is not mapped"},
		{"starts before the mapping", 0x3f000, 2 * PageSize, ErrNotMapped, "IOVA 0x3f000 is not mapped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mapped(t, "ivi", 0x40000, 2, ReadWrite)
			before := snap(c)
			err := c.Unmap(tt.iova, tt.size)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.is)
			assert.Contains(t, err.Error(), `iommu: domain "ivi": unmap`)
			assert.Contains(t, err.Error(), tt.words)
			assert.Equal(t, before, snap(c), "a failed Unmap changes nothing")
			_, err = c.Translate(0x41000, Read)
			assert.NoError(t, err, "the mapping survives a failed Unmap")
		})
	}
}

func TestPageTableNodesFreed(t *testing.T) {
	c := NewContext("ivi")
	require.NoError(t, c.Map(0, make([]byte, PageSize), Read))
	assert.Equal(t, uint64(3), c.Stats().TableNodes, "one node per level below the root")
	require.NoError(t, c.Map(1<<39, make([]byte, PageSize), Read))
	assert.Equal(t, uint64(6), c.Stats().TableNodes, "a second top-level slot needs its own path")
	require.NoError(t, c.Map(1<<21, make([]byte, PageSize), Read))
	assert.Equal(t, uint64(7), c.Stats().TableNodes, "shares the upper levels with IOVA 0")

	require.NoError(t, c.Unmap(1<<39, PageSize))
	assert.Equal(t, uint64(4), c.Stats().TableNodes)
	require.NoError(t, c.Unmap(0, PageSize))
	assert.Equal(t, uint64(3), c.Stats().TableNodes, "only the emptied leaf goes")
	require.NoError(t, c.Unmap(1<<21, PageSize))
	assert.Equal(t, uint64(0), c.Stats().TableNodes)

	// A mapping spanning several leaves and unmapped in pieces.
	mem := make([]byte, 1024*PageSize)
	require.NoError(t, c.Map(1<<21-PageSize, mem, ReadWrite))
	assert.Equal(t, uint64(5), c.Stats().TableNodes, "three leaves under one l2 and l3")
	require.NoError(t, c.Unmap(1<<21-PageSize, PageSize))
	assert.Equal(t, uint64(4), c.Stats().TableNodes)
	require.NoError(t, c.Unmap(1<<21, 1023*PageSize))
	assert.Equal(t, uint64(0), c.Stats().TableNodes)
	assert.Equal(t, uint64(0), c.Stats().MappedPages)
}

func TestPermissionFaults(t *testing.T) {
	tests := []struct {
		perm   Perm
		access Perm
		ok     bool
	}{
		{Read, Read, true},
		{Read, Write, false},
		{Read, ReadWrite, false},
		{Write, Write, true},
		{Write, Read, false},
		{Write, ReadWrite, false},
		{ReadWrite, Read, true},
		{ReadWrite, Write, true},
		{ReadWrite, ReadWrite, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s page, %s access", tt.perm, tt.access), func(t *testing.T) {
			c, _ := mapped(t, "ivi", 0x2000, 1, tt.perm)
			// Twice: the first walks the table, the second hits the IOTLB.
			for range 2 {
				_, err := c.Translate(0x2010, tt.access)
				if tt.ok {
					assert.NoError(t, err)
					continue
				}
				var f *Fault
				require.ErrorAs(t, err, &f)
				assert.ErrorIs(t, err, ErrPermission)
				assert.Equal(t, Fault{Domain: "ivi", IOVA: 0x2010, Access: tt.access, Reason: ErrPermission, Mapped: tt.perm}, *f)
			}
		})
	}

	c, mem := mapped(t, "ivi", 0x2000, 1, Read)
	before := bytes.Clone(mem)
	err := c.WriteU32(0x2000, 0xdeadbeef)
	assert.EqualError(t, err, `iommu: domain "ivi": write at IOVA 0x2000: permission denied (page is mapped r)`)
	assert.Equal(t, before, mem)

	c, _ = mapped(t, "ivi", 0x2000, 1, Write)
	_, err = c.ReadU64(0x2008)
	assert.EqualError(t, err, `iommu: domain "ivi": read at IOVA 0x2008: permission denied (page is mapped w)`)
}

func TestFaultsRecorded(t *testing.T) {
	c, _ := mapped(t, "ivi", 0x1000, 1, Read)

	err := c.Write(0x7f000000, []byte{1, 2, 3})
	require.Error(t, err)
	assert.EqualError(t, err, `iommu: domain "ivi": write at IOVA 0x7f000000: not mapped`)
	assert.ErrorIs(t, err, ErrNotMapped)
	assert.NotErrorIs(t, err, ErrPermission)
	var f *Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, "ivi", f.Domain)
	assert.Equal(t, uint64(0x7f000000), f.IOVA)
	assert.Equal(t, Write, f.Access)

	_, err = c.Translate(1<<IOVABits+0x10, Read)
	assert.ErrorIs(t, err, ErrOutOfRange)
	assert.EqualError(t, err, `iommu: domain "ivi": read at IOVA 0x1000000000010: beyond the 48-bit I/O address space`)

	_, err = c.ReadU32(0x1ffe) // crosses from the mapped page into nothing
	assert.ErrorIs(t, err, ErrNotMapped)
	require.ErrorAs(t, err, &f)
	assert.Equal(t, uint64(0x2000), f.IOVA, "the fault names the first address that failed")

	err = c.Write(0x1000, []byte{1})
	assert.ErrorIs(t, err, ErrPermission)

	assert.Equal(t, []Fault{
		{Domain: "ivi", IOVA: 0x7f000000, Access: Write, Reason: ErrNotMapped},
		{Domain: "ivi", IOVA: 1<<IOVABits + 0x10, Access: Read, Reason: ErrOutOfRange},
		{Domain: "ivi", IOVA: 0x2000, Access: Read, Reason: ErrNotMapped},
		{Domain: "ivi", IOVA: 0x1000, Access: Write, Reason: ErrPermission, Mapped: Read},
	}, c.Faults())
	assert.Equal(t, uint64(4), c.Stats().Faults)

	// Check reports but does not record.
	err = c.Check(0x1000, 2*PageSize, Read)
	require.ErrorAs(t, err, &f)
	assert.Equal(t, Fault{Domain: "ivi", IOVA: 0x2000, Access: Read, Reason: ErrNotMapped}, *f)
	assert.Len(t, c.Faults(), 4)
	assert.Equal(t, uint64(4), c.Stats().Faults)
}

func TestFaultRingKeepsTheMostRecent(t *testing.T) {
	c := NewContext("ivi")
	assert.Empty(t, c.Faults())
	const n = MaxFaults + 36
	for i := range n {
		_, err := c.Translate(uint64(i)<<PageShift, Read)
		require.Error(t, err)
	}
	faults := c.Faults()
	require.Len(t, faults, MaxFaults)
	for i, f := range faults {
		assert.Equal(t, uint64(n-MaxFaults+i)<<PageShift, f.IOVA, "oldest first")
	}
	assert.Equal(t, uint64(n), c.Stats().Faults)
}

func TestBadAccessIsNotAFault(t *testing.T) {
	c, _ := mapped(t, "ivi", 0, 1, ReadWrite)
	for _, access := range []Perm{0, 4, 7} {
		_, err := c.Translate(0, access)
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.ErrorIs(t, c.Check(0, 8, access), ErrInvalidArgument)
		var f *Fault
		assert.False(t, errors.As(err, &f))
	}
	assert.Empty(t, c.Faults())
}

func TestCheck(t *testing.T) {
	c := NewContext("ivi")
	require.NoError(t, c.Map(0x10000, make([]byte, 2*PageSize), ReadWrite))
	require.NoError(t, c.Map(0x12000, make([]byte, PageSize), Read))
	tests := []struct {
		iova, size uint64
		access     Perm
		fault      *Fault
	}{
		{0x10000, 3 * PageSize, Read, nil},
		{0x10ff0, 0x1010, Write, nil},
		{0x10000, 3 * PageSize, Write, &Fault{Domain: "ivi", IOVA: 0x12000, Access: Write, Reason: ErrPermission, Mapped: Read}},
		{0x12ff0, 0x20, Read, &Fault{Domain: "ivi", IOVA: 0x13000, Access: Read, Reason: ErrNotMapped}},
		{0xf000, 0x2000, Read, &Fault{Domain: "ivi", IOVA: 0xf000, Access: Read, Reason: ErrNotMapped}},
		{0x13000, 0, Read, nil}, // nothing to check
		{^uint64(0) - 4, 8, Read, &Fault{Domain: "ivi", IOVA: ^uint64(0) - 4, Access: Read, Reason: ErrOutOfRange}},
	}
	for _, tt := range tests {
		err := c.Check(tt.iova, tt.size, tt.access)
		if tt.fault == nil {
			assert.NoError(t, err, "%#x+%#x %s", tt.iova, tt.size, tt.access)
			continue
		}
		var f *Fault
		require.ErrorAs(t, err, &f, "%#x+%#x %s", tt.iova, tt.size, tt.access)
		assert.Equal(t, *tt.fault, *f)
	}
	assert.Empty(t, c.Faults())
}

// TestIOTLBInvalidatedOnUnmap is the stale-TLB test: after Unmap and a remap
// of the same IOVA to other memory, every path must see the new memory.
func TestIOTLBInvalidatedOnUnmap(t *testing.T) {
	const iova = 0x5000
	oldMem := bytes.Repeat([]byte{0xAA}, PageSize)
	newMem := bytes.Repeat([]byte{0xBB}, PageSize)
	c := NewContext("ivi")
	require.NoError(t, c.Map(iova, oldMem, ReadWrite))

	_, err := c.Translate(iova, Read)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), c.Stats().TLBMisses)
	b, err := c.Translate(iova, Read)
	require.NoError(t, err)
	assert.Equal(t, byte(0xAA), b[0])
	assert.Equal(t, uint64(1), c.Stats().TLBHits, "the second translation hits the IOTLB")

	require.NoError(t, c.Unmap(iova, PageSize))
	_, err = c.Translate(iova, Read)
	assert.ErrorIs(t, err, ErrNotMapped, "a stale IOTLB entry would still translate")
	assert.ErrorIs(t, c.WriteU64(iova, 1), ErrNotMapped)

	require.NoError(t, c.Map(iova, newMem, Read))
	b, err = c.Translate(iova, Read)
	require.NoError(t, err)
	assert.Equal(t, byte(0xBB), b[0], "the remapped IOVA reaches the new memory")
	v, err := c.ReadU64(iova + 8)
	require.NoError(t, err)
	assert.Equal(t, uint64(0xBBBBBBBBBBBBBBBB), v)
	assert.ErrorIs(t, c.Write(iova, []byte{1}), ErrPermission, "and has the new permission")
	assert.Equal(t, bytes.Repeat([]byte{0xAA}, PageSize), oldMem, "the old memory is out of reach")
}

func TestIOTLBInvalidatedOnLargeUnmapAndUnmapAll(t *testing.T) {
	const pages = 3 * tlbEntries / 2 // more pages than IOTLB entries
	for _, all := range []bool{false, true} {
		t.Run(fmt.Sprintf("UnmapAll=%v", all), func(t *testing.T) {
			c := NewContext("ivi")
			oldMem := bytes.Repeat([]byte{0xAA}, pages*PageSize)
			require.NoError(t, c.Map(0, oldMem, ReadWrite))
			for p := range uint64(pages) {
				_, err := c.Translate(p<<PageShift, Read)
				require.NoError(t, err)
			}
			if all {
				c.UnmapAll()
			} else {
				require.NoError(t, c.Unmap(0, pages*PageSize))
			}
			for p := range uint64(pages) {
				_, err := c.Translate(p<<PageShift, Read)
				require.ErrorIs(t, err, ErrNotMapped)
			}
			newMem := make([]byte, pages*PageSize)
			require.NoError(t, c.Map(0, newMem, ReadWrite))
			for p := range uint64(pages) {
				require.NoError(t, c.WriteU32(p<<PageShift, uint32(p)+1))
			}
			assert.Equal(t, bytes.Repeat([]byte{0xAA}, pages*PageSize), oldMem)
			for p := range pages {
				assert.Equal(t, byte(p+1), newMem[p*PageSize])
			}
		})
	}
}

func TestIOTLBConflictingSlots(t *testing.T) {
	// Page numbers that share an IOTLB slot must not see each other's page.
	c := NewContext("ivi")
	a := bytes.Repeat([]byte{1}, PageSize)
	b := bytes.Repeat([]byte{2}, PageSize)
	require.NoError(t, c.Map(0x1000, a, Read))
	require.NoError(t, c.Map(0x1000+tlbEntries*PageSize, b, Write))
	for range 3 {
		v, err := c.ReadU32(0x1000)
		require.NoError(t, err)
		assert.Equal(t, uint32(0x01010101), v)
		require.NoError(t, c.WriteU32(0x1000+tlbEntries*PageSize, 7))
		assert.ErrorIs(t, c.WriteU32(0x1000, 7), ErrPermission)
	}
	assert.Equal(t, byte(7), b[0])
	assert.Equal(t, byte(1), a[0])
}

func TestReadWriteAcrossPages(t *testing.T) {
	c, mem := mapped(t, "ivi", 0x8000, 3, ReadWrite)
	src := pattern(5000, 99)
	require.NoError(t, c.Write(0x8ffa, src))
	assert.Equal(t, src, mem[0xffa:0xffa+5000])

	dst := make([]byte, 3*PageSize-2)
	require.NoError(t, c.Read(0x8001, dst))
	assert.Equal(t, mem[1:3*PageSize-1], dst)

	require.NoError(t, c.WriteU64(0x8ffc, 0x0807060504030201))
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, mem[0xffc:0x1004])
	v, err := c.ReadU64(0x8ffc)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x0807060504030201), v)
	require.NoError(t, c.WriteU32(0x9ffe, 0xa1b2c3d4))
	assert.Equal(t, []byte{0xd4, 0xc3, 0xb2, 0xa1}, mem[0x1ffe:0x2002])
	w, err := c.ReadU32(0x9ffe)
	require.NoError(t, err)
	assert.Equal(t, uint32(0xa1b2c3d4), w)
}

func TestReadWriteAcrossAdjacentMappings(t *testing.T) {
	c := NewContext("ivi")
	a := make([]byte, PageSize)
	b := make([]byte, 2*PageSize)
	require.NoError(t, c.Map(0x20000, a, ReadWrite))
	require.NoError(t, c.Map(0x21000, b, ReadWrite))

	src := pattern(300, 5)
	require.NoError(t, c.Write(0x21000-100, src))
	assert.Equal(t, src[:100], a[PageSize-100:])
	assert.Equal(t, src[100:], b[:200])

	dst := make([]byte, 300)
	require.NoError(t, c.Read(0x21000-100, dst))
	assert.Equal(t, src, dst)
}

// TestAccessPastAMappingMovesNothing checks the all-or-nothing rule.
func TestAccessPastAMappingMovesNothing(t *testing.T) {
	c := NewContext("ivi")
	mem := pattern(2*PageSize, 3)
	ro := pattern(PageSize, 4)
	require.NoError(t, c.Map(0x30000, mem, ReadWrite))
	require.NoError(t, c.Map(0x32000, ro, Read)) // right after mem
	tail := pattern(PageSize, 5)
	require.NoError(t, c.Map(0x40000, tail, ReadWrite)) // nothing after it
	memBefore, roBefore, tailBefore := bytes.Clone(mem), bytes.Clone(ro), bytes.Clone(tail)

	tests := []struct {
		name   string
		do     func() error
		iova   uint64
		reason error
	}{
		{"Write past the end", func() error { return c.Write(0x41000-10, make([]byte, 20)) }, 0x41000, ErrNotMapped},
		{"WriteU64 past the end", func() error { return c.WriteU64(0x40ffc, ^uint64(0)) }, 0x41000, ErrNotMapped},
		{"Write into a read-only mapping", func() error { return c.Write(0x31f00, make([]byte, 0x200)) }, 0x32000, ErrPermission},
		{"Write over three pages into nothing", func() error { return c.Write(0x30000, make([]byte, 4*PageSize)) }, 0x32000, ErrPermission},
		{"Write before the start", func() error { return c.Write(0x2fff0, make([]byte, 0x20)) }, 0x2fff0, ErrNotMapped},
		{"WriteU64 across the end", func() error { return c.WriteU64(0x32ffc, ^uint64(0)) }, 0x32ffc, ErrPermission},
		{"WriteU32 across into read-only", func() error { return c.WriteU32(0x31ffe, ^uint32(0)) }, 0x32000, ErrPermission},
		{"Write across 2^48", func() error {
			return c.Write(1<<IOVABits-8, make([]byte, 16))
		}, 1<<IOVABits - 8, ErrNotMapped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var f *Fault
			require.ErrorAs(t, err, &f)
			assert.ErrorIs(t, err, tt.reason)
			assert.Equal(t, tt.iova, f.IOVA)
			assert.Equal(t, memBefore, mem, "no byte of the mapping changed")
			assert.Equal(t, roBefore, ro, "no byte of the read-only mapping changed")
			assert.Equal(t, tailBefore, tail, "no byte of the last mapping changed")
		})
	}

	// Reads past the end leave the destination alone.
	dst := bytes.Repeat([]byte{0xEE}, 2*PageSize)
	assert.ErrorIs(t, c.Read(0x32800, dst), ErrNotMapped)
	assert.Equal(t, bytes.Repeat([]byte{0xEE}, 2*PageSize), dst)
}

func TestHighEndOfTheAddressSpace(t *testing.T) {
	const last = uint64(1)<<IOVABits - PageSize
	c, mem := mapped(t, "ivi", last, 1, ReadWrite)
	require.NoError(t, c.WriteU64(last+PageSize-8, 42))
	v, err := c.ReadU64(last + PageSize - 8)
	require.NoError(t, err)
	assert.Equal(t, uint64(42), v)
	assert.Equal(t, byte(42), mem[PageSize-8])

	before := bytes.Clone(mem)
	err = c.Write(last+PageSize-4, make([]byte, 8))
	var f *Fault
	require.ErrorAs(t, err, &f)
	assert.ErrorIs(t, err, ErrOutOfRange)
	assert.Equal(t, uint64(1)<<IOVABits, f.IOVA)
	assert.Equal(t, before, mem)
	_, err = c.ReadU64(^uint64(0) - 3) // wraps around uint64
	assert.ErrorIs(t, err, ErrOutOfRange)
	assert.Equal(t, []Mapping{{IOVA: last, Size: PageSize, Perm: ReadWrite}}, c.Mappings())
}

// TestAccessAcrossTableBoundaries writes across every level's boundary,
// where consecutive pages live in different leaves and upper nodes.
func TestAccessAcrossTableBoundaries(t *testing.T) {
	for _, boundary := range []uint64{1 << 21, 1 << 30, 1 << 39} {
		t.Run(fmt.Sprintf("%#x", boundary), func(t *testing.T) {
			c, mem := mapped(t, "ivi", boundary-2*PageSize, 4, ReadWrite)
			src := pattern(3*PageSize, 11)
			require.NoError(t, c.Write(boundary-PageSize-PageSize/2, src))
			assert.Equal(t, src, mem[PageSize/2:PageSize/2+3*PageSize])
			dst := make([]byte, len(src))
			require.NoError(t, c.Read(boundary-PageSize-PageSize/2, dst))
			assert.Equal(t, src, dst)
			require.NoError(t, c.Unmap(boundary-2*PageSize, 4*PageSize))
			assert.Equal(t, uint64(0), c.Stats().TableNodes)
		})
	}
}

func TestZeroLengthAccess(t *testing.T) {
	c := NewContext("ivi")
	assert.NoError(t, c.Read(0x1000, nil))
	assert.NoError(t, c.Write(1<<IOVABits, []byte{}))
	assert.NoError(t, c.Check(0x1000, 0, Write))
	assert.Empty(t, c.Faults())
}

func TestContextsAreIsolated(t *testing.T) {
	const iova = 0x100000
	a, memA := mapped(t, "ivi", iova, 1, ReadWrite)
	b, memB := mapped(t, "cluster", iova, 1, ReadWrite)
	clear(memA)
	clear(memB)

	require.NoError(t, a.WriteU64(iova, 0x1111))
	require.NoError(t, b.WriteU64(iova, 0x2222))
	va, err := a.ReadU64(iova)
	require.NoError(t, err)
	vb, err := b.ReadU64(iova)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x1111), va)
	assert.Equal(t, uint64(0x2222), vb)

	// Unmapping in one leaves the other (and its IOTLB) alone.
	require.NoError(t, a.Unmap(iova, PageSize))
	_, err = a.ReadU64(iova)
	assert.ErrorIs(t, err, ErrNotMapped)
	vb, err = b.ReadU64(iova)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x2222), vb)

	// A fault is recorded only in the context that took it.
	assert.Len(t, a.Faults(), 1)
	assert.Empty(t, b.Faults())
	assert.Equal(t, "ivi", a.Faults()[0].Domain)
}

func TestMappingsCoalesce(t *testing.T) {
	c := NewContext("ivi")
	require.NoError(t, c.Map(0x1000, make([]byte, 2*PageSize), ReadWrite))
	require.NoError(t, c.Map(0x3000, make([]byte, PageSize), ReadWrite)) // adjacent, same perm
	require.NoError(t, c.Map(0x4000, make([]byte, PageSize), Read))      // adjacent, other perm
	require.NoError(t, c.Map(0x6000, make([]byte, PageSize), Read))      // after a gap
	require.NoError(t, c.Map(1<<39, make([]byte, PageSize), Write))
	require.NoError(t, c.Map(0x1ff000, make([]byte, 2*PageSize), Write)) // across a leaf boundary
	assert.Equal(t, []Mapping{
		{IOVA: 0x1000, Size: 3 * PageSize, Perm: ReadWrite},
		{IOVA: 0x4000, Size: PageSize, Perm: Read},
		{IOVA: 0x6000, Size: PageSize, Perm: Read},
		{IOVA: 0x1ff000, Size: 2 * PageSize, Perm: Write},
		{IOVA: 1 << 39, Size: PageSize, Perm: Write},
	}, c.Mappings())
	assert.Equal(t, "[0x1000, 0x4000) rw", c.Mappings()[0].String())
}

func TestUnmapAll(t *testing.T) {
	c, mem := mapped(t, "ivi", 0x1000, 4, ReadWrite)
	require.NoError(t, c.Map(1<<40, make([]byte, PageSize), Read))
	_, err := c.ReadU64(0x1000)
	require.NoError(t, err)
	_, err = c.ReadU64(1 << 50) // a fault, kept across UnmapAll
	require.Error(t, err)

	c.UnmapAll()
	assert.Empty(t, c.Mappings())
	s := c.Stats()
	assert.Equal(t, uint64(0), s.MappedPages)
	assert.Equal(t, uint64(0), s.TableNodes)
	_, err = c.ReadU64(0x1000)
	assert.ErrorIs(t, err, ErrNotMapped)
	assert.Len(t, c.Faults(), 2)

	require.NoError(t, c.Map(0x1000, mem, ReadWrite), "the space is reusable")
}

func TestNoAllocationsOnTheDataPath(t *testing.T) {
	c, _ := mapped(t, "ivi", 0x1000, 2, ReadWrite)
	buf := make([]byte, 64)
	for name, fn := range map[string]func(){
		"Translate":         func() { _, _ = c.Translate(0x1008, Read) },
		"ReadU64":           func() { _, _ = c.ReadU64(0x1008) },
		"ReadU64 crossing":  func() { _, _ = c.ReadU64(0x1ffc) },
		"WriteU64":          func() { _ = c.WriteU64(0x1008, 1) },
		"WriteU64 crossing": func() { _ = c.WriteU64(0x1ffc, 1) },
		"ReadU32 crossing":  func() { _, _ = c.ReadU32(0x1ffe) },
		"WriteU32 crossing": func() { _ = c.WriteU32(0x1ffe, 1) },
		"Read crossing":     func() { _ = c.Read(0x1fe0, buf) },
		"Write crossing":    func() { _ = c.Write(0x1fe0, buf) },
		"Check":             func() { _ = c.Check(0x1000, 2*PageSize, Read) },
	} {
		assert.Zero(t, testing.AllocsPerRun(100, fn), name)
	}
}
