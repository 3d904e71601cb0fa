package pvhost

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/internal/monotonic"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// BenchmarkPolledReadSoftware weighs the software of a polled register
// read's way through a session, apart from the cache-line transfers that
// dominate it between two CPUs: one goroutine plays both sides over real
// rings (a mapped memfd), so everything stays in its cache. Per op the
// guest's side puts a REG_READ and publishes it, the session runs one
// round (the request decoded, the mediator's emulated access, the RESULT
// put, both indexes published) and the guest takes the answer and
// publishes its consumption.
//
// The baseline, in the same run, is the wire alone: the same messages
// through the same rings, the host's side a bare echo (Next, PutResult,
// Publish). ns/op minus baseline-ns/op is what the session and the
// mediator add to a polled round trip. This is the share that a many-core
// machine, where a transfer costs ~100 ns rather than this VM's ~500,
// makes count: BenchmarkRegisterReadPolling (package frontend) measures
// the whole, transfers and the guest's Conn included.
func BenchmarkPolledReadSoftware(b *testing.B) {
	ss, guestReq, guestRsp := softwareBenchSession(b)
	read := pvwire.Request{Type: spec.PVRegRead, Dev: 0, Size: 4, Offset: spec.RegID}
	answer := func() {
		msg, err := guestRsp.Next()
		if err != nil || msg == nil {
			b.Fatalf("no answer: %v", err)
		}
		r, err := pvwire.DecodeResponse(msg)
		if err != nil || r.Status != spec.PVStatusOK || r.Value != spec.RefGPUID || r.Tag != read.Tag {
			b.Fatalf("answer %+v, %v; want tag %d, value %#x", r, err, read.Tag, spec.RefGPUID)
		}
		guestRsp.Publish()
	}
	ask := func() {
		read.Tag++
		if err := guestReq.PutRequest(&read, nil); err != nil {
			b.Fatal(err)
		}
		guestReq.Publish()
	}
	session := func(n int) {
		for range n {
			ask()
			if progress, err := ss.round(); err != nil || !progress {
				b.Fatalf("round: progress %v, %v", progress, err)
			}
			answer()
		}
	}
	wire := func(n int) {
		for range n {
			ask()
			msg, err := ss.req.Next()
			if err != nil || msg == nil {
				b.Fatalf("no request: %v", err)
			}
			r, err := pvwire.DecodeRequest(msg)
			if err != nil {
				b.Fatal(err)
			}
			if err := ss.rsp.PutResult(r.Tag, spec.PVStatusOK, spec.RefGPUID, ""); err != nil {
				b.Fatal(err)
			}
			ss.req.Publish()
			ss.rsp.Publish()
			answer()
		}
	}
	session(100)
	wire(100)
	var st, wt float64
	b.ReportAllocs()
	b.ResetTimer()
	// Interleaved in chunks, so that a burst of noise falls on both.
	const chunk = 1000
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		t0 := monotonic.Now()
		wire(n)
		t1 := monotonic.Now()
		session(n)
		t2 := monotonic.Now()
		wt += float64(t1 - t0)
		st += float64(t2 - t1)
	}
	b.StopTimer()
	b.ReportMetric(st/float64(b.N), "ns/op")
	b.ReportMetric(wt/float64(b.N), "baseline-ns/op")
	b.ReportMetric((st-wt)/float64(b.N), "added-ns/op")
	b.ReportMetric(st/wt, "x-baseline")
}

// softwareBenchSession builds a session over fresh rings, bound to one
// vcoproc of a reference GPU, without a socket or a serve loop, and the
// guest's two ring ends.
func softwareBenchSession(b *testing.B) (*session, *pvwire.Producer, *pvwire.Consumer) {
	m, err := mediator.New(mediator.Config{Clock: clock.NewReal()})
	require.NoError(b, err)
	gpu, err := sim.New(sim.Config{VRAMBytes: 1 << 20})
	require.NoError(b, err)
	rr, err := scheduler.NewRoundRobin(1e6, scheduler.Costs{})
	require.NoError(b, err)
	_, err = m.AddDevice("gpu0", gpu, rr)
	require.NoError(b, err)
	_, err = m.CreateDomain("bench")
	require.NoError(b, err)
	vc, err := m.Attach("bench", "gpu0", mediator.VCoprocConfig{})
	require.NoError(b, err)
	srv, err := New(Config{Mediator: m, Path: b.TempDir() + "/pv.sock",
		Resolve: func(Cred) (DomainConfig, error) { return DomainConfig{}, nil }})
	require.NoError(b, err)
	b.Cleanup(func() { _ = srv.Close() })

	layout, err := pvwire.NewLayout(64, 64)
	require.NoError(b, err)
	fd, err := pvwire.NewMemfd("bench-rings", layout.Bytes)
	require.NoError(b, err)
	b.Cleanup(func() { _ = unix.Close(fd) })
	mem, err := pvwire.Mmap(fd, 0, layout.Bytes)
	require.NoError(b, err)
	b.Cleanup(func() { _ = unix.Munmap(mem) })
	pvwire.InitControl(mem, layout)
	intr, err := pvwire.NewEventfd()
	require.NoError(b, err)
	b.Cleanup(func() { _ = unix.Close(intr) })

	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	ss := &session{s: srv, ctx: ctx, cancel: cancel, vcs: []*mediator.VCoproc{vc}, attached: []bool{false},
		mem: mem, layout: layout, doorbell: -1, intr: intr,
		req: pvwire.RequestConsumer(mem, layout), rsp: pvwire.ResponseProducer(mem, layout),
		bufs: map[uint64]*buffer{}, devmem: map[devmemKey]bool{}, lastDrain: monotonic.Now()}
	return ss, pvwire.RequestProducer(mem, layout), pvwire.ResponseConsumer(mem, layout)
}
