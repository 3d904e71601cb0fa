package frontend_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"

	"github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/internal/benchref"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/pvhost"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// The benchmarks put the host in a separate process (this test binary
// re-executed), as a daemon would be, and measure from this one, the guest.
// Their baselines run between the same two processes:
//
//   - sleeping: an eventfd ping-pong (write, blocking read, on both sides),
//     against a register read with polling off on both sides;
//   - polling: a shared-memory spin ping-pong, against a register read with
//     both sides polling;
//   - gRPC: the same register read as a unary gRPC call over a UNIX socket
//     (raw-bytes codec), served by the same mediator in the host process.

const helperEnv = "COPROCD_FRONTEND_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "host":
		benchHost()
	case "eventfd-echo":
		eventfdEcho()
	case "shm-echo":
		shmEcho()
	}
	os.Exit(0)
}

// benchHost serves a pvhost endpoint and a gRPC endpoint on one mediator
// with one reference GPU, prints their paths, and exits when stdin closes.
func benchHost() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "bench host:", err)
		os.Exit(1)
	}
	m, err := mediator.New(mediator.Config{Clock: clock.NewReal()})
	if err != nil {
		fail(err)
	}
	gpu, err := sim.New(sim.Config{VRAMBytes: 4 << 20})
	if err != nil {
		fail(err)
	}
	caps := gpu.Caps()
	rr, _ := scheduler.NewRoundRobin(time.Millisecond, scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible})
	dev, err := m.AddDevice("gpu0", gpu, rr)
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = dev.Run(ctx) }()
	dir, _ := os.MkdirTemp("", "pvb")
	defer os.RemoveAll(dir)
	poll, _ := time.ParseDuration(os.Getenv("PV_POLL"))
	if poll == 0 {
		poll = -1
	}
	srv, err := pvhost.New(pvhost.Config{Mediator: m, Path: filepath.Join(dir, "pv.sock"), PollWindow: poll,
		Resolve: func(pvhost.Cred) (pvhost.DomainConfig, error) {
			return pvhost.DomainConfig{Name: "bench", Devices: []pvhost.DeviceConfig{{Device: "gpu0"}}}, nil
		}})
	if err != nil {
		fail(err)
	}
	go func() { _ = srv.Serve(ctx) }()

	// gRPC: the same mediator, its own domain.
	if _, err := m.CreateDomain("grpc"); err != nil {
		fail(err)
	}
	vc, err := m.Attach("grpc", "gpu0", mediator.VCoprocConfig{})
	if err != nil {
		fail(err)
	}
	gpath := filepath.Join(dir, "grpc.sock")
	ln, err := net.Listen("unix", gpath)
	if err != nil {
		fail(err)
	}
	gs := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}))
	gs.RegisterService(&grpc.ServiceDesc{ServiceName: "coprocd.bench.VCoproc", HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Access", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			if len(in) != 13 {
				return nil, fmt.Errorf("access request of %d bytes, want 13", len(in))
			}
			v, err := vc.Access(binary.LittleEndian.Uint32(in), in[4], false, binary.LittleEndian.Uint64(in[5:]))
			if err != nil {
				return nil, err
			}
			return binary.LittleEndian.AppendUint64(nil, v), nil
		}}}}, struct{}{})
	go func() { _ = gs.Serve(ln) }()

	fmt.Printf("%s %s\n", srv.Addr(), gpath)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	gs.Stop()
	cancel()
	_ = srv.Close()
}

// rawCodec moves []byte messages as they are: no protobuf, no codegen.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "raw" }

var _ encoding.Codec = rawCodec{}

func eventfdEcho() {
	in, out := 3, 4
	var buf [8]byte
	for {
		if _, err := unix.Read(in, buf[:]); err != nil {
			return
		}
		if binary.LittleEndian.Uint64(buf[:]) > 1<<40 { // the parent's "stop"
			return
		}
		_ = pvwire.Kick(out)
	}
}

func shmEcho() {
	mem, err := unix.Mmap(3, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		os.Exit(1)
	}
	ping := (*uint64)(unsafe.Pointer(&mem[0]))
	pong := (*uint64)(unsafe.Pointer(&mem[64]))
	var last uint64
	idle := time.Now()
	for i := 0; ; i++ {
		v := atomic.LoadUint64(ping)
		if v == last {
			// Spin while the parent is pinging; between its rounds (when
			// it measures something else) back off so as not to steal a
			// core from that.
			if i&1023 == 0 && time.Since(idle) > 2*time.Millisecond {
				time.Sleep(50 * time.Microsecond)
			}
			continue
		}
		idle = time.Now()
		if v == ^uint64(0) {
			return
		}
		last = v
		atomic.StoreUint64(pong, v)
	}
}

// helper starts this binary as the named helper with extra fds; stdin is a
// pipe the helper may watch for the parent's end.
func helper(b *testing.B, name string, env []string, files ...*os.File) (*exec.Cmd, *bufio.Reader, func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+name), env...)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return cmd, bufio.NewReader(stdout), func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

// startHost runs the host helper and connects to it.
func startHost(b *testing.B, hostPoll time.Duration, opts frontend.Options) (*frontend.Conn, string, func()) {
	b.Helper()
	_, out, stop := helper(b, "host", []string{"PV_POLL=" + hostPoll.String()})
	line, err := out.ReadString('\n')
	if err != nil {
		stop()
		b.Fatalf("host helper: %v", err)
	}
	paths := strings.Fields(line)
	c, err := frontend.Dial(paths[0], opts)
	if err != nil {
		stop()
		b.Fatal(err)
	}
	return c, paths[1], func() { _ = c.Close(); stop() }
}

func regRead(b *testing.B, c *frontend.Conn) func(n int) {
	gpu := c.Devices()[0]
	ctx := context.Background()
	return func(n int) {
		for i := 0; i < n; i++ {
			v, err := gpu.ReadReg(ctx, spec.RegID, 4)
			if err != nil || v != spec.RefGPUID {
				b.Fatalf("ReadReg: %x, %v", v, err)
			}
		}
	}
}

func eventfdPingPong(b *testing.B) (func(n int), func()) {
	a, err := pvwire.NewEventfd()
	if err != nil {
		b.Fatal(err)
	}
	r, err := pvwire.NewEventfd()
	if err != nil {
		b.Fatal(err)
	}
	fa, fr := os.NewFile(uintptr(a), "ping"), os.NewFile(uintptr(r), "pong")
	_, _, stop := helper(b, "eventfd-echo", nil, fa, fr)
	var buf [8]byte
	return func(n int) {
			for i := 0; i < n; i++ {
				_ = pvwire.Kick(a)
				if _, err := unix.Read(r, buf[:]); err != nil {
					b.Fatal(err)
				}
			}
		}, func() {
			binary.LittleEndian.PutUint64(buf[:], 1<<41)
			_, _ = unix.Write(a, buf[:])
			stop()
			_ = fa.Close()
			_ = fr.Close()
		}
}

func shmPingPong(b *testing.B) (func(n int), func()) {
	fd, err := pvwire.NewMemfd("shm-pingpong", 4096)
	if err != nil {
		b.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "shm")
	mem, err := pvwire.Mmap(fd, 0, 4096)
	if err != nil {
		b.Fatal(err)
	}
	_, _, stop := helper(b, "shm-echo", nil, f)
	ping := (*uint64)(unsafe.Pointer(&mem[0]))
	pong := (*uint64)(unsafe.Pointer(&mem[64]))
	var seq uint64
	return func(n int) {
			for i := 0; i < n; i++ {
				seq++
				atomic.StoreUint64(ping, seq)
				for atomic.LoadUint64(pong) != seq {
				}
			}
		}, func() {
			atomic.StoreUint64(ping, ^uint64(0))
			stop()
			_ = unix.Munmap(mem)
			_ = f.Close()
		}
}

// BenchmarkRegisterReadSleeping: a register read through the frontend with
// no polling on either side (every round trip sleeps on an eventfd on both
// sides), against an eventfd ping-pong between two processes. Target: at
// most 1.5× the baseline.
func BenchmarkRegisterReadSleeping(b *testing.B) {
	c, _, stop := startHost(b, -1, frontend.Options{SpinWait: -1})
	defer stop()
	base, stopBase := eventfdPingPong(b)
	defer stopBase()
	benchref.Compare(b, base, regRead(b, c))
}

// BenchmarkRegisterReadPolling: both sides poll; baseline a shared-memory
// spin ping-pong between two processes. Target: at most 2× the baseline.
func BenchmarkRegisterReadPolling(b *testing.B) {
	// Both poll for 2 ms after their last work: always, while the
	// benchmark runs; not while the baseline runs.
	c, _, stop := startHost(b, 2*time.Millisecond, frontend.Options{SpinWait: 2 * time.Millisecond})
	defer stop()
	base, stopBase := shmPingPong(b)
	defer stopBase()
	benchref.Compare(b, base, regRead(b, c))
}

// BenchmarkRegisterReadVsGRPC: the frontend with its default adaptive
// notification against the same register read as a unary gRPC call over a
// UNIX socket. Target: x-baseline at most 0.2 (5× faster).
func BenchmarkRegisterReadVsGRPC(b *testing.B) {
	c, gpath, stop := startHost(b, 0, frontend.Options{})
	defer stop()
	cc, err := grpc.NewClient("unix://"+gpath, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	req := make([]byte, 13)
	binary.LittleEndian.PutUint32(req, spec.RegID)
	req[4] = 4
	ctx := context.Background()
	base := func(n int) {
		var out []byte
		for i := 0; i < n; i++ {
			if err := cc.Invoke(ctx, "/coprocd.bench.VCoproc/Access", req, &out); err != nil {
				b.Fatal(err)
			}
			if binary.LittleEndian.Uint64(out) != spec.RefGPUID {
				b.Fatalf("gRPC read 0x%x", out)
			}
		}
	}
	base(100) // connect and warm up
	benchref.Compare(b, base, regRead(b, c))
}

// BenchmarkBatchedSubmission submits batches of 256 NOPs inline and reports
// commands per second accepted (audited and queued) by the mediator
// through the frontend, with the device running them meanwhile. Target: at
// least 1 M commands/s.
func BenchmarkBatchedSubmission(b *testing.B) {
	c, _, stop := startHost(b, 0, frontend.Options{})
	defer stop()
	gpu := c.Devices()[0]
	const batch = 256
	words := make([]uint64, 0, batch)
	for i := 0; i < batch; i++ {
		words = spec.Encode(words, spec.OpNop)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var last uint64
	for i := 0; i < b.N; i++ {
		job, err := gpu.Submit(ctx, words)
		if err != nil {
			b.Fatal(err)
		}
		last = job
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "commands/s")
	if err := gpu.WaitJob(ctx, last); err != nil {
		b.Fatal(err)
	}
}
