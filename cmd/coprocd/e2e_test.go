package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/daemon/api"
)

// buildBinaries builds the daemon, its client and the example guest.
func buildBinaries(t *testing.T) (bin string) {
	t.Helper()
	bin = t.TempDir()
	for _, cmd := range []string{"coprocd", "coprocctl", "coprocd-guest"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, cmd), "github.com/coprocd/coprocd/cmd/"+cmd).CombinedOutput()
		require.NoError(t, err, "building %s: %s", cmd, out)
	}
	return bin
}

type daemonProc struct {
	cmd    *exec.Cmd
	log    *bytes.Buffer
	socket string
}

func startDaemonProc(t *testing.T, bin, config, socket string) *daemonProc {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(filepath.Join(bin, "coprocd"), "--config", config)
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	d := &daemonProc{cmd: cmd, log: &log, socket: socket}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "daemon did not start: %s", &log)
	return d
}

func ctlJSON(t *testing.T, bin, socket string, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "coprocctl"), append([]string{"--socket", socket, "--json"}, args...)...)
	b, err := cmd.Output()
	require.NoError(t, err, "coprocctl %v", args)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
}

func domainNamed(ds []api.Domain, name string) (api.Domain, bool) {
	for _, d := range ds {
		if d.Name == name {
			return d, true
		}
	}
	return api.Domain{}, false
}

// TestEndToEnd is the daemon as its users run it: a process serving guest
// processes through the paravirtual frontend, one of which is killed
// mid-job, and a restart that restores what the control API created.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon, the client and guests as processes: not in -short")
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	socket := filepath.Join(run, "control.sock")
	config := filepath.Join(dir, "coprocd.yaml")
	require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(`runtime_dir: %s
state_dir: %s
devices:
  - name: gpu0
    backend: refgpu
    vram: 64MiB
    policy:
      name: wfq
      slice: 1ms
domains:
  - name: g1
    vcoprocs: [{device: gpu0, weight: 1, memory: 8MiB}]
  - name: g2
    vcoprocs: [{device: gpu0, weight: 2, memory: 8MiB}]
  - name: doomed
    vcoprocs: [{device: gpu0, weight: 1, memory: 8MiB}]
`, run, filepath.Join(dir, "state"))), 0o600))
	d := startDaemonProc(t, bin, config, socket)

	guest := func(domain string, jobs int) (*exec.Cmd, *bytes.Buffer) {
		var out bytes.Buffer
		cmd := exec.Command(filepath.Join(bin, "coprocd-guest"), "--socket", filepath.Join(run, "pv", domain+".sock"),
			"--jobs", fmt.Sprint(jobs), "--elements", "65536")
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		return cmd, &out
	}
	g1, out1 := guest("g1", 40)
	g2, out2 := guest("g2", 40)
	doomed, _ := guest("doomed", 0)

	// Kill the endless guest once it is busy.
	require.Eventually(t, func() bool {
		var ds []api.Domain
		ctlJSON(t, bin, socket, &ds, "domains")
		dd, _ := domainNamed(ds, "doomed")
		return len(dd.VCoprocs) == 1 && dd.VCoprocs[0].Stats.JobsDone >= 3 && dd.Sessions == 1
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, doomed.Process.Signal(syscall.SIGKILL))
	_ = doomed.Wait()

	require.NoError(t, g1.Wait(), out1.String())
	require.NoError(t, g2.Wait(), out2.String())
	assert.Contains(t, out1.String(), "40 jobs correct")
	assert.Contains(t, out2.String(), "40 jobs correct")

	// The killed guest's session and buffers are gone; its domain and
	// vcoproc (from the configuration) remain for the next guest.
	require.Eventually(t, func() bool {
		var ds []api.Domain
		ctlJSON(t, bin, socket, &ds, "domains")
		dd, _ := domainNamed(ds, "doomed")
		return dd.Sessions == 0
	}, 10*time.Second, 20*time.Millisecond)
	var st api.Stats
	ctlJSON(t, bin, socket, &st, "stats")
	for _, name := range []string{"g1", "g2"} {
		dom, ok := domainNamed(st.Domains, name)
		require.True(t, ok)
		assert.GreaterOrEqual(t, dom.VCoprocs[0].Stats.JobsDone, uint64(40), name)
		assert.Zero(t, dom.VCoprocs[0].Stats.JobsFailed, name)
	}
	require.Len(t, st.Devices, 1)
	assert.Positive(t, st.Devices[0].Stats.Switches)
	again, outAgain := guest("doomed", 3)
	require.NoError(t, again.Wait(), "a new guest of the killed one's domain works: %s", outAgain)

	// A domain created through the API survives a restart; SIGTERM is a
	// clean exit.
	ctlJSON(t, bin, socket, nil, "domains", "create", "tenant", "gpu0:weight=3,memory=1048576")
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, d.cmd.Wait(), "exit status 0 on SIGTERM: %s", d.log)
	assert.Contains(t, d.log.String(), "shutting down")

	startDaemonProc(t, bin, config, socket)
	var ds []api.Domain
	ctlJSON(t, bin, socket, &ds, "domains")
	tenant, ok := domainNamed(ds, "tenant")
	require.True(t, ok, "restored after the restart")
	assert.Equal(t, "api", tenant.Source)
	assert.Equal(t, uint32(3), tenant.VCoprocs[0].Weight)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "coprocd-guest"), "--socket", tenant.Socket, "--jobs", "2").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.True(t, strings.Contains(string(out), "2 jobs correct"), string(out))
}
