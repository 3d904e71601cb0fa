package vfiouser

import (
	"context"
	"encoding/binary"
	"syscall"

	"golang.org/x/sys/unix"
)

// IRQ info flags (linux/vfio.h: VFIO_IRQ_INFO_*).
const (
	irqInfoEventfd    = 1 << 0
	irqInfoMaskable   = 1 << 1
	irqInfoAutomasked = 1 << 2
	irqInfoNoResize   = 1 << 3
)

// SET_IRQS flags (linux/vfio.h: VFIO_IRQ_SET_*).
const (
	IRQSetDataNone      = 1 << 0
	IRQSetDataBool      = 1 << 1
	IRQSetDataEventfd   = 1 << 2
	IRQSetActionMask    = 1 << 3
	IRQSetActionUnmask  = 1 << 4
	IRQSetActionTrigger = 1 << 5
	irqSetDataMask      = IRQSetDataNone | IRQSetDataBool | IRQSetDataEventfd
	irqSetActionMask    = IRQSetActionMask | IRQSetActionUnmask | IRQSetActionTrigger
)

// irqInfos is the table of interrupt types: INTx (level, automasked, as
// VFIO models it) and MSI-X with MSIXVectors vectors. MSI, ERR and REQ have
// no interrupts.
var irqInfos = [NumIRQs]struct{ flags, count uint32 }{
	IRQIndexINTx: {irqInfoEventfd | irqInfoMaskable | irqInfoAutomasked, 1},
	IRQIndexMSIX: {irqInfoEventfd | irqInfoMaskable | irqInfoNoResize, MSIXVectors},
}

// line is one interrupt: its trigger eventfd (-1: none), whether the client
// masked it through SET_IRQS, and whether it fired while masked.
type line struct {
	fd      int
	masked  bool
	pending bool
	// tableTouched: the client has written this MSI-X vector's control
	// word, so the table's mask bit counts. QEMU emulates the table itself
	// and masks through SET_IRQS instead; the server's table, which comes
	// out of reset masked as PCI requires, must not then block delivery.
	tableTouched bool
}

// irqState is the interrupt half of the device state. Guarded by Server.mu.
type irqState struct {
	intx [1]line
	msix [MSIXVectors]line
}

func newIRQState() irqState {
	st := irqState{intx: [1]line{{fd: -1}}}
	for i := range st.msix {
		st.msix[i] = line{fd: -1}
	}
	return st
}

func (st *irqState) lines(index uint32) []line {
	switch index {
	case IRQIndexINTx:
		return st.intx[:]
	case IRQIndexMSIX:
		return st.msix[:]
	}
	return nil
}

// closeAll closes every descriptor (the client is gone) and forgets
// pending interrupts; masks are device state and stay.
func (st *irqState) closeAll() {
	for _, idx := range []uint32{IRQIndexINTx, IRQIndexMSIX} {
		ls := st.lines(idx)
		for i := range ls {
			if ls[i].fd >= 0 {
				_ = unix.Close(ls[i].fd)
			}
			ls[i].fd, ls[i].pending = -1, false
		}
	}
}

func (st *irqState) resetMasks() {
	for _, idx := range []uint32{IRQIndexINTx, IRQIndexMSIX} {
		ls := st.lines(idx)
		for i := range ls {
			ls[i].masked, ls[i].pending, ls[i].tableTouched = false, false, false
		}
	}
}

func (st *irqState) msixActive() bool {
	for _, l := range st.msix {
		if l.fd >= 0 {
			return true
		}
	}
	return false
}

func signal(fd int) error {
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	_, err := unix.Write(fd, one[:])
	return err
}

// raise delivers the vcoproc's interrupt: on MSI-X vector 0 when MSI-X is
// set up, else on INTx. A masked interrupt stays pending until unmasked.
// s.mu is held.
func (st *irqState) raise(s *Server) {
	if st.msixActive() {
		st.fireMSIX(s, 0)
		return
	}
	if st.intx[0].fd < 0 {
		s.stats.DroppedEvents++
		return
	}
	if st.intx[0].masked || s.cfg.intxDisabled() {
		st.intx[0].pending = true
		return
	}
	st.fire(s, &st.intx[0])
	st.intx[0].masked = true // INTx is automasked until the client unmasks it
}

func (st *irqState) msixMasked(s *Server, v int) bool {
	l := &st.msix[v]
	return l.masked || s.cfg.msixControl()&msixCtlFunctionMask != 0 || l.tableTouched && s.msix.masked(v)
}

func (st *irqState) fireMSIX(s *Server, v int) {
	l := &st.msix[v]
	if l.fd < 0 {
		s.stats.DroppedEvents++
		return
	}
	if st.msixMasked(s, v) {
		l.pending = true
		return
	}
	st.fire(s, l)
}

func (st *irqState) fire(s *Server, l *line) {
	l.pending = false
	if err := signal(l.fd); err != nil {
		s.log.Warn("signalling an interrupt eventfd failed", "err", err)
		return
	}
	s.stats.Interrupts++
}

// unmasked delivers what became deliverable after a mask changed.
func (st *irqState) unmasked(s *Server) {
	for v := range st.msix {
		if st.msix[v].pending {
			st.fireMSIX(s, v)
		}
	}
	if st.intx[0].pending && !st.intx[0].masked && !s.cfg.intxDisabled() && st.intx[0].fd >= 0 && !st.msixActive() {
		st.fire(s, &st.intx[0])
		st.intx[0].masked = true
	}
}

// configChanged reacts to a config-space write (function mask, INTx
// disable).
func (st *irqState) configChanged(s *Server) { st.unmasked(s) }

// interrupts turns the vcoproc's notifications into eventfd signals until
// ctx ends. It drains the vcoproc's events each time (for OnEvents).
func (s *Server) interrupts(ctx context.Context) {
	defer close(s.irqDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.vc.Notify():
		}
		evs := s.vc.Events()
		if s.opts.OnEvents != nil && len(evs) > 0 {
			s.opts.OnEvents(evs)
		}
		s.mu.Lock()
		s.irq.raise(s)
		s.mu.Unlock()
	}
}

// irqInfo: VFIO_USER_DEVICE_GET_IRQ_INFO.
func (s *session) irqInfo(m Message, _ []int, out []byte) ([]byte, error) {
	argsz, index := le32(m.Payload), le32(m.Payload[8:])
	if argsz < irqInfoSize {
		return out, s.fail(m, syscall.EINVAL, "argsz %d is smaller than the %d-byte IRQ info", argsz, irqInfoSize)
	}
	if index >= NumIRQs {
		return out, s.fail(m, syscall.EINVAL, "IRQ index %d: the device has indexes 0 to %d", index, NumIRQs-1)
	}
	info := irqInfos[index]
	out = put32(out, irqInfoSize)
	out = put32(out, info.flags)
	out = put32(out, index)
	return put32(out, info.count), nil
}

// setIRQs: VFIO_USER_DEVICE_SET_IRQS. It owns fds.
func (s *session) setIRQs(m Message, fds []int, out []byte) ([]byte, error) {
	set := decodeIRQSet(m.Payload)
	bad := func(errno syscall.Errno, format string, args ...any) ([]byte, error) {
		closeFDs(fds)
		return out, s.fail(m, errno, format, args...)
	}
	data, action := set.Flags&irqSetDataMask, set.Flags&irqSetActionMask
	switch {
	case set.Flags&^(irqSetDataMask|irqSetActionMask) != 0:
		return bad(syscall.EINVAL, "unknown flag bits 0x%x", set.Flags&^(irqSetDataMask|irqSetActionMask))
	case data == 0 || data&(data-1) != 0:
		return bad(syscall.EINVAL, "flags 0x%x must name exactly one DATA type", set.Flags)
	case action == 0 || action&(action-1) != 0:
		return bad(syscall.EINVAL, "flags 0x%x must name exactly one ACTION", set.Flags)
	case set.ArgSz < irqSetSize:
		return bad(syscall.EINVAL, "argsz %d is smaller than the %d-byte structure", set.ArgSz, irqSetSize)
	case set.Index >= NumIRQs:
		return bad(syscall.EINVAL, "IRQ index %d: the device has indexes 0 to %d", set.Index, NumIRQs-1)
	case data != IRQSetDataEventfd && len(fds) > 0:
		return bad(syscall.EINVAL, "%d file descriptors arrived without VFIO_IRQ_SET_DATA_EVENTFD", len(fds))
	}
	total := irqInfos[set.Index].count
	if set.Count == 0 {
		// start and count 0 with DATA_NONE|ACTION_TRIGGER disables the index.
		if data != IRQSetDataNone || action != IRQSetActionTrigger || set.Start != 0 {
			return bad(syscall.EINVAL, "count 0 is only allowed with start 0, DATA_NONE and ACTION_TRIGGER (disable all)")
		}
		s.s.mu.Lock()
		for i, ls := 0, s.s.irq.lines(set.Index); i < len(ls); i++ {
			if ls[i].fd >= 0 {
				_ = unix.Close(ls[i].fd)
			}
			ls[i].fd, ls[i].pending = -1, false
		}
		s.s.mu.Unlock()
		return out, nil
	}
	if uint64(set.Start)+uint64(set.Count) > uint64(total) {
		return bad(syscall.EINVAL, "sub-indexes [%d, %d) of IRQ index %d: it has %d", set.Start, uint64(set.Start)+uint64(set.Count), set.Index, total)
	}
	var sel []byte // DATA_BOOL: which sub-indexes the action applies to
	switch data {
	case IRQSetDataBool:
		if len(m.Payload) < irqSetSize+int(set.Count) {
			return bad(syscall.EINVAL, "DATA_BOOL needs %d bytes of data, %d arrived", set.Count, len(m.Payload)-irqSetSize)
		}
		sel = m.Payload[irqSetSize : irqSetSize+set.Count]
	case IRQSetDataEventfd:
		if action != IRQSetActionTrigger {
			return bad(syscall.ENOTSUP, "eventfds for mask or unmask events are not supported")
		}
		if len(fds) != 0 && len(fds) != int(set.Count) {
			return bad(syscall.EINVAL, "%d eventfds for %d sub-indexes: send one per sub-index, or none to de-assign", len(fds), set.Count)
		}
	}
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	ls := s.s.irq.lines(set.Index)[set.Start : set.Start+set.Count]
	for i := range ls {
		if sel != nil && sel[i] == 0 {
			continue
		}
		l := &ls[i]
		switch {
		case data == IRQSetDataEventfd:
			if l.fd >= 0 {
				_ = unix.Close(l.fd)
			}
			l.fd = -1
			if len(fds) > 0 {
				l.fd = fds[i]
			}
		case action == IRQSetActionTrigger:
			// The client triggers the interrupt itself (a loopback test).
			if l.fd >= 0 {
				s.s.irq.fire(s.s, l)
			}
		case action == IRQSetActionMask:
			l.masked = true
		case action == IRQSetActionUnmask:
			l.masked = false
		}
	}
	s.s.irq.unmasked(s.s)
	return out, nil
}
