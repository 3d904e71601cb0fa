package vfiouser

import (
	"errors"
	"fmt"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/iommu"
)

// dmaRegion is one VFIO_USER_DMA_MAP the client made.
type dmaRegion struct {
	addr, size uint64
	flags      uint32
	// mem is the client's memory mapped into this process (MAP_SHARED) and
	// entered into the domain's IOMMU context; nil for a region sent
	// without a descriptor, which only DMA_READ/DMA_WRITE messages reach.
	mem []byte
}

func (r *dmaRegion) end() uint64 { return r.addr + r.size }

// dmaTable holds the mapped regions sorted by address; they never overlap.
// Guarded by Server.mu.
type dmaTable struct {
	regions []dmaRegion
}

// find returns the index of the first region that ends after addr.
func (t *dmaTable) find(addr uint64) int {
	return sort.Search(len(t.regions), func(i int) bool { return t.regions[i].end() > addr })
}

// overlapping returns a region that overlaps [addr, addr+size), if any.
func (t *dmaTable) overlapping(addr, size uint64) (*dmaRegion, bool) {
	i := t.find(addr)
	if i < len(t.regions) && t.regions[i].addr < addr+size {
		return &t.regions[i], true
	}
	return nil, false
}

// containing returns the region that holds all of [addr, addr+size).
func (t *dmaTable) containing(addr, size uint64) (*dmaRegion, bool) {
	i := t.find(addr)
	if i < len(t.regions) && t.regions[i].addr <= addr && addr+size <= t.regions[i].end() {
		return &t.regions[i], true
	}
	return nil, false
}

func (t *dmaTable) insert(r dmaRegion) {
	i := t.find(r.addr)
	t.regions = append(t.regions, dmaRegion{})
	copy(t.regions[i+1:], t.regions[i:])
	t.regions[i] = r
}

// dmaMap: VFIO_USER_DMA_MAP. With a descriptor, the region is mmapped
// (MAP_SHARED, so device writes land in the guest's memory) and entered
// into the domain's IOMMU context at its DMA address; every DMA a job does
// goes through that context. Without one, the region is recorded for
// DMA_READ/DMA_WRITE messages only (see doc.go).
func (s *session) dmaMap(m Message, fds []int, out []byte) ([]byte, error) {
	defer closeFDs(fds) // an mmap outlives its descriptor
	d := decodeDMAMap(m.Payload)
	perm := iommu.Perm(0)
	if d.Flags&DMAFlagRead != 0 {
		perm |= iommu.Read
	}
	if d.Flags&DMAFlagWrite != 0 {
		perm |= iommu.Write
	}
	switch {
	case d.ArgSz < dmaMapSize:
		return out, s.fail(m, syscall.EINVAL, "argsz %d is smaller than the %d-byte structure", d.ArgSz, dmaMapSize)
	case d.Flags&^(DMAFlagRead|DMAFlagWrite) != 0:
		return out, s.fail(m, syscall.EINVAL, "unknown flag bits 0x%x", d.Flags&^(DMAFlagRead|DMAFlagWrite))
	case perm == 0:
		return out, s.fail(m, syscall.EINVAL, "region at 0x%x is neither readable nor writeable", d.Address)
	case d.Size == 0:
		return out, s.fail(m, syscall.EINVAL, "region at 0x%x has size 0", d.Address)
	case d.Address%PageSize != 0 || d.Size%PageSize != 0 || d.Offset%PageSize != 0:
		return out, s.fail(m, syscall.EINVAL, "address 0x%x, size 0x%x and offset 0x%x must be multiples of the %d-byte page", d.Address, d.Size, d.Offset, PageSize)
	case d.Address >= 1<<iommu.IOVABits || d.Size > 1<<iommu.IOVABits-d.Address:
		return out, s.fail(m, syscall.EINVAL, "region [0x%x, +0x%x) runs past the %d-bit I/O address space", d.Address, d.Size, iommu.IOVABits)
	case len(fds) > 1:
		return out, s.fail(m, syscall.EINVAL, "%d file descriptors arrived; a map takes at most one", len(fds))
	}
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if r, ok := s.s.dma.overlapping(d.Address, d.Size); ok {
		return out, s.fail(m, syscall.EEXIST, "region [0x%x, 0x%x) overlaps the mapped region [0x%x, 0x%x)", d.Address, d.Address+d.Size, r.addr, r.end())
	}
	if len(s.s.dma.regions) >= s.s.opts.MaxDMAMaps {
		return out, s.fail(m, syscall.ENOSPC, "%d regions are mapped, the limit (max_dma_maps)", len(s.s.dma.regions))
	}
	r := dmaRegion{addr: d.Address, size: d.Size, flags: d.Flags}
	if len(fds) == 1 {
		if d.Size > uint64(int(^uint(0)>>1)) || d.Offset > 1<<62 {
			return out, s.fail(m, syscall.EINVAL, "size 0x%x or offset 0x%x is too large to map", d.Size, d.Offset)
		}
		// A mapping past the end of the file would map, then kill the
		// daemon with SIGBUS at the first DMA: check the file first.
		var st unix.Stat_t
		if err := unix.Fstat(fds[0], &st); err != nil {
			return out, s.fail(m, errnoOf(err), "fstat of the region's descriptor: %v", err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return out, s.fail(m, syscall.EINVAL, "the region's descriptor is not a regular file or memfd (mode 0%o)", st.Mode)
		}
		if d.Offset > uint64(st.Size) || d.Size > uint64(st.Size)-d.Offset {
			return out, s.fail(m, syscall.EINVAL, "[offset 0x%x, +0x%x) runs past the end of the %d-byte file", d.Offset, d.Size, st.Size)
		}
		prot := 0
		if perm&iommu.Read != 0 {
			prot |= unix.PROT_READ
		}
		if perm&iommu.Write != 0 {
			prot |= unix.PROT_WRITE | unix.PROT_READ
		}
		mem, err := unix.Mmap(fds[0], int64(d.Offset), int(d.Size), prot, unix.MAP_SHARED)
		if err != nil {
			return out, s.fail(m, errnoOf(err), "mapping %d bytes at file offset 0x%x of the region's descriptor: %v", d.Size, d.Offset, err)
		}
		if err := s.s.dom.Map(d.Address, mem, perm); err != nil {
			_ = unix.Munmap(mem)
			errno := syscall.EINVAL
			if errors.Is(err, iommu.ErrAlreadyMapped) {
				errno = syscall.EEXIST
			}
			return out, s.fail(m, errno, "entering the region into the domain's IOMMU context: %v", err)
		}
		r.mem = mem
	}
	s.s.dma.insert(r)
	s.s.stats.DMAMaps = uint64(len(s.s.dma.regions))
	s.s.log.Debug("DMA region mapped", "addr", fmt.Sprintf("%#x", d.Address), "size", d.Size, "fd", r.mem != nil)
	return out, nil
}

// dmaUnmap: VFIO_USER_DMA_UNMAP. The region leaves the domain's IOMMU
// context (which invalidates its IOTLB entries) and is unmapped from this
// process before the reply, so no reference to the client's memory is left
// when the client is told it is gone. The mediator's lock, taken by
// Domain.Unmap, also waits out a job step that is using it.
func (s *session) dmaUnmap(m Message, _ []int, out []byte) ([]byte, error) {
	u := decodeDMAUnmap(m.Payload)
	switch {
	case u.ArgSz < dmaUnmapSize:
		return out, s.fail(m, syscall.EINVAL, "argsz %d is smaller than the %d-byte reply", u.ArgSz, dmaUnmapSize)
	case u.Flags&dmaUnmapFlagGetDirtyBitmap != 0:
		return out, s.fail(m, syscall.ENOTSUP, "dirty page tracking is not supported")
	case u.Flags&^DMAUnmapFlagAll != 0:
		return out, s.fail(m, syscall.EINVAL, "unknown flag bits 0x%x", u.Flags&^DMAUnmapFlagAll)
	}
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if u.Flags&DMAUnmapFlagAll != 0 {
		if u.Address != 0 || u.Size != 0 {
			return out, s.fail(m, syscall.EINVAL, "unmap-all takes address and size 0, got 0x%x and 0x%x", u.Address, u.Size)
		}
		s.s.dropAllDMA()
	} else {
		i := s.s.dma.find(u.Address)
		if i >= len(s.s.dma.regions) || s.s.dma.regions[i].addr != u.Address || s.s.dma.regions[i].size != u.Size {
			if r, ok := s.s.dma.overlapping(u.Address, max(u.Size, 1)); ok {
				return out, s.fail(m, syscall.EINVAL, "[0x%x, +0x%x) does not match the mapped region [0x%x, 0x%x) exactly", u.Address, u.Size, r.addr, r.end())
			}
			return out, s.fail(m, syscall.ENOENT, "nothing is mapped at [0x%x, +0x%x)", u.Address, u.Size)
		}
		if err := s.s.dropDMA(i); err != nil {
			return out, s.fail(m, syscall.EIO, "%v", err)
		}
	}
	s.s.stats.DMAMaps = uint64(len(s.s.dma.regions))
	out = put32(out, dmaUnmapSize)
	out = put32(out, u.Flags)
	out = put64(out, u.Address)
	return put64(out, u.Size), nil
}

// dropDMA removes region i from the IOMMU context and this process. If the
// context refuses (someone else changed that range of the domain's address
// space), the memory is NOT unmapped: pages of it may still be reachable by
// the device, and unmapping them would turn a DMA into a crash. The region
// stays recorded, and the error says so. s.mu is held.
func (s *Server) dropDMA(i int) error {
	r := s.dma.regions[i]
	if r.mem != nil {
		if err := s.dom.Unmap(r.addr, r.size); err != nil {
			return fmt.Errorf("removing [0x%x, 0x%x) from the domain's IOMMU context failed, the region stays mapped: %w", r.addr, r.end(), err)
		}
		if err := unix.Munmap(r.mem); err != nil {
			s.log.Error("munmap of a DMA region failed", "addr", fmt.Sprintf("%#x", r.addr), "err", err)
		}
	}
	s.dma.regions = append(s.dma.regions[:i], s.dma.regions[i+1:]...)
	return nil
}

// dropAllDMA drops every region it can; s.mu is held.
func (s *Server) dropAllDMA() {
	for i := len(s.dma.regions) - 1; i >= 0; i-- {
		if err := s.dropDMA(i); err != nil {
			s.log.Error("dropping a DMA region", "err", err)
		}
	}
}

// ReadGuest reads len(dst) bytes of client memory at DMA address addr, from
// the mapped memory of a region that came with a descriptor or with
// VFIO_USER_DMA_READ messages for one that did not. The range must lie in
// one readable region. It must not be called from an OnReset, OnEvents or
// OnDisconnect callback.
func (s *Server) ReadGuest(addr uint64, dst []byte) error {
	return s.guestAccess(addr, dst, false)
}

// WriteGuest writes src to client memory at DMA address addr, like
// ReadGuest (VFIO_USER_DMA_WRITE for a region without a descriptor).
func (s *Server) WriteGuest(addr uint64, src []byte) error {
	return s.guestAccess(addr, src, true)
}

func (s *Server) guestAccess(addr uint64, b []byte, write bool) error {
	op, need := "read", uint32(DMAFlagRead)
	if write {
		op, need = "write", DMAFlagWrite
	}
	size := uint64(len(b))
	if size == 0 {
		return nil
	}
	s.mu.Lock()
	r, ok := s.dma.containing(addr, size)
	if addr+size < addr || !ok {
		s.mu.Unlock()
		return fmt.Errorf("vfiouser: %s of %d bytes at 0x%x: not inside one mapped DMA region", op, size, addr)
	}
	if r.flags&need == 0 {
		s.mu.Unlock()
		return fmt.Errorf("vfiouser: %s of %d bytes at 0x%x: region [0x%x, 0x%x) does not allow it", op, size, addr, r.addr, r.end())
	}
	if r.mem != nil {
		defer s.mu.Unlock()
		if write {
			copy(r.mem[addr-r.addr:], b)
		} else {
			copy(b, r.mem[addr-r.addr:])
		}
		return nil
	}
	sess := s.active
	s.mu.Unlock()
	if sess == nil {
		return fmt.Errorf("vfiouser: %s at 0x%x: no client is connected", op, addr)
	}
	chunk := sess.clientMaxXfer
	for off := uint64(0); off < size; {
		n := min(chunk, size-off)
		a := addr + off
		payload := put64(put64(nil, a), n)
		if write {
			payload = append(payload, b[off:off+n]...)
			r, err := sess.request(CmdDMAWrite, payload)
			if err != nil {
				return err
			}
			if len(r.payload) < dmaWriteReplySize || le64(r.payload) != a || uint64(le32(r.payload[8:])) != n {
				return fmt.Errorf("vfiouser: DMA_WRITE reply does not echo address 0x%x and count %d", a, n)
			}
		} else {
			r, err := sess.request(CmdDMARead, payload)
			if err != nil {
				return err
			}
			if len(r.payload) != dmaAccessSize+int(n) || le64(r.payload) != a || le64(r.payload[8:]) != n {
				return fmt.Errorf("vfiouser: DMA_READ reply for %d bytes at 0x%x carries %d bytes", n, a, len(r.payload)-dmaAccessSize)
			}
			copy(b[off:], r.payload[dmaAccessSize:])
		}
		off += n
	}
	return nil
}
