package pvhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/spec"
)

// session is one connected guest: one domain's vcoprocs.
type session struct {
	s     *Server
	conn  *net.UnixConn
	cred  Cred
	cfg   DomainConfig
	ready bool // set under s.mu once the handshake is done

	dom           *mediator.Domain
	createdDomain bool
	vcs           []*mediator.VCoproc
	attached      []bool // the session attached vcs[i] (and detaches it)
	caps          uint64

	mem            []byte
	layout         pvwire.Layout
	doorbell, intr int
	sleeper        *pvwire.Sleeper // the serve loop's sleep on the doorbell
	req            *pvwire.Consumer
	rsp            *pvwire.Producer

	bufMu    sync.RWMutex
	bufs     map[uint64]*buffer // by IOVA
	bufBytes uint64

	devmemMu sync.Mutex
	devmem   map[devmemKey]bool // device memory the session allocated

	ctx    context.Context
	cancel context.CancelFunc
	events atomic.Bool // an interrupt arrived: drain the vcoprocs' events
	asleep atomic.Bool // the serve loop sleeps, or is about to: kick it (notified)

	endOnce   sync.Once
	endStatus uint32
	endReason string

	// serve loop state (owned by the serve goroutine)
	predict    predictor
	idleSleeps int // sleeps in a row that ran to MaxSleep
	backlog    []response
	stallSince time.Time
	lastDrain  time.Duration // on the monotonic clock (monotonic.Now)
	words      []uint64
	maxWords   []uint32 // per device: the largest command buffer
}

type devmemKey struct {
	dev  int
	iova uint64
}

type buffer struct {
	iova, size uint64
	mem        []byte
}

func (s *Server) handle(ctx context.Context, c *net.UnixConn) {
	ss := &session{s: s, conn: c, doorbell: -1, intr: -1, bufs: map[uint64]*buffer{}, devmem: map[devmemKey]bool{}}
	ss.ctx, ss.cancel = context.WithCancel(ctx)
	defer ss.cancel()
	if err := ss.handshake(); err != nil {
		s.log.Warn("pv session refused", "peer", ss.cred, "err", err)
		ss.teardown()
		_ = c.Close()
		return
	}
	s.log.Info("pv session started", "domain", ss.cfg.Name, "peer", ss.cred)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ss.control()
	}()
	for _, vc := range ss.vcs {
		vc.SetNotifier(ss.notified)
	}
	ss.serve()
	// The serve loop ends by end(), or by the server's context: make sure
	// the reason is set (and read it through the Once).
	ss.end(spec.PVStatusShutdown, "the host is shutting down")
	// The serve loop has ended: say why, close the socket (which ends the
	// control loop), and release everything.
	if ss.endStatus != spec.PVStatusOK {
		ss.sendSock(&pvwire.Sock{Type: spec.PVGoodbye, Status: ss.endStatus, Text: ss.endReason})
	}
	_ = c.Close()
	wg.Wait()
	ss.teardown()
	s.log.Info("pv session ended", "domain", ss.cfg.Name, "peer", ss.cred, "reason", ss.endReason)
}

// end stops the session; the first reason wins. status OK means the guest
// left (closed its socket or said GOODBYE).
func (ss *session) end(status uint32, reason string) {
	ss.endOnce.Do(func() {
		ss.endStatus, ss.endReason = status, reason
		ss.cancel()
		if ss.doorbell >= 0 {
			_ = pvwire.Kick(ss.doorbell) // wake the serve loop
		}
	})
}

func (ss *session) reject(status uint32, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	ss.sendSock(&pvwire.Sock{Type: spec.PVReject, Status: status, Text: err.Error()})
	return err
}

func (ss *session) sendSock(m *pvwire.Sock, fds ...int) {
	b, err := pvwire.EncodeSock(m)
	if err == nil {
		err = pvwire.WritePacket(ss.conn, b, fds...)
	}
	if err != nil {
		ss.s.log.Debug("pv: sending to the guest", "peer", ss.cred, "err", err)
	}
}

func (ss *session) handshake() error {
	s := ss.s
	cred, err := pvwire.PeerCred(ss.conn)
	if err != nil {
		return fmt.Errorf("reading the peer's credentials: %w", err)
	}
	ss.cred = Cred{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid}
	_ = ss.conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	buf := make([]byte, spec.PVMaxSocketMessage)
	n, fds, err := pvwire.ReadPacket(ss.conn, buf)
	if err != nil {
		return fmt.Errorf("waiting for HELLO: %w", err)
	}
	pvwire.CloseFDs(fds)
	m, err := pvwire.DecodeSock(buf[:n])
	if err != nil {
		return ss.reject(spec.PVStatusMalformed, "%v", err)
	}
	if m.Type != spec.PVHello {
		return ss.reject(spec.PVStatusMalformed, "the first message must be HELLO (type 0x%02x), got type 0x%02x", uint8(spec.PVHello), uint8(m.Type))
	}
	h := m.Hello
	if h.Major != spec.PVVersionMajor {
		return ss.reject(spec.PVStatusVersion, "the guest speaks protocol %d.%d, the host speaks %d.%d", h.Major, h.Minor, spec.PVVersionMajor, spec.PVVersionMinor)
	}
	reqSlots, rspSlots := h.ReqSlots, h.RspSlots
	if reqSlots == 0 {
		reqSlots = spec.PVDefaultRingSlots
	}
	if rspSlots == 0 {
		rspSlots = spec.PVDefaultRingSlots
	}
	layout, err := pvwire.NewLayout(reqSlots, rspSlots)
	if err != nil {
		return ss.reject(spec.PVStatusMalformed, "HELLO: %v", err)
	}
	ss.layout = layout
	dc, err := s.cfg.Resolve(ss.cred)
	if err != nil {
		return ss.reject(spec.PVStatusNoDomain, "peer %v: credentials match no domain: %v", ss.cred, err)
	}
	if len(dc.Devices) == 0 || len(dc.Devices) > spec.PVMaxDevices {
		return ss.reject(spec.PVStatusInternal, "domain %q is configured with %d devices, want 1 to %d", dc.Name, len(dc.Devices), spec.PVMaxDevices)
	}
	if dc.BufferQuota == 0 {
		dc.BufferQuota = DefaultBufferQuota
	}
	if dc.MaxBuffers <= 0 {
		dc.MaxBuffers = spec.PVDefaultMaxBuffers
	}
	ss.cfg = dc
	if err := s.claim(ss); err != nil {
		ss.cfg = DomainConfig{}
		return ss.reject(spec.PVStatusBusy, "%v", err)
	}
	if err := ss.bind(); err != nil {
		return ss.reject(spec.PVStatusInternal, "%v", err)
	}
	devices := make([]pvwire.DeviceInfo, len(ss.vcs))
	for i, vc := range ss.vcs {
		dev, _ := s.cfg.Mediator.Device(vc.Device())
		devices[i] = deviceInfo(dev, dc.Devices[i].VCoproc.MemoryQuota)
		ss.maxWords = append(ss.maxWords, devices[i].MaxSubmitWords)
	}
	ss.caps = h.Caps & s.cfg.Caps
	ringFD, err := ss.setupRings()
	if err != nil {
		return ss.reject(spec.PVStatusInternal, "%v", err)
	}
	defer unix.Close(ringFD) // the guest has its own copy once sent; ours is not needed after the mmap
	w := &pvwire.Sock{Type: spec.PVWelcome, Tag: m.Tag, Welcome: pvwire.Welcome{
		Major: spec.PVVersionMajor, Minor: min(h.Minor, spec.PVVersionMinor), Caps: ss.caps, Layout: layout,
		BufferQuota: dc.BufferQuota, MaxBuffers: uint32(dc.MaxBuffers), Domain: dc.Name, Devices: devices}}
	b, err := pvwire.EncodeSock(w)
	if err != nil {
		return ss.reject(spec.PVStatusInternal, "%v", err)
	}
	if err := pvwire.WritePacket(ss.conn, b, ringFD, ss.doorbell, ss.intr); err != nil {
		return fmt.Errorf("sending WELCOME: %w", err)
	}
	_ = ss.conn.SetDeadline(time.Time{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ss.reject(spec.PVStatusShutdown, "the host is shutting down")
	}
	ss.ready = true
	return nil
}

// bind finds or creates the domain and its vcoprocs.
func (ss *session) bind() error {
	m := ss.s.cfg.Mediator
	dom, ok := m.Domain(ss.cfg.Name)
	if !ok {
		var err error
		if dom, err = m.CreateDomain(ss.cfg.Name); err != nil {
			return err
		}
		ss.createdDomain = true
	}
	ss.dom = dom
	for _, dc := range ss.cfg.Devices {
		var vc *mediator.VCoproc
		for _, have := range dom.VCoprocs() {
			if have.Device() == dc.Device {
				vc = have
			}
		}
		attached := false
		if vc == nil {
			var err error
			if vc, err = m.Attach(dom.Name(), dc.Device, dc.VCoproc); err != nil {
				return err
			}
			attached = true
		}
		ss.vcs = append(ss.vcs, vc)
		ss.attached = append(ss.attached, attached)
	}
	return nil
}

func deviceInfo(dev *mediator.Device, quota uint64) pvwire.DeviceInfo {
	sp := dev.Spec()
	d := pvwire.DeviceInfo{Name: dev.Name(), Model: sp.Model, Class: string(sp.Class), Window: sp.Registers.Size(),
		MaxSubmitWords: uint32(sp.MaxSubmitWords), MemoryQuota: quota}
	ids := 0
	for _, r := range sp.Registers.Registers() {
		if r.Role == spec.RoleID {
			if ids == 0 {
				d.ID = uint32(r.Reset)
			} else if ids == 1 {
				d.Version = uint32(r.Reset)
			}
			ids++
		}
	}
	return d
}

// setupRings creates the sealed ring memfd, maps it, and creates the two
// eventfds. It returns the memfd for WELCOME.
func (ss *session) setupRings() (int, error) {
	fd, err := pvwire.NewMemfd("coprocd-pv-rings", ss.layout.Bytes)
	if err != nil {
		return -1, err
	}
	mem, err := pvwire.Mmap(fd, 0, ss.layout.Bytes)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("mapping the rings: %w", err)
	}
	ss.mem = mem
	pvwire.InitControl(mem, ss.layout)
	if ss.doorbell, err = pvwire.NewEventfd(); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if ss.sleeper, err = pvwire.NewSleeper(ss.doorbell); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if ss.intr, err = pvwire.NewEventfd(); err != nil {
		unix.Close(fd)
		return -1, err
	}
	ss.req = pvwire.RequestConsumer(mem, ss.layout)
	ss.rsp = pvwire.ResponseProducer(mem, ss.layout)
	return fd, nil
}

// teardown releases everything the session holds: its jobs are aborted and
// its device memory scrubbed (by detaching its vcoprocs, or destroying the
// domain it created), its buffers unmapped from the domain's address space
// and from the host, its rings and eventfds closed.
func (ss *session) teardown() {
	m := ss.s.cfg.Mediator
	log := ss.s.log
	if ss.dom != nil {
		// Device memory the session allocated on vcoprocs it did not attach.
		ss.devmemMu.Lock()
		for k := range ss.devmem {
			if !ss.attached[k.dev] {
				if err := ss.vcs[k.dev].FreeDeviceMemory(k.iova); err != nil {
					log.Error("pv teardown: freeing device memory", "domain", ss.cfg.Name, "err", err)
				}
			}
		}
		ss.devmem = nil
		ss.devmemMu.Unlock()
		for i, vc := range ss.vcs {
			if ss.attached[i] && !ss.createdDomain {
				if err := vc.Detach(); err != nil {
					log.Error("pv teardown: detaching", "vcoproc", vc.Name(), "err", err)
				}
			}
		}
		ss.bufMu.Lock()
		if ss.createdDomain {
			if err := m.DestroyDomain(ss.dom.Name()); err != nil {
				log.Error("pv teardown: destroying the domain", "domain", ss.cfg.Name, "err", err)
			}
		}
		for iova, b := range ss.bufs {
			if !ss.createdDomain {
				if err := ss.dom.Unmap(b.iova, b.size); err != nil {
					log.Error("pv teardown: unmapping a buffer", "domain", ss.cfg.Name, "iova", iova, "err", err)
				}
			}
			_ = unix.Munmap(b.mem)
		}
		ss.bufs, ss.bufBytes = nil, 0
		ss.bufMu.Unlock()
	}
	if ss.mem != nil {
		_ = unix.Munmap(ss.mem)
		ss.mem = nil
	}
	// No notifier may kick the doorbell once it is closed (its number
	// could be reused by then): SetNotifier takes the mediator's lock,
	// under which notifiers run, so none runs after this.
	for _, vc := range ss.vcs {
		vc.SetNotifier(nil)
	}
	for _, fd := range []*int{&ss.doorbell, &ss.intr} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
	if ss.cfg.Name != "" {
		ss.s.release(ss)
	}
}

// notified is the session's vcoprocs' notifier (mediator's SetNotifier):
// it runs under the mediator's lock wherever an event is delivered — the
// device's runner, or this session's own submission stepping the device
// inline. The serve loop drains the events when it sees the flag, and is
// kicked only while it sleeps or is about to: the loop stores asleep and
// then loads events, this stores events and then loads asleep (Go's
// atomics are sequentially consistent), so at least one sees the other's
// store — an event racing the loop's going to sleep either stops the sleep
// or kicks it. An event from the session's own inline step (the loop is
// awake) costs no system call and wakes no thread.
func (ss *session) notified(bool) {
	ss.events.Store(true)
	if ss.asleep.Load() {
		_ = pvwire.Kick(ss.doorbell)
	}
}

// control serves the socket: MAP, UNMAP, GOODBYE. Its end (the guest
// closed the socket or died) ends the session.
func (ss *session) control() {
	buf := make([]byte, spec.PVMaxSocketMessage)
	for {
		n, fds, err := pvwire.ReadPacket(ss.conn, buf)
		if err != nil {
			ss.end(spec.PVStatusOK, "the guest closed its socket")
			return
		}
		m, err := pvwire.DecodeSock(buf[:n])
		if err != nil {
			pvwire.CloseFDs(fds)
			var de *pvwire.DecodeError
			status := uint32(spec.PVStatusMalformed)
			if errors.As(err, &de) {
				status = de.Status
			}
			ss.sendSock(&pvwire.Sock{Type: spec.PVSockResult, Tag: m.Tag, Status: status, Text: err.Error()})
			continue
		}
		switch m.Type {
		case spec.PVMap:
			status, err := ss.mapBuffer(m.Map, fds)
			ss.reply(m.Tag, status, err)
		case spec.PVUnmap:
			pvwire.CloseFDs(fds)
			status, err := ss.unmapBuffer(m.IOVA)
			ss.reply(m.Tag, status, err)
		case spec.PVGoodbye:
			pvwire.CloseFDs(fds)
			ss.end(spec.PVStatusOK, "the guest said goodbye: "+m.Text)
			return
		default:
			pvwire.CloseFDs(fds)
			ss.reply(m.Tag, spec.PVStatusUnsupported, fmt.Errorf("pv: message type 0x%02x is not one a guest sends after WELCOME", uint8(m.Type)))
		}
	}
}

func (ss *session) reply(tag uint64, status uint32, err error) {
	m := &pvwire.Sock{Type: spec.PVSockResult, Tag: tag, Status: status}
	if err != nil {
		m.Text = err.Error()
	}
	ss.sendSock(m)
}

const pageMask = iommu.PageSize - 1

// mapBuffer maps a guest memfd into the host and into the domain's I/O
// address space. It takes ownership of fds.
func (ss *session) mapBuffer(r pvwire.MapRequest, fds []int) (uint32, error) {
	defer pvwire.CloseFDs(fds)
	what := fmt.Sprintf("MAP of %d bytes at iova 0x%x", r.Size, r.IOVA)
	if len(fds) != 1 {
		return spec.PVStatusBadBuffer, fmt.Errorf("%s: carries %d file descriptors, want 1 (a memfd)", what, len(fds))
	}
	if r.Size == 0 || r.Size&pageMask != 0 || r.FDOffset&pageMask != 0 {
		return spec.PVStatusBadBuffer, fmt.Errorf("%s, fd offset %d: size must be a positive multiple of %d and the offset a multiple of it", what, r.FDOffset, iommu.PageSize)
	}
	ss.bufMu.Lock()
	defer ss.bufMu.Unlock()
	if ss.bufs == nil {
		return spec.PVStatusShutdown, fmt.Errorf("%s: the session is ending", what)
	}
	if len(ss.bufs) >= ss.cfg.MaxBuffers {
		return spec.PVStatusQuota, fmt.Errorf("%s: the session has %d buffers mapped, its limit", what, len(ss.bufs))
	}
	if r.Size > ss.cfg.BufferQuota-ss.bufBytes {
		return spec.PVStatusQuota, fmt.Errorf("%s: over the session's buffer quota (%d of %d bytes mapped)", what, ss.bufBytes, ss.cfg.BufferQuota)
	}
	fd := fds[0]
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return spec.PVStatusBadBuffer, fmt.Errorf("%s: the fd is not a sealable memfd (F_GET_SEALS: %v)", what, err)
	}
	if seals&unix.F_SEAL_SHRINK == 0 {
		return spec.PVStatusBadBuffer, fmt.Errorf("%s: the memfd is not sealed with F_SEAL_SHRINK (seals 0x%x); the host maps only memory that cannot be cut short under it", what, seals)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return spec.PVStatusBadBuffer, fmt.Errorf("%s: fstat: %v", what, err)
	}
	if r.FDOffset > uint64(st.Size) || r.Size > uint64(st.Size)-r.FDOffset {
		return spec.PVStatusBadBuffer, fmt.Errorf("%s: fd offset %d + size run past the memfd's %d bytes", what, r.FDOffset, st.Size)
	}
	mem, err := pvwire.Mmap(fd, r.FDOffset, r.Size)
	if err != nil {
		return spec.PVStatusBadBuffer, fmt.Errorf("%s: mmap: %v", what, err)
	}
	if err := ss.dom.Map(r.IOVA, mem, iommu.Perm(r.Perm)); err != nil {
		_ = unix.Munmap(mem)
		return spec.PVStatusBadBuffer, fmt.Errorf("%s: %v", what, err)
	}
	ss.bufs[r.IOVA] = &buffer{iova: r.IOVA, size: r.Size, mem: mem}
	ss.bufBytes += r.Size
	return spec.PVStatusOK, nil
}

func (ss *session) unmapBuffer(iova uint64) (uint32, error) {
	ss.bufMu.Lock()
	defer ss.bufMu.Unlock()
	b, ok := ss.bufs[iova]
	if !ok {
		return spec.PVStatusBadBuffer, fmt.Errorf("UNMAP at iova 0x%x: no buffer is mapped there", iova)
	}
	if err := ss.dom.Unmap(b.iova, b.size); err != nil {
		return spec.PVStatusInternal, fmt.Errorf("UNMAP at iova 0x%x: %v", iova, err)
	}
	_ = unix.Munmap(b.mem)
	delete(ss.bufs, iova)
	ss.bufBytes -= b.size
	return spec.PVStatusOK, nil
}

// readWords copies count command words at iova out of a mapped buffer.
func (ss *session) readWords(iova uint64, count uint32, dst []uint64) ([]uint64, error) {
	ss.bufMu.RLock()
	defer ss.bufMu.RUnlock()
	n := 8 * uint64(count)
	for _, b := range ss.bufs {
		if iova >= b.iova && iova-b.iova < b.size && n <= b.size-(iova-b.iova) {
			src := b.mem[iova-b.iova : iova-b.iova+n]
			dst = dst[:0]
			for i := uint64(0); i < n; i += 8 {
				dst = append(dst, le64(src[i:]))
			}
			return dst, nil
		}
	}
	return dst, fmt.Errorf("SUBMIT_INDIRECT of %d words at iova 0x%x: [0x%x, 0x%x) lies outside every mapped buffer", count, iova, iova, iova+n)
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
