package vfiouser

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// session is one connected client: the read loop, which handles commands
// strictly in order (the spec's "Command Concurrency"), and the requests the
// server sends the other way (DMA_READ/DMA_WRITE), whose replies the read
// loop hands to the waiting caller.
type session struct {
	s          *Server
	c          *conn
	negotiated bool
	// clientMaxXfer is the client's max_data_xfer_size: the most one
	// DMA_READ/DMA_WRITE may move.
	clientMaxXfer uint64
	out           []byte // reply buffer of the read loop

	pmu     sync.Mutex
	pending map[uint16]chan reply
	done    chan struct{}
}

type reply struct {
	h       Header
	payload []byte
}

// handler handles one command; it appends its reply payload to out (after
// the header) and returns the extended buffer, or fails with a
// *ProtocolError. It owns fds: it must close or keep each of them.
type handler func(sess *session, m Message, fds []int, out []byte) ([]byte, error)

// handlers is the table of commands the server implements; a known command
// missing here is refused with ENOTSUP, an unknown one with ENOSYS.
var handlers = [...]handler{
	CmdVersion:          (*session).version,
	CmdDMAMap:           (*session).dmaMap,
	CmdDMAUnmap:         (*session).dmaUnmap,
	CmdDeviceGetInfo:    (*session).deviceInfo,
	CmdDeviceGetRegion:  (*session).regionInfo,
	CmdDeviceGetIRQInfo: (*session).irqInfo,
	CmdDeviceSetIRQs:    (*session).setIRQs,
	CmdRegionRead:       (*session).regionRead,
	CmdRegionWrite:      (*session).regionWrite,
	CmdDeviceReset:      (*session).reset,
}

// takesFDs lists the commands that may carry descriptors.
var takesFDs = [...]bool{CmdDMAMap: true, CmdDeviceSetIRQs: true}

func (s *session) fail(m Message, errno syscall.Errno, format string, args ...any) error {
	return &ProtocolError{Command: m.Header.Command, ID: m.Header.ID, Errno: errno, Reason: fmt.Sprintf(format, args...)}
}

// fatal is a refusal after which the server closes the connection (the
// spec: the server "closes the connection if it cannot support the
// advertised version").
func (s *session) fatal(m Message, errno syscall.Errno, format string, args ...any) error {
	return &ProtocolError{Command: m.Header.Command, ID: m.Header.ID, Errno: errno, Reason: fmt.Sprintf(format, args...), fatal: true}
}

func (s *session) run() error {
	for {
		m, fds, err := s.c.readMessage(s.s.maxMsg)
		var perr *ProtocolError
		switch {
		case errors.As(err, &perr):
			if m.Header.IsReply() {
				s.s.log.Warn("dropping a malformed reply", "err", err)
				continue
			}
			if werr := s.replyError(m.Header, perr); werr != nil {
				return werr
			}
			continue
		case errors.Is(err, errFraming):
			// The size field is unusable: say so, then end the
			// connection, since the next message cannot be found.
			_ = s.replyError(m.Header, &ProtocolError{Command: m.Header.Command, ID: m.Header.ID, Errno: syscall.EINVAL, Reason: err.Error()})
			return err
		case err != nil:
			return err
		}
		if m.Header.IsReply() {
			closeFDs(fds)
			s.deliverReply(m)
			continue
		}
		if err := s.handle(m, fds); err != nil {
			return err
		}
	}
}

// handle runs one command and sends its reply. It returns an error only
// when the connection must end.
func (s *session) handle(m Message, fds []int) error {
	h := m.Header
	s.s.mu.Lock()
	s.s.stats.Messages++
	s.s.mu.Unlock()
	var err error
	out := append(s.out[:0], make([]byte, HeaderSize)...)
	switch {
	case !s.negotiated && h.Command != CmdVersion:
		closeFDs(fds)
		err = s.fatal(m, syscall.EINVAL, "the first message must be %s", CmdVersion)
	case s.negotiated && h.Command == CmdVersion:
		closeFDs(fds)
		err = s.fail(m, syscall.EINVAL, "the version is already negotiated")
	case len(fds) > 0 && (int(h.Command) >= len(takesFDs) || !takesFDs[h.Command]):
		closeFDs(fds)
		err = s.fail(m, syscall.EINVAL, "%s takes no file descriptors, %d arrived", h.Command, len(fds))
	case int(h.Command) < len(handlers) && handlers[h.Command] != nil:
		out, err = handlers[h.Command](s, m, fds, out)
	case h.Command == CmdDMARead || h.Command == CmdDMAWrite:
		closeFDs(fds)
		err = s.fail(m, syscall.EINVAL, "%s goes from server to client, not the other way", h.Command)
	default:
		closeFDs(fds)
		err = s.fail(m, syscall.ENOTSUP, "not supported by this server")
	}
	s.out = out[:0]
	if err != nil {
		var perr *ProtocolError
		if !errors.As(err, &perr) {
			perr = &ProtocolError{Command: h.Command, ID: h.ID, Errno: syscall.EINVAL, Reason: err.Error()}
		}
		isFatal := perr.fatal
		if h.Flags&FlagNoReply == 0 {
			if werr := s.replyError(h, perr); werr != nil {
				return werr
			}
		} else {
			s.s.log.Warn("command failed (no reply requested)", "err", perr)
		}
		if isFatal {
			return perr
		}
		return nil
	}
	if h.Flags&FlagNoReply != 0 {
		return nil
	}
	Header{ID: h.ID, Command: h.Command, Size: uint32(len(out)), Flags: FlagTypeReply}.Put(out)
	return s.c.write(out)
}

// replyError sends the header-only error reply the spec prescribes.
func (s *session) replyError(h Header, perr *ProtocolError) error {
	s.s.mu.Lock()
	s.s.stats.ErrorReplies++
	s.s.mu.Unlock()
	s.s.log.Debug("refusing a command", "err", perr)
	var b [HeaderSize]byte
	Header{ID: h.ID, Command: h.Command, Size: HeaderSize, Flags: FlagTypeReply | FlagError, Error: uint32(perr.Errno)}.Put(b[:])
	return s.c.write(b[:])
}

func put32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func put64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// deviceInfo: VFIO_USER_DEVICE_GET_INFO.
func (s *session) deviceInfo(m Message, _ []int, out []byte) ([]byte, error) {
	if argsz := le32(m.Payload); argsz < deviceInfoSize {
		return out, s.fail(m, syscall.EINVAL, "argsz %d is smaller than the %d-byte reply", argsz, deviceInfoSize)
	}
	const flagsReset, flagsPCI = 1 << 0, 1 << 1
	out = put32(out, deviceInfoSize)
	out = put32(out, flagsReset|flagsPCI)
	out = put32(out, NumRegions)
	return put32(out, NumIRQs), nil
}

// Region info flags (linux/vfio.h).
const (
	regionFlagRead  = 1 << 0
	regionFlagWrite = 1 << 1
)

// regionSize is the size of each region; 0 for those not implemented.
func (s *Server) regionSize(index uint32) uint64 {
	switch index {
	case RegionBAR0:
		return uint64(s.bar0)
	case msixBAR:
		return msixBARSize
	case RegionConfig:
		return ConfigSpaceSize
	}
	return 0
}

// regionInfo: VFIO_USER_DEVICE_GET_REGION_INFO. No region is mappable: see
// doc.go for why no part of BAR0 may bypass the mediator.
func (s *session) regionInfo(m Message, _ []int, out []byte) ([]byte, error) {
	argsz, index := le32(m.Payload), le32(m.Payload[8:])
	if argsz < regionInfoSize {
		return out, s.fail(m, syscall.EINVAL, "argsz %d is smaller than the %d-byte region info", argsz, regionInfoSize)
	}
	if index >= NumRegions {
		return out, s.fail(m, syscall.EINVAL, "region index %d: the device has regions 0 to %d", index, NumRegions-1)
	}
	size := s.s.regionSize(index)
	var flags uint32
	if size != 0 {
		flags = regionFlagRead | regionFlagWrite
	}
	out = put32(out, regionInfoSize)
	out = put32(out, flags)
	out = put32(out, index)
	out = put32(out, 0) // cap_offset: no capabilities
	out = put64(out, size)
	return put64(out, 0), nil // offset: only meaningful for mmap
}

// reset: VFIO_USER_DEVICE_RESET.
func (s *session) reset(m Message, _ []int, out []byte) ([]byte, error) {
	s.s.mu.Lock()
	s.s.cfg.resetAll()
	s.s.msix = newMSIXTable()
	s.s.irq.resetMasks()
	s.s.mu.Unlock()
	if s.s.opts.OnReset != nil {
		if err := s.s.opts.OnReset(); err != nil {
			return out, s.fail(m, syscall.EIO, "resetting the vcoproc: %v", err)
		}
	}
	s.s.log.Info("device reset")
	return out, nil
}

// request sends a server-to-client command and waits for its reply (or the
// client's departure). It must not be called from the read loop.
func (s *session) request(cmd Command, payload []byte) (reply, error) {
	id := uint16(s.s.nextID.Add(1))
	ch := make(chan reply, 1)
	s.pmu.Lock()
	if _, dup := s.pending[id]; dup {
		s.pmu.Unlock()
		return reply{}, fmt.Errorf("vfiouser: 65536 requests in flight")
	}
	s.pending[id] = ch
	s.pmu.Unlock()
	defer func() {
		s.pmu.Lock()
		delete(s.pending, id)
		s.pmu.Unlock()
	}()
	msg := make([]byte, HeaderSize, HeaderSize+len(payload))
	msg = append(msg, payload...)
	Header{ID: id, Command: cmd, Size: uint32(len(msg)), Flags: FlagTypeCommand}.Put(msg)
	if err := s.c.write(msg); err != nil {
		return reply{}, fmt.Errorf("vfiouser: sending %s: %w", cmd, err)
	}
	select {
	case r := <-ch:
		if r.h.Command != cmd {
			return r, fmt.Errorf("vfiouser: reply to %s (message %d) names %s", cmd, id, r.h.Command)
		}
		if r.h.Flags&FlagError != 0 {
			return r, fmt.Errorf("vfiouser: client refused %s: %w", cmd, syscall.Errno(r.h.Error))
		}
		return r, nil
	case <-s.done:
		return reply{}, fmt.Errorf("vfiouser: client disconnected before replying to %s", cmd)
	}
}

func (s *session) deliverReply(m Message) {
	s.pmu.Lock()
	ch, ok := s.pending[m.Header.ID]
	s.pmu.Unlock()
	if !ok {
		s.s.log.Warn("dropping a reply nobody waits for", "id", m.Header.ID, "command", m.Header.Command)
		return
	}
	ch <- reply{h: m.Header, payload: append([]byte(nil), m.Payload...)}
}
