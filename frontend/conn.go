package frontend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/internal/monotonic"
	"github.com/coprocd/coprocd/internal/waitplan"
	"github.com/coprocd/coprocd/spec"
)

// Options configure a connection. The zero value is usable.
type Options struct {
	// Caps are the capabilities asked for; 0 asks for spec.PVCapsAll.
	Caps uint64
	// RequestSlots and ResponseSlots size the rings (powers of two from
	// spec.PVMinRingSlots to spec.PVMaxRingSlots); 0 lets the host choose.
	RequestSlots, ResponseSlots uint32
	// SpinWait is about how long a waiting call polls the response ring
	// before it sleeps on the interrupt eventfd (the poll reads the clock
	// only every 1024 loads of the ring's index, so it may run a
	// microsecond or two over); 0 means DefaultSpinWait, negative never
	// polls.
	SpinWait time.Duration
	// HybridWait lets a kind of wait whose length has been steady sleep
	// until shortly before its answer is due and poll the rest, and one
	// due within a few hundred microseconds poll through (hybridwait.go).
	// It hides the wake-up of a sleeping thread at the end of a long call,
	// for the price of a CPU polling about a timed sleep's lateness per
	// call: for guests with a CPU to spare. Ignored when SpinWait is
	// negative.
	HybridWait bool
	// EventQueue bounds the events kept for Events and NextEvent; the
	// oldest are dropped (and counted) beyond it. Default 4096.
	EventQueue int
	// HandshakeTimeout bounds the handshake. Default 10 s.
	HandshakeTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultSpinWait         = 20 * time.Microsecond
	DefaultEventQueue       = 4096
	DefaultHandshakeTimeout = 10 * time.Second
)

// ErrClosed is returned by calls on a closed connection.
var ErrClosed = errors.New("frontend: connection closed")

// RejectError is the host's refusal of a session, or its GOODBYE.
type RejectError struct {
	Goodbye bool
	Status  uint32
	Text    string
}

func (e *RejectError) Error() string {
	what := "host refused the session"
	if e.Goodbye {
		what = "host ended the session"
	}
	return fmt.Sprintf("frontend: %s (%s): %s", what, spec.PVStatusNames[e.Status], e.Text)
}

// Error is a request the host answered with an error.
type Error struct {
	Op     string
	Status uint32
	Text   string // the host's message, the mediator's text for its errors
}

func (e *Error) Error() string {
	return fmt.Sprintf("frontend: %s: %s: %s", e.Op, spec.PVStatusNames[e.Status], e.Text)
}

// Conn is a guest's session with coprocd: one domain's vcoprocs. It is
// safe for concurrent use; calls from several goroutines share the rings.
type Conn struct {
	opts    Options
	sock    *net.UnixConn
	welcome pvwire.Welcome
	devices []*Device

	lostWakeups atomic.Uint64
	lostReports []LostWakeup // under mu

	mem            []byte
	req            *pvwire.Producer
	rsp            *pvwire.Consumer
	doorbell, intr int
	sleeper        *pvwire.Sleeper // sleeps on intr through the runtime's poller

	mu        sync.Mutex
	calls     sync.WaitGroup // calls inside the rings; Close waits for them
	err       error          // set once: the session is over
	nextTag   uint64
	waiting   map[uint64]bool
	results   map[uint64]pvwire.Response
	receiving bool
	followers int
	changed   chan struct{}
	events    []Event
	dropped   uint64

	// Under mu: how long each kind of wait has taken, and how late timed
	// sleeps wake (hybridwait.go).
	waitTimes map[waitKind]*waitplan.Estimate
	sleepLate waitplan.Estimate
	staleKick bool // a kick may be counted on intr that no sleep is owed
	hybrid    HybridWaitStats

	sockMu    sync.Mutex // one MAP or UNMAP at a time
	sockReply chan pvwire.Sock
	readerEnd chan struct{}

	bufMu    sync.Mutex
	buffers  map[*Buffer]bool
	nextIOVA uint64
}

// Dial connects to the host endpoint at path.
func Dial(path string, opts Options) (*Conn, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("frontend: dial %s: %w", path, err)
	}
	conn, err := NewConn(c, opts)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return conn, nil
}

// NewConn runs the handshake on a connected SOCK_SEQPACKET socket.
func NewConn(sock *net.UnixConn, opts Options) (*Conn, error) {
	if opts.Caps == 0 {
		opts.Caps = spec.PVCapsAll
	}
	if opts.SpinWait == 0 {
		opts.SpinWait = DefaultSpinWait
	}
	if opts.EventQueue <= 0 {
		opts.EventQueue = DefaultEventQueue
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	hello, err := pvwire.EncodeSock(&pvwire.Sock{Type: spec.PVHello, Hello: pvwire.Hello{Major: spec.PVVersionMajor, Minor: spec.PVVersionMinor,
		Caps: opts.Caps, ReqSlots: opts.RequestSlots, RspSlots: opts.ResponseSlots}})
	if err != nil {
		return nil, err
	}
	_ = sock.SetDeadline(time.Now().Add(opts.HandshakeTimeout))
	werr := pvwire.WritePacket(sock, hello)
	buf := make([]byte, spec.PVMaxSocketMessage)
	n, fds, err := pvwire.ReadPacket(sock, buf)
	if err != nil {
		if werr != nil {
			err = werr
		}
		return nil, fmt.Errorf("frontend: handshake: %w", err)
	}
	c, err := accept(sock, buf[:n], fds, opts)
	if err != nil {
		pvwire.CloseFDs(fds)
		return nil, err
	}
	_ = sock.SetDeadline(time.Time{})
	go c.readSocket()
	return c, nil
}

func accept(sock *net.UnixConn, pkt []byte, fds []int, opts Options) (*Conn, error) {
	m, err := pvwire.DecodeSock(pkt)
	if err != nil {
		return nil, fmt.Errorf("frontend: handshake: %w", err)
	}
	switch m.Type {
	case spec.PVReject, spec.PVGoodbye:
		return nil, &RejectError{Status: m.Status, Text: m.Text}
	case spec.PVWelcome:
	default:
		return nil, fmt.Errorf("frontend: handshake: host sent type 0x%02x, want WELCOME", uint8(m.Type))
	}
	w := m.Welcome
	if w.Major != spec.PVVersionMajor || len(fds) != 3 || len(w.Devices) == 0 {
		return nil, fmt.Errorf("frontend: handshake: WELCOME for version %d.%d with %d fds and %d devices, want version %d, 3 fds, devices",
			w.Major, w.Minor, len(fds), len(w.Devices), spec.PVVersionMajor)
	}
	mem, err := pvwire.Mmap(fds[0], 0, w.Layout.Bytes)
	if err != nil {
		return nil, fmt.Errorf("frontend: mapping the rings: %w", err)
	}
	if err := pvwire.CheckControl(mem, w.Layout); err != nil {
		_ = unix.Munmap(mem)
		return nil, err
	}
	sleeper, err := pvwire.NewSleeper(fds[2])
	if err != nil {
		_ = unix.Munmap(mem)
		return nil, fmt.Errorf("frontend: %w", err) // the caller closes fds
	}
	_ = unix.Close(fds[0])
	c := &Conn{opts: opts, sock: sock, welcome: w, mem: mem, doorbell: fds[1], intr: fds[2], sleeper: sleeper,
		req: pvwire.RequestProducer(mem, w.Layout), rsp: pvwire.ResponseConsumer(mem, w.Layout),
		nextTag: 1, waiting: map[uint64]bool{}, waitTimes: map[waitKind]*waitplan.Estimate{}, results: map[uint64]pvwire.Response{}, changed: make(chan struct{}),
		sockReply: make(chan pvwire.Sock, 1), readerEnd: make(chan struct{}), buffers: map[*Buffer]bool{}, nextIOVA: firstIOVA}
	for i, d := range w.Devices {
		c.devices = append(c.devices, &Device{c: c, index: uint16(i), info: d, failed: map[uint64]string{}})
	}
	return c, nil
}

// Domain is the domain the host identified this process as.
func (c *Conn) Domain() string { return c.welcome.Domain }

// Version is the negotiated protocol version.
func (c *Conn) Version() (major, minor uint16) { return c.welcome.Major, c.welcome.Minor }

// Caps are the negotiated capabilities.
func (c *Conn) Caps() uint64 { return c.welcome.Caps }

// Devices are the session's vcoprocs, in the host's order.
func (c *Conn) Devices() []*Device { return c.devices }

// Device returns the named device.
func (c *Conn) Device(name string) (*Device, error) {
	for _, d := range c.devices {
		if d.info.Name == name {
			return d, nil
		}
	}
	return nil, fmt.Errorf("frontend: domain %q has no device %q", c.welcome.Domain, name)
}

// BufferQuota is how many bytes of buffers the session may map, and in how
// many buffers.
func (c *Conn) BufferQuota() (bytes uint64, buffers int) {
	return c.welcome.BufferQuota, int(c.welcome.MaxBuffers)
}

// readSocket is the only reader of the socket after the handshake: it
// passes MAP and UNMAP answers on, and turns GOODBYE or the socket's end
// into the end of the session.
func (c *Conn) readSocket() {
	defer close(c.readerEnd)
	buf := make([]byte, spec.PVMaxSocketMessage)
	for {
		n, fds, err := pvwire.ReadPacket(c.sock, buf)
		pvwire.CloseFDs(fds)
		if err != nil {
			c.fail(fmt.Errorf("frontend: the host closed the session: %w", err))
			return
		}
		m, err := pvwire.DecodeSock(buf[:n])
		if err != nil {
			c.fail(fmt.Errorf("frontend: host sent a bad packet: %w", err))
			return
		}
		switch m.Type {
		case spec.PVGoodbye:
			c.fail(&RejectError{Goodbye: true, Status: m.Status, Text: m.Text})
			return
		case spec.PVSockResult:
			select {
			case c.sockReply <- m:
			default: // an answer nobody waits for
			}
		}
	}
}

// fail ends the session with err (the first error wins) and wakes every
// waiter.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failLocked(err)
}

func (c *Conn) failLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	_ = pvwire.Kick(c.intr) // wake a receiver sleeping on the eventfd
	c.broadcast()
}

func (c *Conn) broadcast() {
	if c.followers > 0 {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// enter admits a call; the caller holds c.mu.
func (c *Conn) enter() error {
	if c.err != nil {
		return c.err
	}
	c.calls.Add(1)
	return nil
}

// send puts one request into the ring and kicks the host if it sleeps,
// waiting for room when the ring is full. The caller holds c.mu.
func (c *Conn) send(ctx context.Context, r *pvwire.Request, words []uint64) error {
	for {
		err := c.req.PutRequest(r, words)
		if err == nil {
			if c.req.Publish() {
				return pvwire.Kick(c.doorbell)
			}
			return nil
		}
		if !errors.Is(err, pvwire.ErrRingFull) {
			c.failLocked(err)
			return err
		}
		k := pvwire.SlotsFor(8 + 8*len(words))
		if err := c.wait(ctx, waitKind{}, func() bool {
			room, err := c.req.WantSpace(k)
			return room || err != nil
		}); err != nil {
			return err
		}
	}
}

// call sends a request and waits for its RESULT.
func (c *Conn) call(ctx context.Context, op string, r *pvwire.Request, words []uint64) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter(); err != nil {
		return 0, err
	}
	defer c.calls.Done()
	tag := c.nextTag
	c.nextTag++
	r.Tag = tag
	c.waiting[tag] = true
	if err := c.send(ctx, r, words); err != nil {
		delete(c.waiting, tag)
		return 0, err
	}
	err := c.wait(ctx, waitKind{op, r.Dev}, func() bool { _, ok := c.results[tag]; return ok })
	res, ok := c.results[tag]
	delete(c.results, tag)
	if !ok {
		c.waiting[tag] = false // abandoned: pump drops its result
		return 0, err
	}
	delete(c.waiting, tag)
	if res.Status != spec.PVStatusOK {
		return 0, &Error{Op: op, Status: res.Status, Text: res.Text}
	}
	return res.Value, nil
}

// pollProbes is how many loads of the response ring's producer index a
// polling receiver makes between two looks at the clock.
const pollProbes = 1024

// yieldLooks is how many looks at the clock a polling receiver makes
// between two yields of its P when the process has more than one (with
// one, it yields at every look: the host may be a goroutine of this
// process, waiting for that P). A yield wakes an idle thread, a system
// call: at every look (about a microsecond) it was paid about once per
// polling round trip, for goroutines that other Ps run anyway.
const yieldLooks = 16

// wait blocks until done() holds. The caller holds c.mu; wait releases it
// while it sleeps. One waiter at a time is the receiver: it polls the
// response ring, then sleeps on the interrupt eventfd, as planWait plans
// for a wait of its kind (waitKind{} never learns: poll SpinWait, sleep);
// the others wait for it to say that something changed.
func (c *Conn) wait(ctx context.Context, kind waitKind, done func() bool) error {
	plan, learn := c.planWait(kind)
	// poll: this waiter may still poll; pollUntil: when it stops, on the
	// monotonic clock (0: set at its first look at the clock). A poll looks
	// at the clock only every pollProbes probes, so an answer that comes
	// within them (the common case of a polling round trip) costs no
	// clock read at all unless the wait is learned (HybridWait); the poll
	// then overruns by at most that many probes. timedSleep: the plan's
	// timed sleep is still to come.
	poll, pollUntil, start := plan.Spin > 0, time.Duration(0), time.Duration(0)
	if learn != nil {
		start = monotonic.Now()
		pollUntil = start + plan.Spin
	}
	timedSleep := plan.Wake > 0
	for first := true; ; first = false {
		if err := c.pump(); err != nil {
			return err
		}
		if done() {
			if learn != nil && !first { // done at once: no wait to learn from
				learn.Add(monotonic.Now() - start)
			}
			return nil
		}
		if c.err != nil {
			return c.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.receiving {
			ch := c.changed
			c.followers++
			c.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
			}
			c.mu.Lock()
			c.followers--
			continue
		}
		c.receiving = true
		if poll {
			pos := c.rsp.Position()
			c.mu.Unlock()
			// Look at the clock only every pollProbes probes: a probe is
			// one load, a clock read costs tens of them.
			for i := 1; !c.rsp.Moved(pos); i++ {
				if i%pollProbes == 0 {
					now := monotonic.Now()
					if pollUntil == 0 {
						pollUntil = now + c.opts.SpinWait
					}
					if now >= pollUntil || ctx.Err() != nil {
						poll = false
						break
					}
					if i%(pollProbes*yieldLooks) == 0 || runtime.GOMAXPROCS(0) == 1 {
						runtime.Gosched()
					}
				}
			}
			c.mu.Lock()
			c.receiving = false
			c.broadcast()
			continue
		}
		if c.staleKick {
			// A timed sleep ran its time armed, and the receiver polled on:
			// the host's kick for what it then published is still counted
			// on the eventfd and would end the next sleep at once. Drain it
			// before arming: Arm looks at the ring after, so nothing
			// published before the drain goes unseen.
			c.staleKick = false
			c.sleeper.Drain()
		}
		if c.rsp.Arm() {
			// Responses arrived while arming: this goroutine pumps them on
			// its next turn, but it is no longer the receiver, so the
			// followers must be woken to elect another one should it
			// return with its own answer (otherwise they sleep forever).
			c.receiving = false
			c.broadcast()
			continue
		}
		// Only the receiver arms, so the event index stays at armed while
		// it sleeps, even if other callers pump meanwhile: the host owes a
		// kick for any response published past it.
		armed := c.rsp.Position()
		// The sleep is bounded: a notification lost anywhere between the
		// two sides then costs at most MaxSleep, never a hang. The plan's
		// timed sleep ends sooner, shortly before the answer is due.
		sleep, timed, sleptAt := MaxSleep, false, time.Duration(0)
		if timedSleep {
			timedSleep = false
			sleptAt = monotonic.Now()
			left := start + plan.Wake - sleptAt
			if left < waitplan.MinTimedSleep {
				// Polled past the time to sleep: poll on.
				c.receiving = false
				poll, pollUntil = true, start+plan.Tail
				continue
			}
			sleep, timed = left, true
			c.hybrid.TimedSleeps++
		}
		c.mu.Unlock()
		var stop func() bool
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, func() { _ = pvwire.Kick(c.intr) })
		}
		kicked, err := c.sleeper.Wait(sleep)
		if stop != nil {
			stop()
		}
		c.mu.Lock()
		switch {
		case timed && !kicked && err == nil:
			// The timed sleep ran its time: learn how late it woke, and
			// poll for the answer now due.
			c.sleepLate.Add(max(0, monotonic.Now()-sleptAt-sleep))
			c.staleKick = true
			poll, pollUntil = true, start+plan.Tail
		case timed:
			c.hybrid.Early++
			poll, pollUntil = c.opts.SpinWait > 0, 0
		default:
			// A timed-out sleep that finds responses past its event index
			// is checked and counted (LostWakeups) so that such a loss is
			// seen, not hidden.
			if !kicked && err == nil && c.rsp.Moved(armed) {
				c.checkTimedOutSleep(armed, MaxSleep)
			}
			poll, pollUntil = c.opts.SpinWait > 0, 0 // poll again after a wake-up
		}
		c.receiving = false
		c.broadcast()
		if err != nil {
			c.failLocked(fmt.Errorf("frontend: waiting on the interrupt eventfd: %w", err))
		}
	}
}

// planWait plans a wait of kind and returns the estimate its length is
// to be added to, nil when waits of that kind are not learned. The caller
// holds c.mu.
func (c *Conn) planWait(kind waitKind) (waitplan.Plan, *waitplan.Estimate) {
	if kind == (waitKind{}) || !c.opts.HybridWait || c.opts.SpinWait < 0 {
		return waitplan.Plan{Spin: max(c.opts.SpinWait, 0)}, nil
	}
	est := c.waitTimes[kind]
	if est == nil {
		est = new(waitplan.Estimate)
		c.waitTimes[kind] = est
	}
	return waitplan.Make(c.opts.SpinWait, *est, c.sleepLate, true), est
}

// pump consumes every response in the ring. The caller holds c.mu.
func (c *Conn) pump() error {
	if c.err != nil {
		return c.err
	}
	progress := false
	for {
		msg, err := c.rsp.Next()
		if err != nil {
			c.failLocked(fmt.Errorf("frontend: %w", err))
			return c.err
		}
		if msg == nil {
			break
		}
		progress = true
		r, err := pvwire.DecodeResponse(msg)
		if err != nil {
			c.failLocked(fmt.Errorf("frontend: host sent a bad response: %w", err))
			return c.err
		}
		if r.Type == spec.PVResult {
			if c.waiting[r.Tag] {
				c.results[r.Tag] = r
			} else {
				delete(c.waiting, r.Tag)
			}
			continue
		}
		c.deliver(r)
	}
	if c.rsp.Publish() {
		if err := pvwire.Kick(c.doorbell); err != nil {
			c.failLocked(err)
		}
	}
	if progress {
		c.broadcast()
	}
	return nil
}

// Close ends the session: it says GOODBYE, closes the socket (the host
// then releases everything the session held), and unmaps the rings and
// buffers once no call is using them.
func (c *Conn) Close() error {
	c.mu.Lock()
	already := c.err != nil
	c.failLocked(ErrClosed)
	c.mu.Unlock()
	if !already {
		if b, err := pvwire.EncodeSock(&pvwire.Sock{Type: spec.PVGoodbye, Text: "closed by the guest"}); err == nil {
			_ = pvwire.WritePacket(c.sock, b)
		}
	}
	err := c.sock.Close()
	<-c.readerEnd
	c.calls.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem == nil {
		return nil
	}
	c.bufMu.Lock()
	for b := range c.buffers {
		b.unmapLocal()
	}
	c.buffers = nil
	c.bufMu.Unlock()
	_ = unix.Munmap(c.mem)
	c.mem = nil
	_ = unix.Close(c.doorbell)
	_ = unix.Close(c.intr)
	if already {
		return nil
	}
	return err
}

// Err is why the session ended, nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(c.err, ErrClosed) {
		return nil
	}
	return c.err
}

// Ping makes one round trip through the rings.
func (c *Conn) Ping(ctx context.Context) error {
	_, err := c.call(ctx, "PING", &pvwire.Request{Type: spec.PVPing}, nil)
	return err
}
