package iommu

import (
	"encoding/binary"
	"testing"

	"github.com/coprocd/coprocd/internal/benchref"
)

// Sinks keep the compiler from discarding benchmark work.
var (
	sinkByte byte
	sinkU64  uint64
)

// BenchmarkTranslateTLBHit: translating an IOVA whose page is in the IOTLB,
// against indexing a plain slice of page pointers. Target: ≤ 10 ns/op and
// 0 allocs/op.
func BenchmarkTranslateTLBHit(b *testing.B) {
	const pages = 16
	c := NewContext("bench")
	mem := make([]byte, pages*PageSize)
	if err := c.Map(0, mem, ReadWrite); err != nil {
		b.Fatal(err)
	}
	plain := make([]*[PageSize]byte, pages)
	for i := range plain {
		plain[i] = (*[PageSize]byte)(mem[i*PageSize:])
	}
	benchref.Compare(b,
		func(n int) {
			var s byte
			for i := range n {
				s += plain[i%pages][i&0xff]
			}
			sinkByte = s
		},
		func(n int) {
			var s byte
			for i := range n {
				p, err := c.Translate(uint64(i%pages)<<PageShift|uint64(i&0xff), Read)
				if err != nil {
					b.Fatal(err)
				}
				s += p[0]
			}
			sinkByte = s
		})
	if s := c.Stats(); s.TLBMisses > pages {
		b.Fatalf("expected IOTLB hits, got %+v", s)
	}
}

// BenchmarkTranslateTLBMiss: every translation walks the four-level table
// (512 pages in turn through a 256-entry direct-mapped IOTLB), against a Go
// map lookup.
func BenchmarkTranslateTLBMiss(b *testing.B) {
	const pages = 2 * tlbEntries
	c := NewContext("bench")
	mem := make([]byte, pages*PageSize)
	if err := c.Map(0, mem, ReadWrite); err != nil {
		b.Fatal(err)
	}
	plain := make(map[uint64]*[PageSize]byte, pages)
	for i := range pages {
		plain[uint64(i)] = (*[PageSize]byte)(mem[i*PageSize:])
	}
	benchref.Compare(b,
		func(n int) {
			var s byte
			for i := range n {
				s += plain[uint64(i%pages)][0]
			}
			sinkByte = s
		},
		func(n int) {
			var s byte
			for i := range n {
				p, err := c.Translate(uint64(i%pages)<<PageShift, Read)
				if err != nil {
					b.Fatal(err)
				}
				s += p[0]
			}
			sinkByte = s
		})
}

// BenchmarkMapUnmap4K: one Map and one Unmap of a 4 KiB page (the table
// nodes on its path are freed and reused each time), against an insert and
// a delete in a Go map. Target: ≥ 2 M pairs/s (≤ 500 ns per pair).
func BenchmarkMapUnmap4K(b *testing.B) {
	const slots = 256
	c := NewContext("bench")
	page := make([]byte, PageSize)
	plain := make(map[uint64]*[PageSize]byte)
	benchref.Compare(b,
		func(n int) {
			p := (*[PageSize]byte)(page)
			for i := range n {
				k := uint64(i % slots)
				plain[k] = p
				delete(plain, k)
			}
		},
		func(n int) {
			for i := range n {
				iova := uint64(i%slots) << PageShift
				if err := c.Map(iova, page, ReadWrite); err != nil {
					b.Fatal(err)
				}
				if err := c.Unmap(iova, PageSize); err != nil {
					b.Fatal(err)
				}
			}
		})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpairs/s")
}

// BenchmarkReadU64: a little-endian 64-bit read through the IOMMU (IOTLB
// hit), against the same read from a plain slice.
func BenchmarkReadU64(b *testing.B) {
	const pages = 16
	c := NewContext("bench")
	mem := make([]byte, pages*PageSize)
	if err := c.Map(0, mem, Read); err != nil {
		b.Fatal(err)
	}
	benchref.Compare(b,
		func(n int) {
			var s uint64
			for i := range n {
				s += binary.LittleEndian.Uint64(mem[(i*8)%len(mem):])
			}
			sinkU64 = s
		},
		func(n int) {
			var s uint64
			for i := range n {
				v, err := c.ReadU64(uint64((i * 8) % len(mem)))
				if err != nil {
					b.Fatal(err)
				}
				s += v
			}
			sinkU64 = s
		})
}

// BenchmarkWrite16K: a 16 KiB DMA write spanning five pages (checked in
// full, then copied), against copy into a plain slice.
func BenchmarkWrite16K(b *testing.B) {
	const size = 16 << 10
	c := NewContext("bench")
	mem := make([]byte, size+PageSize)
	if err := c.Map(0, mem, ReadWrite); err != nil {
		b.Fatal(err)
	}
	src := pattern(size, 1)
	b.SetBytes(size)
	benchref.Compare(b,
		func(n int) {
			for range n {
				copy(mem[100:], src)
			}
		},
		func(n int) {
			for range n {
				if err := c.Write(100, src); err != nil {
					b.Fatal(err)
				}
			}
		})
}
