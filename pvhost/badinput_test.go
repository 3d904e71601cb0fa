package pvhost_test

import (
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/pvhost"
	"github.com/coprocd/coprocd/pvhost/pvtest"
	"github.com/coprocd/coprocd/spec"
)

// rawGuest speaks the protocol by hand, so it can break it.
type rawGuest struct {
	t              *testing.T
	sock           *net.UnixConn
	w              pvwire.Welcome
	mem            []byte
	req            *pvwire.Producer
	rsp            *pvwire.Consumer
	doorbell, intr int
	tag            uint64
}

func rawDial(t *testing.T, h *pvtest.Host, hello []byte) (*rawGuest, pvwire.Sock) {
	t.Helper()
	sock, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: h.Path, Net: "unixpacket"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sock.Close() })
	require.NoError(t, pvwire.WritePacket(sock, hello))
	require.NoError(t, sock.SetDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, spec.PVMaxSocketMessage)
	n, fds, err := pvwire.ReadPacket(sock, buf)
	require.NoError(t, err)
	m, err := pvwire.DecodeSock(buf[:n])
	require.NoError(t, err)
	g := &rawGuest{t: t, sock: sock}
	if m.Type != spec.PVWelcome {
		pvwire.CloseFDs(fds)
		return g, m
	}
	require.Len(t, fds, 3)
	g.w = m.Welcome
	g.mem, err = pvwire.Mmap(fds[0], 0, g.w.Layout.Bytes)
	require.NoError(t, err)
	_ = unix.Close(fds[0])
	g.doorbell, g.intr = fds[1], fds[2]
	g.req = pvwire.RequestProducer(g.mem, g.w.Layout)
	g.rsp = pvwire.ResponseConsumer(g.mem, g.w.Layout)
	t.Cleanup(func() {
		_ = unix.Munmap(g.mem)
		pvwire.CloseFDs([]int{g.doorbell, g.intr})
	})
	return g, m
}

func hello(major uint16) []byte {
	b, _ := pvwire.EncodeSock(&pvwire.Sock{Type: spec.PVHello, Hello: pvwire.Hello{Major: major, Minor: 0, Caps: spec.PVCapsAll}})
	return b
}

func welcomed(t *testing.T, h *pvtest.Host) *rawGuest {
	t.Helper()
	g, m := rawDial(t, h, hello(spec.PVVersionMajor))
	require.Equal(t, spec.PVWelcome, m.Type, "%+v", m)
	return g
}

// send puts one request and kicks.
func (g *rawGuest) send(r pvwire.Request, words ...uint64) uint64 {
	g.tag++
	r.Tag = g.tag
	require.NoError(g.t, g.req.PutRequest(&r, words))
	g.req.Publish()
	require.NoError(g.t, pvwire.Kick(g.doorbell))
	return g.tag
}

// result waits for the RESULT of tag, skipping events.
func (g *rawGuest) result(tag uint64) pvwire.Response {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		msg, err := g.rsp.Next()
		require.NoError(g.t, err)
		if msg == nil {
			g.rsp.Publish()
			if !g.rsp.Arm() {
				_, err := pvwire.Wait(g.intr, 100*time.Millisecond)
				require.NoError(g.t, err)
			}
			continue
		}
		r, err := pvwire.DecodeResponse(msg)
		require.NoError(g.t, err)
		if r.Type == spec.PVResult && r.Tag == tag {
			g.rsp.Publish()
			return r
		}
	}
	g.t.Fatalf("no RESULT for tag %d", tag)
	return pvwire.Response{}
}

// goodbye waits for the host's GOODBYE and then the socket's end.
func (g *rawGuest) goodbye() pvwire.Sock {
	require.NoError(g.t, g.sock.SetDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, spec.PVMaxSocketMessage)
	n, fds, err := pvwire.ReadPacket(g.sock, buf)
	require.NoError(g.t, err, "want a GOODBYE")
	pvwire.CloseFDs(fds)
	m, err := pvwire.DecodeSock(buf[:n])
	require.NoError(g.t, err)
	require.Equal(g.t, spec.PVGoodbye, m.Type, "%+v", m)
	_, _, err = pvwire.ReadPacket(g.sock, buf)
	assert.Error(g.t, err, "the host must close after GOODBYE")
	return m
}

func ctlWord(mem []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

func TestHandshakeRejections(t *testing.T) {
	h := pvtest.NewHost(t, pvtest.Options{})

	// Nobody is configured for this process yet.
	_, m := rawDial(t, h, hello(spec.PVVersionMajor))
	assert.Equal(t, spec.PVReject, m.Type)
	assert.Equal(t, uint32(spec.PVStatusNoDomain), m.Status)
	assert.Contains(t, m.Text, "credentials match no domain")
	assert.Regexp(t, `pid=\d+ uid=\d+ gid=\d+`, m.Text)
	_, err := frontend.Dial(h.Path, frontend.Options{})
	var rej *frontend.RejectError
	require.ErrorAs(t, err, &rej)
	assert.Equal(t, uint32(spec.PVStatusNoDomain), rej.Status)

	h.SetSelf(pvtest.Domain("d", "gpu0", 0))
	_, m = rawDial(t, h, hello(2))
	assert.Equal(t, uint32(spec.PVStatusVersion), m.Status)
	assert.Contains(t, m.Text, "the guest speaks protocol 2.0, the host speaks 1.0")

	bad := hello(1)
	bad[spec.PVSockHeaderBytes] ^= 0xff // magic
	_, m = rawDial(t, h, bad)
	assert.Equal(t, uint32(spec.PVStatusMalformed), m.Status)
	assert.Contains(t, m.Text, "magic")

	notHello, _ := pvwire.EncodeSock(&pvwire.Sock{Type: spec.PVUnmap, IOVA: 1})
	_, m = rawDial(t, h, notHello)
	assert.Equal(t, uint32(spec.PVStatusMalformed), m.Status)
	assert.Contains(t, m.Text, "the first message must be HELLO")

	badSlots, _ := pvwire.EncodeSock(&pvwire.Sock{Type: spec.PVHello, Hello: pvwire.Hello{Major: 1, ReqSlots: 100}})
	_, m = rawDial(t, h, badSlots)
	assert.Equal(t, uint32(spec.PVStatusMalformed), m.Status)
	assert.Contains(t, m.Text, "power of two")

	// One session per domain.
	first := welcomed(t, h)
	_, m = rawDial(t, h, hello(1))
	assert.Equal(t, uint32(spec.PVStatusBusy), m.Status)
	assert.Contains(t, m.Text, `domain "d" already has a session`)
	// Unknown capability bits are masked off.
	assert.Equal(t, spec.PVCapsAll, first.w.Caps)
	assert.Equal(t, "d", first.w.Domain)
	require.Len(t, first.w.Devices, 1)
	assert.Equal(t, uint32(spec.RefGPUID), first.w.Devices[0].ID)
	assert.Equal(t, "coprocd-refgpu", first.w.Devices[0].Model)
}

func TestBadRequestsAreAnsweredAndTheSessionGoesOn(t *testing.T) {
	h := pvtest.NewHost(t, pvtest.Options{})
	h.SetSelf(pvtest.Domain("d", "gpu0", 0))
	g := welcomed(t, h)

	// A payload that does not match its type's layout.
	g.tag++
	b, err := g.req.Put(spec.PVRegRead, g.tag, 4)
	require.NoError(t, err)
	clear(b)
	g.req.Publish()
	require.NoError(t, pvwire.Kick(g.doorbell))
	r := g.result(g.tag)
	assert.Equal(t, uint32(spec.PVStatusMalformed), r.Status)
	assert.Contains(t, r.Text, "REG_READ message: payload of 4 bytes, want 8")

	// An unknown type.
	g.tag++
	_, err = g.req.Put(0x7f, g.tag, 0)
	require.NoError(t, err)
	g.req.Publish()
	require.NoError(t, pvwire.Kick(g.doorbell))
	r = g.result(g.tag)
	assert.Equal(t, uint32(spec.PVStatusUnsupported), r.Status)
	assert.Contains(t, r.Text, "unknown request type 0x7f")

	cases := []struct {
		name   string
		req    pvwire.Request
		words  []uint64
		status uint32
		text   string
	}{
		{"bad device", pvwire.Request{Type: spec.PVRegRead, Dev: 3, Size: 4}, nil, spec.PVStatusNoDevice, "device index 3: the session has 1 devices"},
		{"bad size", pvwire.Request{Type: spec.PVRegRead, Size: 3}, nil, spec.PVStatusMalformed, "access size 3"},
		{"privileged register", pvwire.Request{Type: spec.PVRegWrite, Offset: spec.RegPTBase, Size: 8, Value: 1}, nil, spec.PVStatusAccess,
			`vcoproc "d/gpu0": write to 0x0108 (PT_BASE): privileged register, access denied`},
		{"read-only register", pvwire.Request{Type: spec.PVRegWrite, Offset: spec.RegID, Size: 4, Value: 1}, nil, spec.PVStatusAccess, "read-only register"},
		{"no register", pvwire.Request{Type: spec.PVRegRead, Offset: 0xF00, Size: 4}, nil, spec.PVStatusAccess, "no register there"},
		{"privileged command", pvwire.Request{Type: spec.PVSubmit}, spec.Encode(nil, spec.OpSetPTBase, 0), spec.PVStatusRefused, "privileged command, denied to guests"},
		{"outside the domain", pvwire.Request{Type: spec.PVSubmit}, spec.Encode(nil, spec.OpFill, 0x9000_0000, 16, 1), spec.PVStatusRefused, "outside the domain's I/O address space"},
		{"descriptor outside buffers", pvwire.Request{Type: spec.PVSubmitIndirect, IOVA: 0x5000_0000, Count: 4}, nil, spec.PVStatusDescriptor, "lies outside every mapped buffer"},
		{"devmem over quota", pvwire.Request{Type: spec.PVAllocDevMem, IOVA: 0x4000_0000, Bytes: 1 << 20, Perm: 3}, nil, spec.PVStatusDeviceMem, "quota"},
		{"free of nothing", pvwire.Request{Type: spec.PVFreeDevMem, IOVA: 0x4000_0000}, nil, spec.PVStatusDeviceMem, "no device memory mapped at 0x40000000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := g.result(g.send(c.req, c.words...))
			assert.Equal(t, c.status, r.Status, "%s: %s", spec.PVStatusNames[r.Status], r.Text)
			assert.Contains(t, r.Text, c.text)
		})
	}
	// Still served.
	r = g.result(g.send(pvwire.Request{Type: spec.PVRegRead, Offset: spec.RegID, Size: 4}))
	assert.Equal(t, uint32(spec.PVStatusOK), r.Status)
	assert.Equal(t, uint64(spec.RefGPUID), r.Value)
}

func TestBuffersRefusedWithReasons(t *testing.T) {
	h := pvtest.NewHost(t, pvtest.Options{})
	d := pvtest.Domain("d", "gpu0", 0)
	d.BufferQuota = 64 << 10
	d.MaxBuffers = 2
	h.SetSelf(d)
	c := connect(t, h, frontend.Options{})
	ctx := context.Background()

	_, err := c.Alloc(ctx, 128<<10, spec.PVPermReadWrite)
	var fe *frontend.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, uint32(spec.PVStatusQuota), fe.Status)
	assert.Contains(t, fe.Text, "over the session's buffer quota (0 of 65536 bytes mapped)")

	a, err := c.Alloc(ctx, 4096, spec.PVPermReadWrite)
	require.NoError(t, err)
	_, err = c.AllocAt(ctx, a.IOVA, 4096, spec.PVPermRead)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, uint32(spec.PVStatusBadBuffer), fe.Status)
	assert.Contains(t, fe.Text, "mapped rw already")
	_, err = c.AllocAt(ctx, 0x2000_0123, 4096, spec.PVPermRead)
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, fe.Text, "not aligned")
	_, err = c.Alloc(ctx, 4096, spec.PVPermRead)
	require.NoError(t, err)
	_, err = c.Alloc(ctx, 4096, spec.PVPermRead)
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, fe.Text, "the session has 2 buffers mapped, its limit")
	require.NoError(t, a.Release(ctx))
	err = a.Release(ctx)
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, fe.Text, "no buffer is mapped there")
}

// TestUnsealedAndMissingFDs sends MAPs a well-behaved frontend never sends.
func TestUnsealedAndMissingFDs(t *testing.T) {
	h := pvtest.NewHost(t, pvtest.Options{})
	h.SetSelf(pvtest.Domain("d", "gpu0", 0))
	g := welcomed(t, h)
	mapMsg := func(fds ...int) pvwire.Sock {
		b, err := pvwire.EncodeSock(&pvwire.Sock{Type: spec.PVMap, Tag: 7, Map: pvwire.MapRequest{IOVA: 0x100000, Size: 4096, Perm: 3}})
		require.NoError(t, err)
		require.NoError(t, pvwire.WritePacket(g.sock, b, fds...))
		buf := make([]byte, spec.PVMaxSocketMessage)
		n, _, err := pvwire.ReadPacket(g.sock, buf)
		require.NoError(t, err)
		m, err := pvwire.DecodeSock(buf[:n])
		require.NoError(t, err)
		return m
	}
	m := mapMsg()
	assert.Equal(t, uint32(spec.PVStatusBadBuffer), m.Status)
	assert.Contains(t, m.Text, "carries 0 file descriptors, want 1")

	fd, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	require.NoError(t, err)
	defer unix.Close(fd)
	require.NoError(t, unix.Ftruncate(fd, 4096))
	m = mapMsg(fd)
	assert.Contains(t, m.Text, "not sealed with F_SEAL_SHRINK")

	_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK)
	require.NoError(t, err)
	m = mapMsg(fd)
	assert.Equal(t, uint32(spec.PVStatusOK), m.Status, m.Text)

	pipe := make([]int, 2)
	require.NoError(t, unix.Pipe2(pipe, unix.O_CLOEXEC))
	defer pvwire.CloseFDs(pipe)
	m = mapMsg(pipe[0])
	assert.Contains(t, m.Text, "not a sealable memfd")
}

func TestRingViolationsEndTheSession(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(g *rawGuest)
		want   string
	}{
		{"index jumps", func(g *rawGuest) { atomic.StoreUint32(ctlWord(g.mem, spec.PVCtlReqProd), 1000) }, "producer index 1000 is 1000 slots past the consumer"},
		{"index goes backwards", func(g *rawGuest) {
			g.result(g.send(pvwire.Request{Type: spec.PVPing}))
			g.result(g.send(pvwire.Request{Type: spec.PVPing}))
			atomic.StoreUint32(ctlWord(g.mem, spec.PVCtlReqProd), 1)
		}, "producer index went backwards from 2 to 1"},
		{"message claims too many slots", func(g *rawGuest) {
			slot := g.mem[g.w.Layout.ReqOffset:]
			slot[spec.PVRHType] = byte(spec.PVPing)
			binary.LittleEndian.PutUint16(slot[spec.PVRHSlots:], 5)
			atomic.StoreUint32(ctlWord(g.mem, spec.PVCtlReqProd), 2)
		}, "claims 5 slots; 2 are published"},
		{"type zero", func(g *rawGuest) { atomic.StoreUint32(ctlWord(g.mem, spec.PVCtlReqProd), 1) }, "holds message type 0"},
		{"response consumer index impossible", func(g *rawGuest) {
			// The host looks at the guest's consumer index when the
			// response ring seems full: fill it.
			atomic.StoreUint32(ctlWord(g.mem, spec.PVCtlRspCons), 5000)
			for i, tries := 0, 0; i < int(g.w.Layout.RspSlots)+8 && tries < 5000; tries++ {
				g.tag++
				if g.req.PutRequest(&pvwire.Request{Type: spec.PVPing, Tag: g.tag}, nil) != nil {
					time.Sleep(time.Millisecond) // the request ring is full: let the host catch up
					continue
				}
				i++
				g.req.Publish()
				_ = pvwire.Kick(g.doorbell)
			}
		}, "consumer index 5000 is impossible"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := pvtest.NewHost(t, pvtest.Options{})
			h.SetSelf(pvtest.Domain("bad", "gpu0", 0), pvtest.Domain("good", "gpu0", 0))
			g := welcomed(t, h)
			good := connect(t, h, frontend.Options{})
			c.break_(g)
			_ = pvwire.Kick(g.doorbell)
			m := g.goodbye()
			assert.Equal(t, uint32(spec.PVStatusProtocol), m.Status)
			assert.Contains(t, m.Text, c.want)
			require.NoError(t, pvtest.WaitFor(5*time.Second, func() bool { return len(h.Server.Sessions()) == 1 }))
			_, ok := h.M.Domain("bad")
			assert.False(t, ok, "the broken session's domain remains")
			// The other session is untouched.
			v, err := good.Devices()[0].ReadReg(context.Background(), spec.RegID, 4)
			require.NoError(t, err)
			assert.Equal(t, uint64(spec.RefGPUID), v)
			assert.Equal(t, "good", h.Server.Sessions()[0].Domain)
		})
	}
}

// TestStalledGuestIsDisconnected fills the request ring and never consumes
// a response: the host must neither block nor queue without bound.
func TestStalledGuestIsDisconnected(t *testing.T) {
	h := pvtest.NewHost(t, pvtest.Options{Server: func(c *pvhost.Config) { c.StallTimeout = 200 * time.Millisecond; c.MaxPending = 8 }})
	h.SetSelf(pvtest.Domain("stall", "gpu0", 0), pvtest.Domain("good", "gpu0", 0))
	g := welcomed(t, h)
	good := connect(t, h, frontend.Options{})
	sent := 0
	for {
		g.tag++
		err := g.req.PutRequest(&pvwire.Request{Type: spec.PVPing, Tag: g.tag}, nil)
		if err == pvwire.ErrRingFull {
			g.req.Publish()
			_ = pvwire.Kick(g.doorbell)
			room, werr := g.req.WantSpace(1)
			require.NoError(t, werr)
			if !room {
				if ok, _ := pvwire.Wait(g.intr, 300*time.Millisecond); !ok {
					break // the host stopped consuming: the ring is full on purpose
				}
			}
			continue
		}
		require.NoError(t, err)
		sent++
		require.Less(t, sent, 100000, "the host kept consuming requests although nobody read the responses")
	}
	assert.Greater(t, sent, int(g.w.Layout.RspSlots), "the response ring must have filled")
	m := g.goodbye()
	assert.Equal(t, uint32(spec.PVStatusStalled), m.Status)
	assert.Contains(t, m.Text, "the guest stopped consuming responses")
	v, err := good.Devices()[0].ReadReg(context.Background(), spec.RegID, 4)
	require.NoError(t, err)
	assert.Equal(t, uint64(spec.RefGPUID), v)
}
