package vfiouser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/spec"
)

// Target is the vcoproc a server exposes, with what the server needs to
// reach around it: the domain whose IOMMU context DMA maps enter, and the
// device's spec (the register window behind BAR0).
type Target struct {
	Domain  *mediator.Domain
	VCoproc *mediator.VCoproc
	Spec    *spec.Device
}

// Options tune a server. Zero values take the defaults.
type Options struct {
	// Identity is the PCI identity; default DefaultIdentity(Spec).
	Identity *PCIIdentity
	// MaxMsgFDs is the most descriptors one message may carry (the
	// max_msg_fds capability). Default DefaultMaxMsgFDs.
	MaxMsgFDs int
	// MaxDataXferSize bounds the count of one REGION_READ/WRITE (the
	// max_data_xfer_size capability). Default DefaultMaxDataXferSize.
	MaxDataXferSize uint32
	// MaxDMAMaps bounds the DMA regions mapped at once (max_dma_maps).
	// Default DefaultMaxDMAMaps.
	MaxDMAMaps int
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// OnReset runs on VFIO_USER_DEVICE_RESET after the PCI state (config
	// space, MSI-X table, interrupt masks) is reset: the daemon resets the
	// vcoproc itself there (the mediator has no VCoproc.Reset yet). An
	// error fails the reset.
	OnReset func() error
	// OnDisconnect runs after a client has gone and its DMA mappings and
	// interrupt descriptors are dropped. The spec asks that the device
	// state otherwise be kept for a reconnecting client; a daemon that
	// wants the vcoproc quiesced detaches it here.
	OnDisconnect func()
	// OnEvents receives the vcoproc's events, which the server drains each
	// time the vcoproc raises an interrupt (the server is the vcoproc's
	// notification channel, so nobody else drains them).
	OnEvents func([]mediator.Event)
}

// Defaults of Options.
const (
	DefaultMaxMsgFDs       = 16
	DefaultMaxDataXferSize = 1 << 20 // the spec's default
	DefaultMaxDMAMaps      = 65535   // the spec's default
	maxVersionData         = 64 << 10
)

// Protocol version this server speaks: major 0, every minor up to 1.
const (
	VersionMajor = 0
	VersionMinor = 1
)

// Stats count what a server has done.
type Stats struct {
	Connections   uint64
	Messages      uint64 // commands handled
	ErrorReplies  uint64 // commands refused
	Interrupts    uint64 // eventfd signals sent
	DMAMaps       uint64 // mapped regions now
	RegionReads   uint64
	RegionWrites  uint64
	Disconnects   uint64
	DroppedEvents uint64 // interrupts with no eventfd to deliver them to
}

// Server is a vfio-user server for one vcoproc: one socket, one client at a
// time. Its methods are safe for concurrent use.
type Server struct {
	vc     *mediator.VCoproc
	dom    *mediator.Domain
	spec   *spec.Device
	opts   Options
	log    *slog.Logger
	bar0   uint32 // size of BAR0
	maxMsg uint32

	// mu guards the device state below. Lock order: mu, then the
	// mediator's lock (Domain.Map/Unmap are called under mu); nothing
	// takes mu while holding the mediator's lock.
	mu      sync.Mutex
	cfg     *configSpace
	msix    msixTable
	irq     irqState
	dma     dmaTable
	active  *session
	closed  bool
	stats   Stats
	lns     []net.Listener
	serving sync.WaitGroup

	stop    context.CancelFunc
	irqDone chan struct{}
	nextID  atomic.Uint32 // ids of server-initiated requests
}

// NewServer builds a server for t. It starts the goroutine that turns the
// vcoproc's interrupts into eventfd signals; Close stops it.
func NewServer(t Target, opts Options) (*Server, error) {
	if t.Domain == nil || t.VCoproc == nil || t.Spec == nil {
		return nil, errors.New("vfiouser: a Target needs a Domain, a VCoproc and a Spec")
	}
	if t.VCoproc.Domain() != t.Domain.Name() {
		return nil, fmt.Errorf("vfiouser: vcoproc %q belongs to domain %q, not %q", t.VCoproc.Name(), t.VCoproc.Domain(), t.Domain.Name())
	}
	if t.Spec.Registers == nil {
		return nil, fmt.Errorf("vfiouser: device %s has no register map", t.Spec.Model)
	}
	if opts.MaxMsgFDs == 0 {
		opts.MaxMsgFDs = DefaultMaxMsgFDs
	}
	if opts.MaxDataXferSize == 0 {
		opts.MaxDataXferSize = DefaultMaxDataXferSize
	}
	if opts.MaxDMAMaps == 0 {
		opts.MaxDMAMaps = DefaultMaxDMAMaps
	}
	switch {
	case opts.MaxMsgFDs < 1 || opts.MaxMsgFDs > 253: // SCM_MAX_FD is 253
		return nil, fmt.Errorf("vfiouser: MaxMsgFDs %d must be from 1 to 253", opts.MaxMsgFDs)
	case opts.MaxDataXferSize < 8 || opts.MaxDataXferSize > 64<<20:
		return nil, fmt.Errorf("vfiouser: MaxDataXferSize %d must be from 8 bytes to 64 MiB", opts.MaxDataXferSize)
	case opts.MaxDMAMaps < 1:
		return nil, fmt.Errorf("vfiouser: MaxDMAMaps %d must be positive", opts.MaxDMAMaps)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	id := DefaultIdentity(t.Spec)
	if opts.Identity != nil {
		id = *opts.Identity
	}
	s := &Server{vc: t.VCoproc, dom: t.Domain, spec: t.Spec, opts: opts,
		log:  opts.Logger.With("vcoproc", t.VCoproc.Name()),
		bar0: barSize(t.Spec.Registers.Size()), irqDone: make(chan struct{})}
	s.maxMsg = uint32(max(HeaderSize+regionAccessSize+int(opts.MaxDataXferSize), HeaderSize+versionFixedSize+maxVersionData))
	s.cfg = newConfigSpace(id, s.bar0)
	s.msix = newMSIXTable()
	s.irq = newIRQState()
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.interrupts(ctx)
	return s, nil
}

// Serve accepts connections on l and serves them one at a time; a second
// client while one is connected is refused (the spec has one client per
// socket). It returns nil once Close has been called.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return nil
	}
	s.lns = append(s.lns, l)
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("vfiouser: accept: %w", err)
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			s.log.Warn("refusing a connection that is not AF_UNIX", "remote", c.RemoteAddr())
			_ = c.Close()
			continue
		}
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			if err := s.ServeConn(uc); err != nil && !errors.Is(err, errBusy) {
				s.log.Info("vfio-user client gone", "err", err)
			}
		}()
	}
}

var errBusy = errors.New("vfiouser: a client is already connected")

// ServeConn serves one connected client until it disconnects or the server
// is closed, then drops the client's DMA mappings and interrupt
// descriptors. It returns nil on an orderly disconnect.
func (s *Server) ServeConn(uc *net.UnixConn) error {
	sess := &session{s: s, c: newConn(uc, s.opts.MaxMsgFDs), pending: map[uint16]chan reply{}, done: make(chan struct{})}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		_ = uc.Close()
		return errors.New("vfiouser: server is closed")
	case s.active != nil:
		s.mu.Unlock()
		s.log.Warn("refusing a second client", "err", errBusy)
		_ = uc.Close()
		return errBusy
	}
	s.active = sess
	s.stats.Connections++
	s.mu.Unlock()
	s.log.Info("vfio-user client connected")

	err := sess.run()
	_ = uc.Close()
	close(sess.done)
	s.disconnect(sess)
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// disconnect drops what belonged to the client: every DMA mapping (out of
// the domain's IOMMU context, then unmapped from this process) and every
// interrupt descriptor. The rest of the device state is kept, as the
// spec's "Client Disconnection" asks.
func (s *Server) disconnect(sess *session) {
	s.mu.Lock()
	s.dropAllDMA()
	s.irq.closeAll()
	if s.active == sess {
		s.active = nil
	}
	s.stats.Disconnects++
	s.stats.DMAMaps = uint64(len(s.dma.regions))
	s.mu.Unlock()
	s.log.Info("vfio-user client disconnected; its mappings and interrupts are dropped")
	if s.opts.OnDisconnect != nil {
		s.opts.OnDisconnect()
	}
}

// Close stops accepting, disconnects the client (dropping its mappings),
// and stops the interrupt goroutine. It waits for all of it.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	lns := s.lns
	sess := s.active
	s.mu.Unlock()
	for _, l := range lns {
		_ = l.Close()
	}
	if sess != nil {
		_ = sess.c.uc.Close()
	}
	s.serving.Wait()
	if sess != nil {
		<-sess.done
	}
	s.stop()
	<-s.irqDone
	return nil
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// BAR0Size is the size of the BAR that holds the device's register window.
func (s *Server) BAR0Size() uint32 { return s.bar0 }

// errnoOf maps a mediator error to the errno of the error reply.
func errnoOf(err error) syscall.Errno {
	switch {
	case errors.Is(err, mediator.ErrPrivileged):
		return syscall.EPERM
	case errors.Is(err, mediator.ErrReadOnly):
		return syscall.EACCES
	case errors.Is(err, mediator.ErrDetached):
		return syscall.ENODEV
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return syscall.EINVAL
}
