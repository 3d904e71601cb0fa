package frontend_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/pvhost"
	"github.com/coprocd/coprocd/pvhost/pvtest"
	"github.com/coprocd/coprocd/spec"
)

// notifyMode is how the two sides wait: polling first or sleeping at once.
type notifyMode struct {
	name      string
	guestSpin time.Duration // frontend.Options.SpinWait
	hostPoll  time.Duration // pvhost.Config.PollWindow
	// predicted: the guest waits hybrid (Options.HybridWait) and the host
	// polls predictively (DomainConfig.PredictivePoll): timed sleeps that
	// stay armed, and the stale kicks they leave, on both sides.
	predicted bool
}

var notifyModes = []notifyMode{
	{"both-sleep", -1, -1, false},
	{"guest-polls", 5 * time.Microsecond, -1, false},
	{"host-polls", -1, 20 * time.Microsecond, false},
	{"both-poll", 0, 0, false}, // the defaults
	{"both-predict", 0, 0, true},
}

// TestNoLostWakeups drives one connection with many concurrent callers of
// tiny operations, on rings small enough to fill (so that both sides also
// wait for room), with every combination of polling and sleeping and with
// one, two and four Ps. Bounded sleeps hide a lost notification from the
// callers (it costs milliseconds), so the test looks at the counters that
// see one: a sleep on either eventfd that timed out although the peer had
// published past the sleeper's event index and no kick came. Either
// counter above zero fails the test, with the state of the rings and
// eventfds when the loss was found.
func TestNoLostWakeups(t *testing.T) {
	callers, calls := 24, 60
	if testing.Short() {
		calls = 20
	}
	for _, procs := range []int{1, 2, 4} {
		for _, mode := range notifyModes {
			t.Run(fmt.Sprintf("%s/procs=%d", mode.name, procs), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				stressNotifications(t, mode, callers, calls)
			})
		}
	}
}

func stressNotifications(t *testing.T, mode notifyMode, callers, calls int) {
	hostLog := &testutil.SyncBuffer{}
	h := pvtest.NewHost(t, pvtest.Options{Server: func(cfg *pvhost.Config) {
		cfg.PollWindow = mode.hostPoll
		cfg.Logger = slog.New(slog.NewTextHandler(hostLog, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}})
	d := pvtest.Domain("stress", "gpu0", 1<<20)
	d.PredictivePoll = mode.predicted
	h.SetSelf(d)
	// 16-slot rings: 24 callers overfill the request ring, and answers
	// with error text (several slots each) overfill the response ring.
	c, err := frontend.Dial(h.Path, frontend.Options{SpinWait: mode.guestSpin, HybridWait: mode.predicted, RequestSlots: 16, ResponseSlots: 16})
	require.NoError(t, err)
	defer func() { assert.NoError(t, c.Close()) }()
	gpu := c.Devices()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	nops := spec.Encode(nil, spec.OpNop)
	for len(nops) < 12 {
		nops = spec.Encode(nops, spec.OpNop)
	}
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- stressCaller(ctx, c, gpu, g, calls, nops)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	if n := c.LostWakeups(); n > 0 {
		for _, l := range c.LostWakeupReports() {
			t.Logf("guest: %v", l)
		}
		t.Errorf("the guest lost %d interrupts (%d callers × %d calls)", n, callers, calls)
	}
	if n := h.Server.LostDoorbells(); n > 0 {
		t.Errorf("the host lost %d doorbells (%d callers × %d calls); its log:\n%s", n, callers, calls, hostLog)
	}
}

// stressCaller makes calls of five kinds, one message each way: a ping, a
// register read and write (one slot), an inline submission of a dozen
// words (two request slots), and a refused write whose answer carries the
// mediator's text (several response slots).
func stressCaller(ctx context.Context, c *frontend.Conn, gpu *frontend.Device, g, calls int, nops []uint64) error {
	user := uint32(spec.RegUser0 + 8*(g%8))
	for i := 0; i < calls; i++ {
		var err error
		switch (g + i) % 5 {
		case 0:
			err = c.Ping(ctx)
		case 1:
			var v uint64
			if v, err = gpu.ReadReg(ctx, spec.RegID, 4); err == nil && v != spec.RefGPUID {
				err = fmt.Errorf("ID register read 0x%x, want 0x%x", v, spec.RefGPUID)
			}
		case 2:
			err = gpu.WriteReg(ctx, user, 8, uint64(g<<20|i))
		case 3:
			_, err = gpu.Submit(ctx, nops)
		case 4:
			err = gpu.WriteReg(ctx, spec.RegPTBase, 8, 1)
			var fe *frontend.Error
			if errors.As(err, &fe) && fe.Status == spec.PVStatusAccess {
				err = nil
			} else {
				err = fmt.Errorf("write to PT_BASE: got %v, want an ACCESS error", err)
			}
		}
		if err != nil {
			return fmt.Errorf("caller %d, call %d: %w", g, i, err)
		}
	}
	return nil
}

// deafHost is a hand-made host end that answers every request and never
// kicks the interrupt eventfd, whatever the guest's event index says: it
// breaks the event-index rule on purpose. It returns when the guest says
// GOODBYE or closes its socket.
func deafHost(sock *net.UnixConn) error {
	buf := make([]byte, spec.PVMaxSocketMessage)
	n, fds, err := pvwire.ReadPacket(sock, buf)
	pvwire.CloseFDs(fds)
	if err != nil {
		return fmt.Errorf("waiting for HELLO: %w", err)
	}
	m, err := pvwire.DecodeSock(buf[:n])
	if err != nil || m.Type != spec.PVHello {
		return fmt.Errorf("want HELLO, got type 0x%02x (%v)", uint8(m.Type), err)
	}
	l, err := pvwire.NewLayout(16, 16)
	if err != nil {
		return err
	}
	ring, err := pvwire.NewMemfd("deaf-host", l.Bytes)
	if err != nil {
		return err
	}
	defer unix.Close(ring)
	mem, err := pvwire.Mmap(ring, 0, l.Bytes)
	if err != nil {
		return err
	}
	defer unix.Munmap(mem)
	pvwire.InitControl(mem, l)
	doorbell, err := pvwire.NewEventfd()
	if err != nil {
		return err
	}
	defer unix.Close(doorbell)
	intr, err := pvwire.NewEventfd()
	if err != nil {
		return err
	}
	defer unix.Close(intr)
	w, err := pvwire.EncodeSock(&pvwire.Sock{Type: spec.PVWelcome, Tag: m.Tag, Welcome: pvwire.Welcome{
		Major: spec.PVVersionMajor, Minor: spec.PVVersionMinor, Caps: m.Hello.Caps, Layout: l, Domain: "deaf",
		Devices: []pvwire.DeviceInfo{{Name: "gpu0", Model: "none", Class: "gpu", Window: 4096}}}})
	if err != nil {
		return err
	}
	if err := pvwire.WritePacket(sock, w, ring, doorbell, intr); err != nil {
		return err
	}

	req, rsp := pvwire.RequestConsumer(mem, l), pvwire.ResponseProducer(mem, l)
	for {
		msg, err := req.Next()
		if err != nil {
			return err
		}
		if msg == nil {
			req.Publish()
			if req.Arm() {
				continue
			}
			kicked, err := pvwire.Wait(doorbell, 10*time.Millisecond)
			if err != nil {
				return err
			}
			if !kicked {
				// Between requests: end with the guest's socket (its
				// GOODBYE or its close).
				_ = sock.SetReadDeadline(time.Now().Add(time.Millisecond))
				_, _, err := pvwire.ReadPacket(sock, buf)
				if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
					return nil
				}
				_ = sock.SetReadDeadline(time.Time{})
			}
			continue
		}
		r, err := pvwire.DecodeRequest(msg)
		if err != nil {
			return err
		}
		// Answer once the guest sleeps: it has armed at the answer's
		// index, and a little later it is in its sleep (an answer
		// published before that would be seen by its look after
		// arming, and not owed a kick).
		published := pvwire.ReadIndexes(mem).RspProd
		deadline := time.Now().Add(5 * time.Second)
		for pvwire.ReadIndexes(mem).RspProdEvent != published && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		time.Sleep(5 * time.Millisecond)
		if err := rsp.PutResult(r.Tag, spec.PVStatusOK, 0, ""); err != nil {
			return err
		}
		rsp.Publish() // and no kick, though it says so
	}
}

// TestLostInterruptIsCountedAndDescribed: against a host that never kicks,
// a sleeping guest's calls still complete (each sleep is bounded), and
// every interrupt the host owed is counted with the rings' state: the
// detector TestNoLostWakeups relies on does see a loss.
func TestLostInterruptIsCountedAndDescribed(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	conns := make([]*net.UnixConn, 2)
	for i, fd := range pair {
		f := os.NewFile(uintptr(fd), "pv-socketpair")
		fc, err := net.FileConn(f)
		_ = f.Close()
		require.NoError(t, err)
		conns[i] = fc.(*net.UnixConn)
		defer conns[i].Close()
	}
	hostDone := make(chan error, 1)
	go func() { hostDone <- deafHost(conns[1]) }()
	c, err := frontend.NewConn(conns[0], frontend.Options{SpinWait: -1})
	require.NoError(t, err)
	require.NoError(t, c.Ping(context.Background()), "the bounded sleep recovers the answer")
	require.NoError(t, c.Ping(context.Background()))
	assert.Equal(t, uint64(2), c.LostWakeups())
	reports := c.LostWakeupReports()
	require.Len(t, reports, 2)
	l := reports[0]
	assert.Equal(t, uint32(0), l.Armed, "the receiver armed at its consumer index")
	assert.Equal(t, frontend.MaxSleep, l.Slept)
	assert.Equal(t, uint32(1), l.Rings.RspProd, "the host published past the event index")
	assert.Equal(t, uint32(0), l.Rings.RspProdEvent)
	assert.Equal(t, "0", l.Interrupt, "and did not kick")
	assert.Contains(t, l.String(), "armed at response index 0 and was not kicked; request ring prod 1 cons 1")
	assert.Equal(t, uint32(1), reports[1].Armed)
	require.NoError(t, c.Close())
	assert.NoError(t, <-hostDone, "the deaf host")
}
