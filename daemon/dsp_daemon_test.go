package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A daemon for the DSP tests and benchmarks of this package: a reference
// DSP and one domain with a session on it, run in this process or in a
// process of its own.

// dspTestConfig is a daemon with the default configuration's dsp0 (2 ms
// per-call budget, round-robin with a 1 ms slice) and nothing else, and one
// domain, "audio", with a session on it.
const dspTestConfig = `
runtime_dir: %[1]s/run
state_dir: %[1]s/state
shutdown_grace: 1s
devices:
  - name: dsp0
    backend: refdsp
    call_budget: %[2]s
    policy:
      name: rrobin
      slice: 1ms
domains:
  - name: audio
    vcoprocs:
      - device: dsp0
        weight: 1
        memory: 64KiB
  - name: audio-rt
    predictive_poll: true
    vcoprocs:
      - device: dsp0
        weight: 1
        memory: 64KiB
`

// dspCallBudget is dsp0's call_budget in dspTestConfig.
const dspCallBudget = 2 * time.Millisecond

// startDSPDaemon runs a daemon on dspTestConfig in this process until the
// test ends and returns the audio domain's paravirtual socket,
// <runtime_dir>/pv/audio.sock.
func startDSPDaemon(tb testing.TB) string {
	tb.Helper()
	cfg, err := ParseConfig([]byte(fmt.Sprintf(dspTestConfig, tb.TempDir(), dspCallBudget)), "dsp test configuration")
	require.NoError(tb, err)
	d, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(tb, err)
		case <-time.After(10 * time.Second):
			tb.Error("the daemon did not stop within 10 s")
		}
	})
	waitForControl(tb, cfg.Control.Socket)
	return filepath.Join(cfg.RuntimeDir, "pv", "audio.sock")
}

// waitForControl waits until the control socket answers: the paravirtual
// sockets are up before it.
func waitForControl(tb testing.TB, socket string) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		c, err := net.Dial("unix", socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, time.Millisecond, "the daemon's control socket %s never answered", socket)
}

// The daemon as a process of its own, as it is deployed, for the benchmark:
// a guest and the daemon in one Go runtime share its scheduler, and on two
// cores the guest's spinning wait and the session's polling then hold both
// Ps while the device runner waits for one (on the 2-core development VM:
// 440–670 µs per call in one process, 170–360 µs in two). This test binary
// is re-executed to be that process.
const (
	dspDaemonEnv        = "COPROCD_TEST_DSP_DAEMON"         // the configuration file's path
	dspDaemonProfileEnv = "COPROCD_TEST_DSP_DAEMON_PROFILE" // where to write the daemon's CPU profile, if set
)

// TestDSPDaemonHelperProcess is not a test: it is the daemon process that
// startDSPDaemonProcess runs, and it skips unless asked to be that. It
// serves until its standard input closes.
func TestDSPDaemonHelperProcess(t *testing.T) {
	path := os.Getenv(dspDaemonEnv)
	if path == "" {
		t.Skip("the daemon process of BenchmarkDSPCallThroughDaemon; runs only when re-executed by it")
	}
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	d, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	require.NoError(t, err)
	if out := os.Getenv(dspDaemonProfileEnv); out != "" {
		f, err := os.Create(out)
		require.NoError(t, err)
		require.NoError(t, pprof.StartCPUProfile(f))
		defer func() {
			pprof.StopCPUProfile()
			require.NoError(t, f.Close())
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
		cancel()
	}()
	require.NoError(t, d.Run(ctx, nil))
}

// startDSPDaemonProcess runs a daemon on dspTestConfig in a process of its
// own until the test or benchmark ends and returns the audio domain's
// paravirtual socket. With COPROCD_TEST_DSP_DAEMON_PROFILE=path in the
// environment, the daemon process writes its CPU profile there.
func startDSPDaemonProcess(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "coprocd.yaml")
	require.NoError(tb, os.WriteFile(path, []byte(fmt.Sprintf(dspTestConfig, dir, dspCallBudget)), 0o600))
	cfg, err := LoadConfig(path)
	require.NoError(tb, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDSPDaemonHelperProcess$")
	cmd.Env = append(os.Environ(), dspDaemonEnv+"="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = stdin.Close()
		select {
		case err := <-exited:
			if err != nil {
				tb.Errorf("the daemon process: %v\n%s", err, out.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			tb.Errorf("the daemon process did not stop within 10 s of its standard input closing\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if c, err := net.Dial("unix", cfg.Control.Socket); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			tb.Fatalf("the daemon process ended before it served: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the daemon process's control socket %s never answered", cfg.Control.Socket)
		}
	}
	return filepath.Join(cfg.RuntimeDir, "pv", "audio.sock")
}
