package vfiouser

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/scheduler"
)

// This file is a vfio-user client written from the spec
// (docs/interop/vfio-user.rst), independent of the server's encoders: it
// builds every message byte by byte with encoding/binary.

// testRig is a mediator with the reference GPU driven by Device.Run on the
// real clock, one domain with a vcoproc, and a vfio-user server for it
// listening on a UNIX socket.
type testRig struct {
	t    testing.TB
	m    *mediator.Mediator
	dev  *mediator.Device
	dom  *mediator.Domain
	vc   *mediator.VCoproc
	srv  *Server
	path string

	mu           sync.Mutex
	disconnects  int
	disconnected chan struct{}
	resets       int
	events       []mediator.Event
}

func newTestRig(t testing.TB, opts Options) *testRig {
	t.Helper()
	m, err := mediator.New(mediator.Config{Clock: clock.NewReal()})
	require.NoError(t, err)
	gpu, err := sim.New(sim.Config{VRAMBytes: 4 << 20, VRAMGranule: 64 << 10})
	require.NoError(t, err)
	caps := gpu.Caps()
	rr, err := scheduler.NewRoundRobin(time.Millisecond, scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible})
	require.NoError(t, err)
	dev, err := m.AddDevice("gpu0", gpu, rr)
	require.NoError(t, err)
	dom, err := m.CreateDomain("vm")
	require.NoError(t, err)
	vc, err := m.Attach("vm", "gpu0", mediator.VCoprocConfig{MemoryQuota: 1 << 20})
	require.NoError(t, err)

	r := &testRig{t: t, m: m, dev: dev, dom: dom, vc: vc, disconnected: make(chan struct{}, 16)}
	opts.OnDisconnect = func() {
		r.mu.Lock()
		r.disconnects++
		r.mu.Unlock()
		select {
		case r.disconnected <- struct{}{}:
		default: // nobody waits (the fuzz target disconnects every run)
		}
	}
	if opts.OnReset == nil {
		opts.OnReset = func() error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.resets++
			return nil
		}
	}
	opts.OnEvents = func(evs []mediator.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, evs...)
	}
	srv, err := NewServer(Target{Domain: dom, VCoproc: vc, Spec: dev.Spec()}, opts)
	require.NoError(t, err)
	r.srv = srv

	// Socket paths are limited to 108 bytes; t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "vfu")
	require.NoError(t, err)
	r.path = filepath.Join(dir, "gpu0.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: r.path, Net: "unix"})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = dev.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := srv.Serve(l); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		cancel()
		wg.Wait()
		_ = os.RemoveAll(dir)
	})
	return r
}

// client is the test's vfio-user client.
type client struct {
	t  testing.TB
	uc *net.UnixConn
	br *bufio.Reader
	id uint16
	// guest memory the client serves DMA_READ/DMA_WRITE from, by address.
	dmaMem map[uint64][]byte
	wbuf   []byte
}

func (r *testRig) dial() *client {
	r.t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: r.path, Net: "unix"})
	require.NoError(r.t, err)
	cl := &client{t: r.t, uc: c, br: newReader(c), dmaMem: map[uint64][]byte{}}
	r.t.Cleanup(func() { _ = c.Close() })
	return cl
}

// connect dials and negotiates the version.
func (r *testRig) connect() *client {
	c := r.dial()
	c.negotiate(`{"capabilities":{"max_msg_fds":8,"max_data_xfer_size":1048576}}`)
	return c
}

type msg struct {
	id, cmd uint16
	flags   uint32
	errno   uint32
	payload []byte
}

func (m msg) isError() bool { return m.flags&FlagError != 0 }

// send writes one message, with fds as SCM_RIGHTS on its first byte.
func (c *client) send(cmd uint16, flags uint32, payload []byte, fds ...int) uint16 {
	c.t.Helper()
	c.id++
	b := c.wbuf[:0]
	b = binary.LittleEndian.AppendUint16(b, c.id)
	b = binary.LittleEndian.AppendUint16(b, cmd)
	b = binary.LittleEndian.AppendUint32(b, uint32(16+len(payload)))
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, payload...)
	c.wbuf = b
	c.sendRaw(b, fds...)
	return c.id
}

func (c *client) sendRaw(b []byte, fds ...int) {
	c.t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, oobn, err := c.uc.WriteMsgUnix(b, oob, nil)
	require.NoError(c.t, err)
	require.Equal(c.t, len(b), n)
	require.Equal(c.t, len(oob), oobn)
}

// recv reads the next message.
func (c *client) recv() (msg, error) {
	var h [16]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return msg{}, err
	}
	m := msg{id: binary.LittleEndian.Uint16(h[0:]), cmd: binary.LittleEndian.Uint16(h[2:]),
		flags: binary.LittleEndian.Uint32(h[8:]), errno: binary.LittleEndian.Uint32(h[12:])}
	size := binary.LittleEndian.Uint32(h[4:])
	if size < 16 || size > 1<<24 {
		return m, errors.New("bad size from server")
	}
	m.payload = make([]byte, size-16)
	_, err := io.ReadFull(c.br, m.payload)
	return m, err
}

// call sends a command and returns its reply, serving any DMA_READ or
// DMA_WRITE the server sends meanwhile.
func (c *client) call(cmd uint16, payload []byte, fds ...int) msg {
	c.t.Helper()
	id := c.send(cmd, FlagTypeCommand, payload, fds...)
	for {
		m, err := c.recv()
		require.NoError(c.t, err, "waiting for the reply to command %d", cmd)
		if m.flags&FlagTypeMask == FlagTypeCommand {
			c.serve(m)
			continue
		}
		require.Equal(c.t, id, m.id, "reply id")
		require.Equal(c.t, cmd, m.cmd, "reply command")
		require.Equal(c.t, uint32(FlagTypeReply), m.flags&FlagTypeMask, "reply type")
		return m
	}
}

// ok calls and requires success.
func (c *client) ok(cmd uint16, payload []byte, fds ...int) []byte {
	c.t.Helper()
	m := c.call(cmd, payload, fds...)
	require.False(c.t, m.isError(), "command %d failed: %v", cmd, syscall.Errno(m.errno))
	return m.payload
}

// fails calls and returns the errno of the error reply, which must carry
// only the header.
func (c *client) fails(cmd uint16, payload []byte, fds ...int) syscall.Errno {
	c.t.Helper()
	m := c.call(cmd, payload, fds...)
	require.True(c.t, m.isError(), "command %d should have failed", cmd)
	require.Empty(c.t, m.payload, "an error reply is the header alone")
	return syscall.Errno(m.errno)
}

// serveOne waits for one server-to-client command and answers it.
func (c *client) serveOne() {
	c.t.Helper()
	m, err := c.recv()
	require.NoError(c.t, err)
	require.Equal(c.t, uint32(FlagTypeCommand), m.flags&FlagTypeMask)
	c.serve(m)
}

func (c *client) serve(m msg) {
	c.t.Helper()
	addr, count := binary.LittleEndian.Uint64(m.payload), binary.LittleEndian.Uint64(m.payload[8:])
	var mem []byte
	for base, b := range c.dmaMem {
		if addr >= base && addr+count <= base+uint64(len(b)) {
			mem = b[addr-base : addr-base+count]
		}
	}
	var reply []byte
	reply = binary.LittleEndian.AppendUint64(reply, addr)
	flags, errno := uint32(FlagTypeReply), uint32(0)
	switch {
	case mem == nil:
		flags, errno, reply = flags|FlagError, uint32(syscall.EFAULT), nil
	case m.cmd == uint16(CmdDMARead):
		reply = binary.LittleEndian.AppendUint64(reply, count)
		reply = append(reply, mem...)
	case m.cmd == uint16(CmdDMAWrite):
		copy(mem, m.payload[16:])
		reply = binary.LittleEndian.AppendUint64(reply, count)
	}
	b := binary.LittleEndian.AppendUint16(nil, m.id)
	b = binary.LittleEndian.AppendUint16(b, m.cmd)
	b = binary.LittleEndian.AppendUint32(b, uint32(16+len(reply)))
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint32(b, errno)
	c.sendRaw(append(b, reply...))
}

func (c *client) negotiate(caps string) (major, minor uint16, reply map[string]any) {
	c.t.Helper()
	p := binary.LittleEndian.AppendUint16(nil, 0)
	p = binary.LittleEndian.AppendUint16(p, 0)
	p = append(append(p, caps...), 0)
	r := c.ok(uint16(CmdVersion), p)
	require.GreaterOrEqual(c.t, len(r), 5)
	require.Equal(c.t, byte(0), r[len(r)-1], "version data is NUL-terminated")
	require.NoError(c.t, json.Unmarshal(r[4:len(r)-1], &reply))
	return binary.LittleEndian.Uint16(r), binary.LittleEndian.Uint16(r[2:]), reply
}

// Payload builders, from the spec's tables.

func u32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func regionAccess(region uint32, offset uint64, count uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, offset)
	b = binary.LittleEndian.AppendUint32(b, region)
	b = binary.LittleEndian.AppendUint32(b, count)
	return append(b, data...)
}

func dmaMapPayload(flags uint32, offset, addr, size uint64) []byte {
	b := u32s(32, flags)
	b = binary.LittleEndian.AppendUint64(b, offset)
	b = binary.LittleEndian.AppendUint64(b, addr)
	return binary.LittleEndian.AppendUint64(b, size)
}

func dmaUnmapPayload(flags uint32, addr, size uint64) []byte {
	b := u32s(24, flags)
	b = binary.LittleEndian.AppendUint64(b, addr)
	return binary.LittleEndian.AppendUint64(b, size)
}

func irqSet(flags, index, start, count uint32, data ...byte) []byte {
	return append(u32s(uint32(20+len(data)), flags, index, start, count), data...)
}

// read reads count bytes of a region.
func (c *client) read(region uint32, offset uint64, count uint32) []byte {
	c.t.Helper()
	r := c.ok(uint16(CmdRegionRead), regionAccess(region, offset, count, nil))
	require.Len(c.t, r, 16+int(count))
	require.Equal(c.t, offset, binary.LittleEndian.Uint64(r))
	require.Equal(c.t, region, binary.LittleEndian.Uint32(r[8:]))
	require.Equal(c.t, count, binary.LittleEndian.Uint32(r[12:]))
	return r[16:]
}

func (c *client) readReg(offset uint64, size uint32) uint64 {
	c.t.Helper()
	var b [8]byte
	copy(b[:], c.read(RegionBAR0, offset, size))
	return binary.LittleEndian.Uint64(b[:])
}

func (c *client) write(region uint32, offset uint64, data []byte) {
	c.t.Helper()
	r := c.ok(uint16(CmdRegionWrite), regionAccess(region, offset, uint32(len(data)), data))
	require.Equal(c.t, regionAccess(region, offset, uint32(len(data)), nil), r, "a write reply echoes offset, region and count")
}

func (c *client) writeReg(offset uint64, size int, v uint64) {
	c.t.Helper()
	b := binary.LittleEndian.AppendUint64(nil, v)
	c.write(RegionBAR0, offset, b[:size])
}

func (c *client) cfg16(off uint64) uint16 {
	return binary.LittleEndian.Uint16(c.read(RegionConfig, off, 2))
}

func (c *client) cfg32(off uint64) uint32 {
	return binary.LittleEndian.Uint32(c.read(RegionConfig, off, 4))
}

// memfd returns a memfd of size bytes and its shared mapping in the test.
// mapPage DMA-maps a fresh memfd page, readable and writable, at iova and
// returns the client's view of it.
func (c *client) mapPage(t testing.TB, iova uint64) []byte {
	t.Helper()
	fd, mem := memfd(t, PageSize)
	c.ok(uint16(CmdDMAMap), dmaMapPayload(DMAFlagRead|DMAFlagWrite, 0, iova, PageSize), fd)
	return mem
}

func memfd(t testing.TB, size int) (int, []byte) {
	t.Helper()
	fd, err := unix.MemfdCreate("guest-ram", unix.MFD_CLOEXEC)
	require.NoError(t, err)
	require.NoError(t, unix.Ftruncate(fd, int64(size)))
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Munmap(mem); _ = unix.Close(fd) })
	return fd, mem
}

func eventfd(t testing.TB) int {
	t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

// waitEventfd waits up to d for fd to be signalled and returns its count.
func waitEventfd(t testing.TB, fd int, d time.Duration) (uint64, bool) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(d/time.Millisecond))
	if errors.Is(err, unix.EINTR) {
		n, err = unix.Poll(fds, int(d/time.Millisecond))
	}
	require.NoError(t, err)
	if n == 0 {
		return 0, false
	}
	var b [8]byte
	_, err = unix.Read(fd, b[:])
	require.NoError(t, err)
	return binary.LittleEndian.Uint64(b[:]), true
}

// openFDs counts this process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

func newReader(c *net.UnixConn) *bufio.Reader { return bufio.NewReaderSize(c, 1<<16) }
