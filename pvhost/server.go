package pvhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/spec"
)

// Cred is a peer's identity as the kernel reports it (SO_PEERCRED).
type Cred struct {
	PID      int32
	UID, GID uint32
}

func (c Cred) String() string { return fmt.Sprintf("pid=%d uid=%d gid=%d", c.PID, c.UID, c.GID) }

// DeviceConfig is one vcoproc a session gets.
type DeviceConfig struct {
	Device  string
	VCoproc mediator.VCoprocConfig
}

// DomainConfig is what a peer's credentials resolve to.
type DomainConfig struct {
	// Name is the domain. If the mediator has no such domain, the session
	// creates it and destroys it at the end; otherwise it uses it and, at
	// the end, releases only what it attached, mapped and allocated.
	Name    string
	Devices []DeviceConfig
	// BufferQuota bounds the bytes of guest buffers mapped at once
	// (default DefaultBufferQuota); MaxBuffers their number (default
	// spec.PVDefaultMaxBuffers).
	BufferQuota uint64
	MaxBuffers  int
	// PredictivePoll has the session learn the rhythm of the guest's
	// requests and be polling when the next one is due instead of
	// sleeping until its doorbell (predict.go): lower latency per call for
	// a guest that calls at a steady rhythm, for some CPU.
	PredictivePoll bool
}

// DefaultBufferQuota is a session's default guest-buffer quota.
const DefaultBufferQuota = 256 << 20

// Resolver maps a peer's credentials to its domain; an error rejects the
// peer (the text goes into the REJECT).
type Resolver func(Cred) (DomainConfig, error)

// ByUID resolves peers by user id.
func ByUID(table map[uint32]DomainConfig) Resolver {
	return func(c Cred) (DomainConfig, error) {
		d, ok := table[c.UID]
		if !ok {
			return DomainConfig{}, fmt.Errorf("no domain is configured for uid %d", c.UID)
		}
		return d, nil
	}
}

// Config configures a Server.
type Config struct {
	// Mediator owns the domains and devices (required).
	Mediator *mediator.Mediator
	// Listener is a "unixpacket" listener; if nil, the server listens on
	// Path (removing a stale socket file first).
	Listener *net.UnixListener
	Path     string
	// Resolve identifies peers (required).
	Resolve Resolver
	Logger  *slog.Logger
	// Caps are the capabilities offered; 0 means spec.PVCapsAll.
	Caps uint64
	// PollWindow is how long a session busy-polls its request ring after
	// the last work before it sleeps on the doorbell; 0 means
	// DefaultPollWindow, negative never polls.
	PollWindow time.Duration
	// EventPoll is how often a session with jobs in flight collects their
	// events without being woken: every event, masked or not, wakes the
	// session at once through its vcoprocs' notifier, so this only bounds
	// what a lost wake-up would cost. Default 100 ms (MaxSleep): each
	// collection is a wake-up of the session's thread, and at 200 µs, an
	// old default, they cost a busy session about 14% of a CPU on a 2-core
	// VM (BenchmarkBusySessionCPU).
	EventPoll time.Duration
	// MaxPending bounds the responses a session queues while the guest's
	// response ring is full; beyond it the guest is disconnected. Default
	// 1024.
	MaxPending int
	// StallTimeout is how long the response ring may stay full with
	// responses waiting before the guest is disconnected. Default 2 s.
	StallTimeout time.Duration
	// HandshakeTimeout bounds the wait for HELLO. Default 5 s.
	HandshakeTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultPollWindow       = 50 * time.Microsecond
	DefaultEventPoll        = MaxSleep
	DefaultMaxPending       = 1024
	DefaultStallTimeout     = 2 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
)

// Server is the host endpoint: it accepts guests on a UNIX socket and
// serves each as a session of its domain's vcoprocs.
type Server struct {
	cfg Config
	log *slog.Logger
	ln  *net.UnixListener

	lostDoorbells atomic.Uint64

	mu       sync.Mutex
	sessions map[string]*session // by domain
	closed   bool
	wg       sync.WaitGroup
}

// New validates cfg and listens.
func New(cfg Config) (*Server, error) {
	if cfg.Mediator == nil || cfg.Resolve == nil {
		return nil, errors.New("pvhost: Config needs a Mediator and a Resolve function")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Caps == 0 {
		cfg.Caps = spec.PVCapsAll
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.PollWindow, DefaultPollWindow)
	def(&cfg.EventPoll, DefaultEventPoll)
	def(&cfg.StallTimeout, DefaultStallTimeout)
	def(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxPending < 0 || cfg.EventPoll < 0 || cfg.StallTimeout < 0 || cfg.HandshakeTimeout < 0 {
		return nil, errors.New("pvhost: negative limits in Config")
	}
	ln := cfg.Listener
	if ln == nil {
		if cfg.Path == "" {
			return nil, errors.New("pvhost: Config needs a Listener or a Path")
		}
		var err error
		ln, err = Listen(cfg.Path)
		if err != nil {
			return nil, err
		}
	}
	return &Server{cfg: cfg, log: cfg.Logger, ln: ln, sessions: map[string]*session{}}, nil
}

// Listen opens a SOCK_SEQPACKET listener at path.
func Listen(path string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("pvhost: listen on %s: %w", path, err)
	}
	return ln, nil
}

// Addr is the socket's path.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve accepts guests until ctx ends or Close is called, then ends every
// session (cleaning each up) and returns.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			s.endAll()
			s.wg.Wait()
			if closed {
				return nil
			}
			return fmt.Errorf("pvhost: accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
}

// Close stops accepting; Serve then ends the sessions and returns.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return s.ln.Close()
}

func (s *Server) endAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if !ss.ready {
			continue // it sees s.closed when its handshake ends
		}
		ss.end(spec.PVStatusShutdown, "the host is shutting down")
	}
}

// SessionInfo describes a live session.
type SessionInfo struct {
	Domain      string
	Peer        Cred
	Devices     []string
	Buffers     int
	BufferBytes uint64
	// PredictedSleeps counts timed sleeps until shortly before a predicted
	// request (DomainConfig.PredictivePoll), PredictedHits the requests
	// that then came while the session polled for them.
	PredictedSleeps, PredictedHits uint64
}

// Sessions lists the live sessions by domain.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		if ss.ready {
			list = append(list, ss)
		}
	}
	s.mu.Unlock()
	out := make([]SessionInfo, 0, len(list))
	for _, ss := range list {
		info := SessionInfo{Domain: ss.cfg.Name, Peer: ss.cred}
		for _, d := range ss.cfg.Devices {
			info.Devices = append(info.Devices, d.Device)
		}
		ss.bufMu.RLock()
		info.Buffers, info.BufferBytes = len(ss.bufs), ss.bufBytes
		ss.bufMu.RUnlock()
		info.PredictedSleeps, info.PredictedHits = ss.predict.timedSleeps.Load(), ss.predict.hits.Load()
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Domain < out[j].Domain })
	return out
}

// claim reserves the domain for one session.
func (s *Server) claim(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("the host is shutting down")
	}
	if other, busy := s.sessions[ss.cfg.Name]; busy {
		return fmt.Errorf("domain %q already has a session (peer %v)", ss.cfg.Name, other.cred)
	}
	s.sessions[ss.cfg.Name] = ss
	return nil
}

func (s *Server) release(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ss.cfg.Name] == ss {
		delete(s.sessions, ss.cfg.Name)
	}
}
