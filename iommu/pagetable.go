package iommu

// The page table: four levels of 512 entries above a 12-bit page offset.
//
//	IOVA bits  47..39   38..30   29..21   20..12   11..0
//	           l4 idx   l3 idx   l2 idx   l1 idx   offset
//
// The root (l4Table) is embedded in the Context. Every node counts its
// non-empty entries, so a node whose count drops to zero is unlinked and
// its parent's count drops in turn. An unlinked node has all entries empty,
// which makes it ready for reuse without clearing.

const (
	levelBits = 9
	entries   = 1 << levelBits
	levelMask = entries - 1
	pageMask  = PageSize - 1
	maxPFN    = 1 << (IOVABits - PageShift) // first page number out of range
	nodeReuse = 4                           // spare nodes kept per level
)

// l1Table is a leaf table: 512 host pages and their permissions.
type l1Table struct {
	page [entries]*[PageSize]byte
	perm [entries]Perm
	used int
}

type l2Table struct {
	next [entries]*l1Table
	used int
}

type l3Table struct {
	next [entries]*l2Table
	used int
}

type l4Table struct {
	next [entries]*l3Table
	used int
}

func idx4(pfn uint64) uint64 { return pfn >> (3 * levelBits) & levelMask }
func idx3(pfn uint64) uint64 { return pfn >> (2 * levelBits) & levelMask }
func idx2(pfn uint64) uint64 { return pfn >> levelBits & levelMask }
func idx1(pfn uint64) uint64 { return pfn & levelMask }

// pageTable is the radix table with a small cache of spare nodes.
type pageTable struct {
	root   l4Table
	spare1 []*l1Table
	spare2 []*l2Table
	spare3 []*l3Table
	nodes  uint64 // nodes below the root currently linked into the table
}

// leaf returns the leaf table covering pfn, or nil. pfn must be < maxPFN.
func (t *pageTable) leaf(pfn uint64) *l1Table {
	l3 := t.root.next[idx4(pfn)]
	if l3 == nil {
		return nil
	}
	l2 := l3.next[idx3(pfn)]
	if l2 == nil {
		return nil
	}
	return l2.next[idx2(pfn)]
}

// lookup returns the page and permission mapped at pfn (nil, 0 if none).
func (t *pageTable) lookup(pfn uint64) (*[PageSize]byte, Perm) {
	if pfn >= maxPFN {
		return nil, 0
	}
	l1 := t.leaf(pfn)
	if l1 == nil {
		return nil, 0
	}
	i := idx1(pfn)
	return l1.page[i], l1.perm[i]
}

// leafAlloc returns the leaf table covering pfn, creating the path to it.
func (t *pageTable) leafAlloc(pfn uint64) *l1Table {
	i4, i3, i2 := idx4(pfn), idx3(pfn), idx2(pfn)
	l3 := t.root.next[i4]
	if l3 == nil {
		l3 = t.newL3()
		t.root.next[i4] = l3
		t.root.used++
	}
	l2 := l3.next[i3]
	if l2 == nil {
		l2 = t.newL2()
		l3.next[i3] = l2
		l3.used++
	}
	l1 := l2.next[i2]
	if l1 == nil {
		l1 = t.newL1()
		l2.next[i2] = l1
		l2.used++
	}
	return l1
}

// prune unlinks the nodes on the path to pfn that have become empty, from
// the leaf upwards, and keeps a few of them for reuse.
func (t *pageTable) prune(pfn uint64) {
	i4, i3, i2 := idx4(pfn), idx3(pfn), idx2(pfn)
	l3 := t.root.next[i4]
	if l3 == nil {
		return
	}
	l2 := l3.next[i3]
	if l2 == nil {
		return
	}
	l1 := l2.next[i2]
	if l1 == nil || l1.used != 0 {
		return
	}
	l2.next[i2] = nil
	l2.used--
	t.nodes--
	if len(t.spare1) < nodeReuse {
		t.spare1 = append(t.spare1, l1)
	}
	if l2.used != 0 {
		return
	}
	l3.next[i3] = nil
	l3.used--
	t.nodes--
	if len(t.spare2) < nodeReuse {
		t.spare2 = append(t.spare2, l2)
	}
	if l3.used != 0 {
		return
	}
	t.root.next[i4] = nil
	t.root.used--
	t.nodes--
	if len(t.spare3) < nodeReuse {
		t.spare3 = append(t.spare3, l3)
	}
}

func (t *pageTable) newL1() *l1Table {
	t.nodes++
	if n := len(t.spare1); n > 0 {
		l := t.spare1[n-1]
		t.spare1 = t.spare1[:n-1]
		return l
	}
	return new(l1Table)
}

func (t *pageTable) newL2() *l2Table {
	t.nodes++
	if n := len(t.spare2); n > 0 {
		l := t.spare2[n-1]
		t.spare2 = t.spare2[:n-1]
		return l
	}
	return new(l2Table)
}

func (t *pageTable) newL3() *l3Table {
	t.nodes++
	if n := len(t.spare3); n > 0 {
		l := t.spare3[n-1]
		t.spare3 = t.spare3[:n-1]
		return l
	}
	return new(l3Table)
}

// reset drops every mapping. Nodes go to the garbage collector; the spares
// stay (they are empty by construction).
func (t *pageTable) reset() {
	t.root = l4Table{}
	t.nodes = 0
}

// walk calls fn for every mapped page in ascending IOVA order.
func (t *pageTable) walk(fn func(pfn uint64, perm Perm)) {
	for i4, l3 := range t.root.next {
		if l3 == nil {
			continue
		}
		for i3, l2 := range l3.next {
			if l2 == nil {
				continue
			}
			for i2, l1 := range l2.next {
				if l1 == nil {
					continue
				}
				base := uint64(i4)<<(3*levelBits) | uint64(i3)<<(2*levelBits) | uint64(i2)<<levelBits
				for i1, p := range l1.page {
					if p != nil {
						fn(base|uint64(i1), l1.perm[i1])
					}
				}
			}
		}
	}
}
