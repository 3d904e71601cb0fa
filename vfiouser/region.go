package vfiouser

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// regionRead: VFIO_USER_REGION_READ.
func (s *session) regionRead(m Message, _ []int, out []byte) ([]byte, error) {
	ra := decodeRegionAccess(m.Payload)
	if err := s.checkAccess(m, ra); err != nil {
		return out, err
	}
	if len(m.Payload) != regionAccessSize {
		return out, s.fail(m, syscall.EINVAL, "a read carries no data, but the payload is %d bytes", len(m.Payload))
	}
	out = binary.LittleEndian.AppendUint64(out, ra.Offset)
	out = binary.LittleEndian.AppendUint32(out, ra.Region)
	out = binary.LittleEndian.AppendUint32(out, ra.Count)
	n := len(out)
	out = append(out, make([]byte, ra.Count)...)
	if err := s.s.access(ra, out[n:], false); err != nil {
		return out[:n], s.fail(m, errnoOf(err), "%v", err)
	}
	s.s.mu.Lock()
	s.s.stats.RegionReads++
	s.s.mu.Unlock()
	return out, nil
}

// regionWrite: VFIO_USER_REGION_WRITE.
func (s *session) regionWrite(m Message, _ []int, out []byte) ([]byte, error) {
	ra := decodeRegionAccess(m.Payload)
	if err := s.checkAccess(m, ra); err != nil {
		return out, err
	}
	if data := len(m.Payload) - regionAccessSize; data != int(ra.Count) {
		return out, s.fail(m, syscall.EINVAL, "count says %d bytes but %d bytes of data arrived", ra.Count, data)
	}
	if err := s.s.access(ra, m.Payload[regionAccessSize:], true); err != nil {
		return out, s.fail(m, errnoOf(err), "%v", err)
	}
	s.s.mu.Lock()
	s.s.stats.RegionWrites++
	s.s.mu.Unlock()
	out = binary.LittleEndian.AppendUint64(out, ra.Offset)
	out = binary.LittleEndian.AppendUint32(out, ra.Region)
	return binary.LittleEndian.AppendUint32(out, ra.Count), nil
}

// checkAccess validates region, offset and count before anything is
// allocated or touched.
func (s *session) checkAccess(m Message, ra RegionAccess) error {
	if ra.Region >= NumRegions {
		return s.fail(m, syscall.EINVAL, "region %d does not exist (0 to %d)", ra.Region, NumRegions-1)
	}
	size := s.s.regionSize(ra.Region)
	switch {
	case size == 0:
		return s.fail(m, syscall.EINVAL, "region %d is not implemented (size 0)", ra.Region)
	case ra.Count == 0:
		return s.fail(m, syscall.EINVAL, "count is 0")
	case ra.Count > s.s.opts.MaxDataXferSize:
		return s.fail(m, syscall.EINVAL, "count %d exceeds max_data_xfer_size %d", ra.Count, s.s.opts.MaxDataXferSize)
	case ra.Offset >= size || uint64(ra.Count) > size-ra.Offset:
		return s.fail(m, syscall.EINVAL, "%d bytes at offset 0x%x run past the end of region %d (%d bytes)", ra.Count, ra.Offset, ra.Region, size)
	}
	return nil
}

// access performs a validated region access: data is filled on a read and
// consumed on a write.
func (s *Server) access(ra RegionAccess, data []byte, write bool) error {
	switch ra.Region {
	case RegionBAR0:
		return s.barAccess(uint32(ra.Offset), data, write)
	case msixBAR:
		if err := checkMSIXAccess(ra.Offset, ra.Count, write); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.msixAccess(ra.Offset, data, write)
		return nil
	case RegionConfig:
		if err := checkConfigRange(ra.Offset, ra.Count); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !write {
			s.cfg.read(ra.Offset, data)
			return nil
		}
		s.cfg.write(ra.Offset, data)
		s.irq.configChanged(s)
		return nil
	}
	return fmt.Errorf("region %d is not implemented", ra.Region)
}

// barAccess routes a BAR0 access to the vcoproc. An access of 1, 2, 4 or 8
// bytes goes as one VCoproc.Access; a longer one is split at the register
// boundaries of the spec's map, and the whole plan is checked against the
// map before the first register is touched, so that a bad access has no
// side effect (a doorbell in its middle would otherwise ring).
func (s *Server) barAccess(offset uint32, data []byte, write bool) error {
	n := len(data)
	if n == 1 || n == 2 || n == 4 || n == 8 {
		return s.registerAccess(offset, data, write)
	}
	regs := s.spec.Registers
	for off := offset; off < offset+uint32(n); {
		i, ok := regs.StartingAt(off)
		if !ok {
			return fmt.Errorf("%d-byte BAR0 access at 0x%04x: no register starts at 0x%04x; split the access at register boundaries", n, offset, off)
		}
		w := uint32(regs.At(i).Width)
		if off+w > offset+uint32(n) {
			return fmt.Errorf("%d-byte BAR0 access at 0x%04x ends inside %s (0x%04x, %d bytes)", n, offset, regs.At(i).Name, off, w)
		}
		off += w
	}
	for off := offset; off < offset+uint32(n); {
		i, _ := regs.StartingAt(off)
		w := uint32(regs.At(i).Width)
		if err := s.registerAccess(off, data[off-offset:off-offset+w], write); err != nil {
			return err
		}
		off += w
	}
	return nil
}

func (s *Server) registerAccess(offset uint32, data []byte, write bool) error {
	var v uint64
	if write {
		var b [8]byte
		copy(b[:], data)
		v = binary.LittleEndian.Uint64(b[:])
	}
	got, err := s.vc.Access(offset, uint8(len(data)), write, v)
	if err != nil {
		return err
	}
	if !write {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], got)
		copy(data, b[:])
	}
	return nil
}

// msixAccess reads or writes the MSI-X table and PBA; s.mu is held.
func (s *Server) msixAccess(offset uint64, data []byte, write bool) {
	if offset >= msixPBAOffset {
		var pba [8]byte
		for v := range MSIXVectors {
			if s.irq.msix[v].pending {
				pba[v/8] |= 1 << (v % 8)
			}
		}
		copy(data, pba[offset-msixPBAOffset:])
		return
	}
	v, o := int(offset/msixEntrySize), int(offset%msixEntrySize)
	e := &s.msix.entries[v]
	if !write {
		copy(data, e[o:])
		return
	}
	for i, b := range data {
		if o+i == 12 { // vector control: only the mask bit is writable
			b &= msixVecCtlMask
			s.irq.msix[v].tableTouched = true
		} else if o+i > 12 {
			continue
		}
		e[o+i] = b
	}
	s.irq.unmasked(s)
}
