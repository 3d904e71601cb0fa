package iommu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"testing"
)

// The page-table fuzzer decodes its input as a sequence of operations and
// applies each to a Context and to a reference model (a Go map from page
// number to a page of a buffer). They must agree on every result and every
// error; after the run, every buffer ever mapped must hold exactly what the
// model says, and the guard bytes around each buffer must be intact, so a
// stray read or write outside the mapped memory (or through a stale IOTLB
// entry) is caught.

const (
	fuzzGuard   = 64 // guard bytes on each side of a buffer
	fuzzMaxOps  = 256
	fuzzMaxBufs = 48
)

// fuzzBases are interesting places in the address space: level boundaries
// of the table, the top of the 48-bit space, and the top of uint64.
var fuzzBases = []uint64{
	0,
	1<<21 - 8*PageSize,
	1<<30 - 8*PageSize,
	1<<39 - 8*PageSize,
	1<<IOVABits - 8*PageSize,
	1 << IOVABits,
	^uint64(0) - 8*PageSize + 1,
	0x7f000000,
}

type fuzzBuf struct {
	backing []byte // guard + pages + guard
	shadow  []byte // what the pages should hold
}

func (b *fuzzBuf) mem() []byte { return b.backing[fuzzGuard : len(b.backing)-fuzzGuard] }

func guardByte(i int) byte { return byte(i*31 + 7) }

type refPage struct {
	buf  int // index into model.bufs
	page int // page within the buffer
	perm Perm
}

type model struct {
	pages map[uint64]refPage
	bufs  []*fuzzBuf
}

func (m *model) newBuf(pages int, seed byte) *fuzzBuf {
	n := pages * PageSize
	b := &fuzzBuf{backing: make([]byte, n+2*fuzzGuard)}
	for i := range fuzzGuard {
		b.backing[i] = guardByte(i)
		b.backing[fuzzGuard+n+i] = guardByte(i + fuzzGuard)
	}
	copy(b.mem(), pattern(n, seed))
	b.shadow = bytes.Clone(b.mem())
	m.bufs = append(m.bufs, b)
	return b
}

// shadowPage returns the model's view of the page at pfn.
func (m *model) shadowPage(pfn uint64) []byte {
	r := m.pages[pfn]
	return m.bufs[r.buf].shadow[r.page*PageSize : (r.page+1)*PageSize]
}

// access predicts the outcome of an access of size bytes at iova: nil, or
// the first faulting address and the reason.
func (m *model) access(iova, size uint64, access Perm) (uint64, error) {
	if size == 0 {
		return 0, nil
	}
	last, carry := bits.Add64(iova, size-1, 0)
	for pfn := iova >> PageShift; ; pfn++ {
		at := max(iova, pfn<<PageShift)
		r, ok := m.pages[pfn]
		switch {
		case pfn >= maxPFN:
			return at, ErrOutOfRange
		case !ok:
			return at, ErrNotMapped
		case r.perm&access != access:
			return at, ErrPermission
		}
		if carry == 0 && pfn == last>>PageShift {
			return 0, nil
		}
	}
}

// read returns the model's bytes for a checked range.
func (m *model) read(iova uint64, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		a := iova + uint64(len(out))
		p := m.shadowPage(a >> PageShift)
		out = append(out, p[a&pageMask:min(PageSize, int(a&pageMask)+n-len(out))]...)
	}
	return out
}

func (m *model) write(iova uint64, src []byte) {
	for done := 0; done < len(src); {
		a := iova + uint64(done)
		done += copy(m.shadowPage(a >> PageShift)[a&pageMask:], src[done:])
	}
}

func (m *model) mappings() []Mapping {
	pfns := make([]uint64, 0, len(m.pages))
	for pfn := range m.pages {
		pfns = append(pfns, pfn)
	}
	slices.Sort(pfns)
	var out []Mapping
	for _, pfn := range pfns {
		perm := m.pages[pfn].perm
		if n := len(out); n > 0 && out[n-1].IOVA+out[n-1].Size == pfn<<PageShift && out[n-1].Perm == perm {
			out[n-1].Size += PageSize
			continue
		}
		out = append(out, Mapping{IOVA: pfn << PageShift, Size: PageSize, Perm: perm})
	}
	return out
}

type decoder struct{ data []byte }

func (d *decoder) more() bool { return len(d.data) > 0 }

func (d *decoder) byte() byte {
	if len(d.data) == 0 {
		return 0
	}
	b := d.data[0]
	d.data = d.data[1:]
	return b
}

func (d *decoder) u16() int { return int(d.byte()) | int(d.byte())<<8 }

// iova decodes three bytes: a base, a page offset from it, and an offset
// within the page (0, close to the end of the page, or anywhere).
func (d *decoder) iova() uint64 {
	base := fuzzBases[int(d.byte())%len(fuzzBases)]
	iova := base + uint64(d.byte()%24)<<PageShift
	switch b := d.byte(); {
	case b < 128:
	case b < 192:
		iova += PageSize - uint64(b-127) // 1 to 64 bytes before the next page
	default:
		iova += uint64(b-192)*64 + 1
	}
	return iova
}

// checkAgree fails unless err is what the model predicted.
func checkAgree(t *testing.T, what string, err error, at uint64, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	var f *Fault
	if !errors.As(err, &f) {
		t.Fatalf("%s: want a fault at %#x (%v), got %v", what, at, want, err)
	}
	if !errors.Is(err, want) || f.IOVA != at {
		t.Fatalf("%s: want a fault at %#x (%v), got %v", what, at, want, err)
	}
}

func (m *model) verify(t *testing.T, c *Context) {
	t.Helper()
	for i, b := range m.bufs {
		n := len(b.backing) - 2*fuzzGuard
		for g := range fuzzGuard {
			if b.backing[g] != guardByte(g) || b.backing[fuzzGuard+n+g] != guardByte(g+fuzzGuard) {
				t.Fatalf("buffer %d: guard byte %d overwritten", i, g)
			}
		}
		if !bytes.Equal(b.mem(), b.shadow) {
			t.Fatalf("buffer %d: contents differ from the model", i)
		}
	}
	if got, want := c.Stats().MappedPages, uint64(len(m.pages)); got != want {
		t.Fatalf("MappedPages %d, model has %d", got, want)
	}
}

func runPageTableOps(t *testing.T, data []byte) {
	c := NewContext("fuzz")
	m := &model{pages: make(map[uint64]refPage)}
	d := &decoder{data: data}
	for op := 0; d.more() && op < fuzzMaxOps; op++ {
		switch d.byte() % 10 {
		case 0, 1: // Map
			iova := d.iova()
			flags := d.byte()
			pages := int(flags % 5)
			size := pages * PageSize
			if flags&0x80 != 0 {
				size += 100 // not a page multiple
			}
			perm := Perm(d.byte() % 5)
			var mem []byte
			var buf, first int
			if flags&0x40 != 0 && len(m.bufs) > 0 { // alias part of an existing buffer
				buf = int(d.byte()) % len(m.bufs)
				b := m.bufs[buf]
				first = int(d.byte()) % (len(b.shadow) / PageSize)
				mem = b.mem()[first*PageSize:]
				size = min(size, len(mem))
				mem = mem[:size]
			} else if len(m.bufs) < fuzzMaxBufs {
				buf = len(m.bufs)
				mem = m.newBuf(pages+1, byte(op)).mem()[:size]
			} else {
				continue
			}
			ok := perm.valid() && iova&pageMask == 0 && size > 0 && size%PageSize == 0 &&
				iova < 1<<IOVABits && uint64(size) <= 1<<IOVABits-iova
			for p := range uint64(size / PageSize) {
				if _, mapped := m.pages[iova>>PageShift+p]; mapped {
					ok = false
				}
			}
			err := c.Map(iova, mem, perm)
			if (err == nil) != ok {
				t.Fatalf("op %d: Map(%#x, %d bytes, %s) = %v, model says ok=%v", op, iova, size, perm, err, ok)
			}
			if ok {
				for p := range size / PageSize {
					m.pages[iova>>PageShift+uint64(p)] = refPage{buf: buf, page: first + p, perm: perm}
				}
			}
		case 2: // Unmap
			iova := d.iova()
			flags := d.byte()
			size := uint64(flags%6) * PageSize
			if flags&0x80 != 0 {
				size += 8
			}
			ok := iova&pageMask == 0 && size > 0 && size%PageSize == 0 &&
				iova < 1<<IOVABits && size <= 1<<IOVABits-iova
			for p := range size / PageSize {
				if _, mapped := m.pages[iova>>PageShift+p]; !mapped {
					ok = false
				}
			}
			err := c.Unmap(iova, size)
			if (err == nil) != ok {
				t.Fatalf("op %d: Unmap(%#x, %#x) = %v, model says ok=%v", op, iova, size, err, ok)
			}
			if ok {
				for p := range size / PageSize {
					delete(m.pages, iova>>PageShift+p)
				}
			}
		case 3: // Translate, and a device write through the result
			iova := d.iova()
			access := Perm(d.byte() % 4)
			v := d.byte()
			b, err := c.Translate(iova, access)
			if access == 0 {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("op %d: Translate with no access: %v", op, err)
				}
				continue
			}
			at, want := m.access(iova, 1, access)
			checkAgree(t, "Translate", err, at, want)
			if err != nil {
				continue
			}
			off := iova & pageMask
			if len(b) != int(PageSize-off) || cap(b) != len(b) {
				t.Fatalf("op %d: Translate(%#x) returned len %d cap %d", op, iova, len(b), cap(b))
			}
			page := m.shadowPage(iova >> PageShift)
			if access&Read != 0 && !bytes.Equal(b, page[off:]) {
				t.Fatalf("op %d: Translate(%#x) bytes differ from the model", op, iova)
			}
			if access&Write != 0 {
				b[0] = v
				page[off] = v
			}
		case 4: // Read
			iova := d.iova()
			n := d.u16() % (3*PageSize + 64)
			dst := bytes.Repeat([]byte{0xEE}, n)
			err := c.Read(iova, dst)
			at, want := m.access(iova, uint64(n), Read)
			checkAgree(t, "Read", err, at, want)
			if err == nil && !bytes.Equal(dst, m.read(iova, n)) {
				t.Fatalf("op %d: Read(%#x, %d) differs from the model", op, iova, n)
			}
			if err != nil && !bytes.Equal(dst, bytes.Repeat([]byte{0xEE}, n)) {
				t.Fatalf("op %d: failed Read(%#x, %d) wrote into dst", op, iova, n)
			}
		case 5: // Write
			iova := d.iova()
			n := d.u16() % (3*PageSize + 64)
			src := pattern(n, d.byte())
			err := c.Write(iova, src)
			at, want := m.access(iova, uint64(n), Write)
			checkAgree(t, "Write", err, at, want)
			if err == nil {
				m.write(iova, src)
			}
		case 6: // fixed-size accesses
			iova := d.iova()
			var v [8]byte
			for i := range v {
				v[i] = d.byte()
			}
			switch sub := d.byte() % 4; sub {
			case 0:
				got, err := c.ReadU32(iova)
				at, want := m.access(iova, 4, Read)
				checkAgree(t, "ReadU32", err, at, want)
				if err == nil && got != binary.LittleEndian.Uint32(m.read(iova, 4)) {
					t.Fatalf("op %d: ReadU32(%#x) differs from the model", op, iova)
				}
			case 1:
				got, err := c.ReadU64(iova)
				at, want := m.access(iova, 8, Read)
				checkAgree(t, "ReadU64", err, at, want)
				if err == nil && got != binary.LittleEndian.Uint64(m.read(iova, 8)) {
					t.Fatalf("op %d: ReadU64(%#x) differs from the model", op, iova)
				}
			case 2:
				err := c.WriteU32(iova, binary.LittleEndian.Uint32(v[:]))
				at, want := m.access(iova, 4, Write)
				checkAgree(t, "WriteU32", err, at, want)
				if err == nil {
					m.write(iova, v[:4])
				}
			case 3:
				err := c.WriteU64(iova, binary.LittleEndian.Uint64(v[:]))
				at, want := m.access(iova, 8, Write)
				checkAgree(t, "WriteU64", err, at, want)
				if err == nil {
					m.write(iova, v[:])
				}
			}
		case 7: // Check records nothing
			iova := d.iova()
			n := uint64(d.u16()) * 3
			access := Perm(d.byte()%3 + 1)
			before := c.Stats().Faults
			err := c.Check(iova, n, access)
			at, want := m.access(iova, n, access)
			checkAgree(t, "Check", err, at, want)
			if c.Stats().Faults != before {
				t.Fatalf("op %d: Check recorded a fault", op)
			}
		case 8: // UnmapAll, rarely
			if d.byte()%8 == 0 {
				c.UnmapAll()
				clear(m.pages)
			}
		case 9: // the whole picture
			if got, want := c.Mappings(), m.mappings(); !slices.Equal(got, want) {
				t.Fatalf("op %d: Mappings %v, model %v", op, got, want)
			}
		}
		if op%32 == 31 {
			m.verify(t, c)
		}
	}
	m.verify(t, c)
	if got, want := c.Mappings(), m.mappings(); !slices.Equal(got, want) {
		t.Fatalf("Mappings %v, model %v", got, want)
	}
	c.UnmapAll()
	if s := c.Stats(); s.TableNodes != 0 || s.MappedPages != 0 {
		t.Fatalf("after UnmapAll: %+v", s)
	}
}

// fuzzOps builds seed inputs in the fuzzer's encoding.
type fuzzOps []byte

// at encodes an IOVA as base index, page offset and in-page offset byte.
func at(base, page, off byte) []byte { return []byte{base, page, off} }

func (o fuzzOps) mapOp(iova []byte, pages byte, perm Perm) fuzzOps {
	return append(append(append(o, 0), iova...), pages, byte(perm))
}

func (o fuzzOps) unmap(iova []byte, pages byte) fuzzOps {
	return append(append(append(o, 2), iova...), pages)
}

func (o fuzzOps) translate(iova []byte, access Perm) fuzzOps {
	return append(append(append(o, 3), iova...), byte(access), 0x5a)
}

func (o fuzzOps) read(iova []byte, n uint16) fuzzOps {
	return append(append(append(o, 4), iova...), byte(n), byte(n>>8))
}

func (o fuzzOps) write(iova []byte, n uint16, seed byte) fuzzOps {
	return append(append(append(o, 5), iova...), byte(n), byte(n>>8), seed)
}

func (o fuzzOps) fixed(iova []byte, sub byte) fuzzOps {
	return append(append(append(o, 6), iova...), 1, 2, 3, 4, 5, 6, 7, 8, sub)
}

func (o fuzzOps) mappings() fuzzOps { return append(o, 9) }

func FuzzPageTable(f *testing.F) {
	f.Add([]byte{})
	// Map, use, unmap, remap the same IOVA (stale IOTLB).
	f.Add([]byte(fuzzOps{}.
		mapOp(at(0, 1, 0), 2, ReadWrite).
		translate(at(0, 1, 0), Read).
		write(at(0, 1, 200), 6000, 9).
		read(at(0, 1, 130), 5000).
		unmap(at(0, 1, 0), 1).
		translate(at(0, 1, 0), Read).
		mapOp(at(0, 1, 0), 1, Read).
		read(at(0, 1, 0), 64).
		fixed(at(0, 1, 0), 3).
		mappings()))
	// Accesses across level boundaries, mappings and the top of the space.
	for base := byte(1); base < byte(len(fuzzBases)); base++ {
		f.Add([]byte(fuzzOps{}.
			mapOp(at(base, 6, 0), 2, ReadWrite).
			mapOp(at(base, 8, 0), 1, Read).
			mapOp(at(base, 9, 0), 3, Write).
			write(at(base, 7, 130), 300, 1).
			write(at(base, 7, 160), 8000, 2).
			fixed(at(base, 8, 180), 0).
			fixed(at(base, 7, 128), 2).
			fixed(at(base, 8, 150), 3).
			read(at(base, 6, 0), 3*PageSize).
			translate(at(base, 9, 200), Write).
			mappings().
			unmap(at(base, 8, 0), 2).
			mappings()))
	}
	// Bad arguments.
	f.Add([]byte(fuzzOps{}.
		mapOp(at(0, 1, 200), 1, ReadWrite).
		mapOp(at(0, 1, 0), 0x81, ReadWrite).
		mapOp(at(0, 1, 0), 0, ReadWrite).
		mapOp(at(0, 1, 0), 1, 0).
		mapOp(at(5, 0, 0), 1, Read).
		unmap(at(0, 1, 0), 1).
		mapOp(at(0, 1, 0), 1, ReadWrite).
		mapOp(at(0, 0, 0), 2, ReadWrite).
		unmap(at(0, 0, 0), 2)))
	f.Fuzz(runPageTableOps)
}
