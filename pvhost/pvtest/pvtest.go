// Package pvtest is a test rig for the paravirtual path: a mediator with
// reference GPUs stepped against the real clock, a pvhost.Server on a
// fresh socket, a resolver that tests fill in, and helpers to run guests as
// separate processes (re-executing the test binary). The pvhost and
// frontend tests and benchmarks share it.
package pvtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/pvhost"
	"github.com/coprocd/coprocd/scheduler"
)

// Host is a running host endpoint over reference GPUs.
type Host struct {
	M      *mediator.Mediator
	Server *pvhost.Server
	Path   string
	GPUs   map[string]*sim.GPU
	mu     sync.Mutex
	byPID  map[int32]pvhost.DomainConfig
	self   []pvhost.DomainConfig // for connections from this process (goroutine guests)
	cancel context.CancelFunc
	done   chan error
}

// Options adjust the rig.
type Options struct {
	Devices  []string // default ["gpu0"]
	VRAM     uint64   // per GPU; default 4 MiB
	Slice    time.Duration
	Watchdog time.Duration
	Server   func(*pvhost.Config)
}

// NewHost starts a host; it stops when the test ends.
func NewHost(t testing.TB, opts Options) *Host {
	t.Helper()
	if len(opts.Devices) == 0 {
		opts.Devices = []string{"gpu0"}
	}
	if opts.VRAM == 0 {
		opts.VRAM = 4 << 20
	}
	if opts.Slice == 0 {
		opts.Slice = 200 * time.Microsecond
	}
	m, err := mediator.New(mediator.Config{Clock: clock.NewReal(), WatchdogLimit: opts.Watchdog})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{M: m, GPUs: map[string]*sim.GPU{}, byPID: map[int32]pvhost.DomainConfig{}, cancel: cancel, done: make(chan error, 1)}
	var runners sync.WaitGroup
	for _, name := range opts.Devices {
		gpu, err := sim.New(sim.Config{Name: name, VRAMBytes: opts.VRAM, VRAMGranule: 64 << 10})
		require.NoError(t, err)
		caps := gpu.Caps()
		rr, err := scheduler.NewRoundRobin(opts.Slice, scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible})
		require.NoError(t, err)
		dev, err := m.AddDevice(name, gpu, rr)
		require.NoError(t, err)
		h.GPUs[name] = gpu
		runners.Add(1)
		go func() {
			defer runners.Done()
			_ = dev.Run(ctx)
		}()
	}
	dir, err := os.MkdirTemp("", "pv")
	require.NoError(t, err)
	h.Path = filepath.Join(dir, "pv.sock")
	cfg := pvhost.Config{Mediator: m, Path: h.Path, Resolve: h.resolve}
	if opts.Server != nil {
		opts.Server(&cfg)
	}
	h.Server, err = pvhost.New(cfg)
	require.NoError(t, err)
	go func() { h.done <- h.Server.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("pvtest: Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("pvtest: Serve did not return 10 s after its context ended")
		}
		runners.Wait()
		_ = os.RemoveAll(dir)
	})
	return h
}

func (h *Host) resolve(c pvhost.Cred) (pvhost.DomainConfig, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.byPID[c.PID]; ok {
		return d, nil
	}
	if len(h.self) > 0 && c.PID == int32(os.Getpid()) {
		d := h.self[0]
		if len(h.self) > 1 {
			h.self = h.self[1:]
		}
		return d, nil
	}
	return pvhost.DomainConfig{}, fmt.Errorf("pid %d is not a known guest", c.PID)
}

// Domain is a one-device domain configuration with a device-memory quota.
func Domain(name, device string, quota uint64) pvhost.DomainConfig {
	return pvhost.DomainConfig{Name: name, Devices: []pvhost.DeviceConfig{{Device: device, VCoproc: mediator.VCoprocConfig{MemoryQuota: quota}}}}
}

// SetSelf makes the next connections from this process (goroutine
// guests) resolve to the domains given, one each, the last one for all
// that follow.
func (h *Host) SetSelf(d ...pvhost.DomainConfig) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.self = d
}

// GuestEnv names the helper a re-executed test binary runs as a guest.
const GuestEnv = "COPROCD_PV_GUEST"

// SocketEnv carries the host's socket path to a guest.
const SocketEnv = "COPROCD_PV_SOCKET"

// Guest is a guest running as a separate process.
type Guest struct {
	Cmd    *exec.Cmd
	Domain string
	out    *lockedBuffer
	stdin  *os.File
	done   chan struct{}
	err    error
}

// StartGuest re-executes the test binary as a guest that runs helper
// (dispatched by the test's TestMain through RunGuestHelper) as domain d.
// The guest waits on its stdin until its pid is registered, so the host
// knows it by the time it connects.
func (h *Host) StartGuest(t testing.TB, helper string, d pvhost.DomainConfig, args ...string) *Guest {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), GuestEnv+"="+helper, SocketEnv+"="+h.Path)
	return h.start(t, cmd, d)
}

// StartProgram runs any program as a guest of domain d. A shell holds it
// until its pid is registered, then execs it (keeping the pid).
func (h *Host) StartProgram(t testing.TB, d pvhost.DomainConfig, program string, args ...string) *Guest {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `read _ && exec "$0" "$@"`, program}, args...)...)
	return h.start(t, cmd, d)
}

func (h *Host) start(t testing.TB, cmd *exec.Cmd, d pvhost.DomainConfig) *Guest {
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdin = r
	require.NoError(t, cmd.Start())
	_ = r.Close()
	h.mu.Lock()
	h.byPID[int32(cmd.Process.Pid)] = d
	h.mu.Unlock()
	_, err = w.Write([]byte("go\n"))
	require.NoError(t, err)
	g := &Guest{Cmd: cmd, Domain: d.Name, out: out, stdin: w, done: make(chan struct{})}
	go func() {
		g.err = cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-g.done
		_ = w.Close()
	})
	return g
}

// Wait waits for the guest to exit and returns its error and output.
func (g *Guest) Wait(timeout time.Duration) (string, error) {
	select {
	case <-g.done:
		return g.out.String(), g.err
	case <-time.After(timeout):
		_ = g.Cmd.Process.Kill()
		<-g.done
		return g.out.String(), fmt.Errorf("guest %s did not exit within %v", g.Domain, timeout)
	}
}

// Output is what the guest printed so far.
func (g *Guest) Output() string { return g.out.String() }

// Send writes a line to the guest's stdin (after the start line).
func (g *Guest) Send(line string) error {
	_, err := g.stdin.Write([]byte(line + "\n"))
	return err
}

// Helpers maps helper names to guest programs; a test's TestMain calls
// RunGuestHelper first thing.
type Helpers map[string]func(socket string) error

// RunGuestHelper runs the helper named in the environment, if any, and
// exits; otherwise it returns and the tests run.
func RunGuestHelper(h Helpers) {
	name := os.Getenv(GuestEnv)
	if name == "" {
		return
	}
	fn, ok := h[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown guest helper %q\n", name)
		os.Exit(3)
	}
	var line [3]byte
	if _, err := os.Stdin.Read(line[:]); err != nil {
		fmt.Fprintf(os.Stderr, "guest: waiting for the start line: %v\n", err)
		os.Exit(3)
	}
	if err := fn(os.Getenv(SocketEnv)); err != nil {
		fmt.Fprintf(os.Stderr, "guest %s: FAIL: %v\n", name, err)
		os.Exit(1)
	}
	fmt.Printf("guest %s: ok\n", name)
	os.Exit(0)
}

// WaitFor polls cond until it holds or timeout passes.
func WaitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("pvtest: condition not reached in time")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
