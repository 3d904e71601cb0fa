package iommu

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDeviceMemory applies a decoded sequence of SetQuota, Alloc, Free and
// FreeAll to a DeviceMemory and to a reference model (the owner of every
// granule), and checks that they agree on every outcome and offset, that the
// free list is fully coalesced, and that every allocation reads as zeros
// however dirty its previous owner left it.
func FuzzDeviceMemory(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{
		0, 0, 16, // quota a = 16 granules
		0, 1, 8, // quota b = 8 granules
		1, 0, 0x00, 0x30, // a allocs 0x3000
		1, 1, 0x01, 0x10, // b allocs 0x1001 (rounds up)
		1, 0, 0x00, 0x40,
		3, 0, // free the first
		1, 1, 0x00, 0x20, // b reuses (part of) a's old range
		3, 0, // double free
		3, 2,
		4, 0, // FreeAll a
		1, 2, 0x00, 0x10, // c has no quota
		4, 1,
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		const (
			granule  = PageSize
			granules = 16
		)
		m, err := NewDeviceMemory(granules*granule, granule)
		if err != nil {
			t.Fatal(err)
		}
		domains := []string{"a", "b", "c"}
		owner := make([]*Allocation, granules) // nil: free
		quota := map[string]uint64{}
		used := map[string]uint64{}
		var all []*Allocation // every allocation ever made, freed or not
		freed := map[*Allocation]bool{}

		release := func(a *Allocation) {
			for g := a.Offset / granule; g < (a.Offset+a.Size)/granule; g++ {
				owner[g] = nil
			}
			used[a.Domain] -= a.Size
			freed[a] = true
		}

		d := &decoder{data: data}
		for op := 0; d.more() && op < 200; op++ {
			dom := ""
			switch d.byte() % 5 {
			case 0: // SetQuota
				dom = domains[int(d.byte())%len(domains)]
				q := uint64(d.byte()%(granules+4)) * granule
				m.SetQuota(dom, q)
				quota[dom] = q
			case 1, 2: // Alloc, then dirty the memory
				dom = domains[int(d.byte())%len(domains)]
				size := uint64(d.u16()) % ((granules + 2) * granule)
				a, err := m.Alloc(dom, size)

				need := (size + granule - 1) / granule * granule
				q, hasQuota := quota[dom]
				var want error
				var at uint64
				switch {
				case size == 0:
					want = ErrInvalidArgument
				case !hasQuota || used[dom]+need > q:
					want = ErrQuota
				default:
					want = ErrOutOfMemory
					run := uint64(0)
					for g := range uint64(granules) { // first fit
						if owner[g] != nil {
							run = 0
							continue
						}
						if run++; run*granule == need {
							at, want = (g+1)*granule-need, nil
							break
						}
					}
				}
				if want != nil {
					if !errors.Is(err, want) {
						t.Fatalf("op %d: Alloc(%q, %d) = %v, want %v", op, dom, size, err, want)
					}
					continue
				}
				if err != nil {
					t.Fatalf("op %d: Alloc(%q, %d) = %v, want offset %#x", op, dom, size, err, at)
				}
				if a.Offset != at || a.Size != need || a.Domain != dom {
					t.Fatalf("op %d: Alloc(%q, %d) = %+v, want offset %#x size %#x", op, dom, size, a, at, need)
				}
				b := a.Bytes()
				if len(b) != int(need) || cap(b) != int(need) {
					t.Fatalf("op %d: Bytes() len %d cap %d, want %d", op, len(b), cap(b), need)
				}
				if !bytes.Equal(b, make([]byte, need)) {
					t.Fatalf("op %d: allocation at %#x does not read as zeros: a previous owner's data leaked", op, at)
				}
				for i := range b {
					b[i] = 0xd1 ^ byte(i)
				}
				for g := at / granule; g < (at+need)/granule; g++ {
					owner[g] = a
				}
				used[dom] += need
				all = append(all, a)
			case 3: // Free, perhaps twice
				if len(all) == 0 {
					continue
				}
				a := all[int(d.byte())%len(all)]
				err := m.Free(a)
				if freed[a] != (err != nil) {
					t.Fatalf("op %d: Free of an allocation freed=%v: %v", op, freed[a], err)
				}
				if err == nil {
					release(a)
				} else if !errors.Is(err, ErrNotAllocated) {
					t.Fatalf("op %d: Free error %v is not ErrNotAllocated", op, err)
				}
			case 4: // FreeAll
				dom = domains[int(d.byte())%len(domains)]
				want := used[dom]
				for _, a := range all {
					if a.Domain == dom && !freed[a] {
						release(a)
					}
				}
				if got := m.FreeAll(dom); got != want {
					t.Fatalf("op %d: FreeAll(%q) = %d, want %d", op, dom, got, want)
				}
			}

			// Agree on the whole picture after every step.
			var free, runs, largest, run uint64
			for g := range granules {
				if owner[g] != nil {
					run = 0
					continue
				}
				free += granule
				if run == 0 {
					runs++
				}
				run += granule
				largest = max(largest, run)
			}
			s := m.Stats()
			if s.Free != free || m.FreeBytes() != free || s.FreeRuns != runs || s.LargestFree != largest {
				t.Fatalf("op %d: stats %+v, model free %d in %d runs, largest %d", op, s, free, runs, largest)
			}
			for _, dom := range domains {
				if m.Used(dom) != used[dom] || m.Quota(dom) != quota[dom] {
					t.Fatalf("op %d: domain %q uses %d of %d, model %d of %d",
						op, dom, m.Used(dom), m.Quota(dom), used[dom], quota[dom])
				}
			}
		}
		// Every free byte is zero.
		for g := range uint64(granules) {
			if owner[g] == nil && !bytes.Equal(m.mem[g*granule:(g+1)*granule], make([]byte, granule)) {
				t.Fatalf("free granule %d was not scrubbed", g)
			}
		}
	})
}
