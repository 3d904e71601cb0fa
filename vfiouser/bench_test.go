package vfiouser

import (
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/internal/benchref"
	"github.com/coprocd/coprocd/spec"
)

// BenchmarkBAR0ReadRoundTrip measures one BAR0 register read (8 bytes, CAPS)
// over the socket: the client's REGION_READ, the server's decode, the
// mediator's Access, the reply. The baseline is the floor: a raw ping-pong
// over a UNIX socket of the same sizes (32-byte request, 40-byte reply)
// with an echo server that does nothing but read and write, measured in the
// same run. The client code is the same for both.
func BenchmarkBAR0ReadRoundTrip(b *testing.B) {
	r := newTestRig(b, Options{})
	c := r.connect()
	req := regionAccess(RegionBAR0, spec.RegCaps, 8, nil)

	// The floor: an echo server on its own socket.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: r.path + ".pingpong", Net: "unix"})
	require.NoError(b, err)
	defer l.Close()
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		var in [HeaderSize + regionAccessSize]byte
		out := make([]byte, HeaderSize+regionAccessSize+8)
		for {
			if _, err := io.ReadFull(conn, in[:]); err != nil {
				return
			}
			copy(out, in[:])
			binary.LittleEndian.PutUint32(out[4:], uint32(len(out)))
			if _, err := conn.Write(out); err != nil {
				return
			}
		}
	}()
	pc := r.dial()
	pc.uc.Close()
	raw, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: r.path + ".pingpong", Net: "unix"})
	require.NoError(b, err)
	defer raw.Close()
	pc.uc, pc.br = raw, newReader(raw)

	roundTrip := func(cl *client) {
		cl.send(uint16(CmdRegionRead), FlagTypeCommand, req)
		m, err := cl.recv()
		if err != nil || len(m.payload) != regionAccessSize+8 || m.isError() {
			b.Fatalf("round trip: %v, %d bytes, error flag %v", err, len(m.payload), m.isError())
		}
	}
	benchref.Compare(b,
		func(n int) {
			for range n {
				roundTrip(pc)
			}
		},
		func(n int) {
			for range n {
				roundTrip(c)
			}
		})
}

// BenchmarkInterruptDelivery measures how long a vcoproc's interrupt takes
// to reach the client's eventfd: a FENCE job is submitted to the vcoproc
// (the device is idle, so the submission steps it inline) and the clock
// stops when the INTx eventfd is readable. The baseline, timed in the same
// iteration, is the same job up to its fence value in memory, without
// waiting for the interrupt: ns/op minus baseline-ns/op is what delivering
// the interrupt adds (added-ns/op). INTx automasks, so each iteration
// unmasks it first, outside the timing. Each submission comes after a
// millisecond of idleness, as between a VM's jobs, so that the threads
// the delivery may involve have gone to sleep (on a busy machine a
// goroutine hand-off costs a couple of microseconds; waking an idle
// thread on a VM costs tens).
func BenchmarkInterruptDelivery(b *testing.B) {
	r := newTestRig(b, Options{})
	c := r.connect()
	efd := eventfd(b)
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(IRQSetDataEventfd|IRQSetActionTrigger, IRQIndexINTx, 0, 1), efd)
	mem := c.mapPage(b, 0x10_0000)
	unmask := irqSet(IRQSetDataBool|IRQSetActionUnmask, IRQIndexINTx, 0, 1, 1)
	fence := func(v uint64) {
		if _, err := r.vc.Submit(spec.Encode(nil, spec.OpFence, 0x10_0000, v)); err != nil {
			b.Fatal(err)
		}
	}
	var trip, base time.Duration
	v := uint64(0)
	b.ResetTimer()
	for range b.N {
		// The baseline: the job, to its fence in memory.
		v++
		time.Sleep(time.Millisecond)
		t0 := time.Now()
		fence(v)
		for binary.LittleEndian.Uint64(mem) != v {
			runtime.Gosched()
		}
		base += time.Since(t0)
		if _, ok := waitEventfd(b, efd, 5*time.Second); !ok { // its interrupt, untimed
			b.Fatal("no interrupt for the baseline's fence")
		}
		c.ok(uint16(CmdDeviceSetIRQs), unmask)

		v++
		time.Sleep(time.Millisecond)
		t0 = time.Now()
		fence(v)
		if _, ok := waitEventfd(b, efd, 5*time.Second); !ok {
			b.Fatal("no interrupt")
		}
		trip += time.Since(t0)
		if binary.LittleEndian.Uint64(mem) != v {
			b.Fatalf("fence memory holds %d after the interrupt for %d", binary.LittleEndian.Uint64(mem), v)
		}
		c.ok(uint16(CmdDeviceSetIRQs), unmask)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(trip.Nanoseconds())/n, "ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/n, "baseline-ns/op")
	b.ReportMetric(float64((trip-base).Nanoseconds())/n, "added-ns/op")
}
