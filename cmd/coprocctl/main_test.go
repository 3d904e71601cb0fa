package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/daemon"
	"github.com/coprocd/coprocd/daemon/api"
)

// startDaemon runs a daemon on the default configuration in temporary
// directories and returns its control socket.
func startDaemon(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	yaml := strings.Replace(string(daemon.DefaultConfigYAML), "control:\n", "runtime_dir: "+filepath.Join(dir, "run")+"\nstate_dir: "+filepath.Join(dir, "state")+"\ncontrol:\n", 1)
	cfg, err := daemon.ParseConfig([]byte(yaml), "test")
	require.NoError(t, err)
	d, err := daemon.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", cfg.Control.Socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 5*time.Millisecond)
	return cfg.Control.Socket
}

func ctl(t *testing.T, socket string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCommand(&out)
	cmd.SetArgs(append([]string{"--socket", socket}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestCommands(t *testing.T) {
	sock := startDaemon(t)

	out, err := ctl(t, sock, "devices")
	require.NoError(t, err)
	assert.Contains(t, out, "DEVICE")
	assert.Contains(t, out, "gpu0")
	assert.Contains(t, out, "coprocd-refgpu")
	assert.Contains(t, out, "coprocd-reffpga")
	assert.Contains(t, out, "coprocd-refdsp")

	out, err = ctl(t, sock, "profiles")
	require.NoError(t, err)
	assert.Regexp(t, `gpu0-1/2\s+gpu0\s+2\s+128MiB\s+1/2`, out)

	out, err = ctl(t, sock, "domains", "create", "tenant", "gpu0:weight=3,memory=1048576")
	require.NoError(t, err)
	assert.Regexp(t, `tenant\s+api\s+tenant/gpu0\s+-\s+3\s+0/1MiB`, out)

	out, err = ctl(t, sock, "--json", "domains")
	require.NoError(t, err)
	var doms []api.Domain
	require.NoError(t, json.Unmarshal([]byte(out), &doms))
	assert.Len(t, doms, 5)

	_, err = ctl(t, sock, "domains", "create", "tenant")
	assert.EqualError(t, err, `domain "tenant" exists`, "the daemon's error, unchanged")
	_, err = ctl(t, sock, "attach", "tenant", "gpu9")
	assert.EqualError(t, err, `domain "tenant": no device "gpu9"`)
	_, err = ctl(t, sock, "domains", "create", "x", "gpu0:colour=red")
	assert.ErrorContains(t, err, `"colour=red": unknown key`)

	out, err = ctl(t, sock, "policy", "set", "gpu0", "rrobin", "--slice", "750us")
	require.NoError(t, err)
	assert.Contains(t, out, "750µs")
	out, err = ctl(t, sock, "policy", "get", "gpu0")
	require.NoError(t, err)
	assert.Contains(t, out, "rrobin")

	out, err = ctl(t, sock, "stats")
	require.NoError(t, err)
	assert.Contains(t, out, "tenant/gpu0")

	out, err = ctl(t, sock, "trace", "gpu0", "--format", "csv")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "at_ns,from,to,cost_ns,retries\n"))

	out, err = ctl(t, sock, "--json", "top", "--interval", "20ms", "--count", "1")
	require.NoError(t, err)
	var rows []topRow
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	assert.Len(t, rows, 6)

	require.NoError(t, ctlErr(ctl(t, sock, "detach", "tenant", "gpu0")))
	require.NoError(t, ctlErr(ctl(t, sock, "domains", "delete", "tenant")))
	_, err = ctl(t, sock, "domains", "delete", "tenant")
	assert.EqualError(t, err, `no domain "tenant"`)
}

func ctlErr(_ string, err error) error { return err }

func TestUnreachableDaemon(t *testing.T) {
	_, err := ctl(t, filepath.Join(t.TempDir(), "none.sock"), "devices")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot reach coprocd at")
	assert.Contains(t, err.Error(), "is the daemon running?")
}

func TestParseVCoproc(t *testing.T) {
	v, err := parseVCoproc("gpu0")
	require.NoError(t, err)
	assert.Equal(t, api.VCoprocRequest{Device: "gpu0"}, v)
	v, err = parseVCoproc("gpu0:gpu0-1/4")
	require.NoError(t, err)
	assert.Equal(t, "gpu0-1/4", v.Profile)
	v, err = parseVCoproc("gpu0:weight=2,memory=4096")
	require.NoError(t, err)
	assert.Equal(t, api.VCoprocRequest{Device: "gpu0", Weight: 2, Memory: 4096}, v)
	_, err = parseVCoproc(":x")
	assert.Error(t, err)
	_, err = parseVCoproc("gpu0:weight=heavy")
	assert.Error(t, err)
}

func TestGPUSharesTable(t *testing.T) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	sm := uint32(42)
	printGPUShares(tw, []api.Domain{
		{Name: "plain"},
		{Name: "train", GPUs: []api.GPU{{UUID: "GPU-1", Profile: "3g.20gb", Memory: 20 << 30, MemoryUsed: 5 << 30, SMPercent: &sm, Processes: 2}}},
		{Name: "idle", GPUs: []api.GPU{{UUID: "GPU-1", Profile: "1g.5gb", Memory: 5 << 30}}},
	})
	require.NoError(t, tw.Flush())
	assert.Regexp(t, `DOMAIN\s+GPU\s+PROFILE\s+MEMORY\s+SM\s+PROCESSES`, b.String())
	assert.Regexp(t, `train\s+GPU-1\s+3g\.20gb\s+5120MiB/20480MiB\s+42%\s+2`, b.String())
	assert.Regexp(t, `idle\s+GPU-1\s+1g\.5gb\s+0/5120MiB\s+-\s+0`, b.String(), "no SM sample is '-', not 0%")

	b.Reset()
	printGPUShares(tw, []api.Domain{{Name: "plain"}})
	require.NoError(t, tw.Flush())
	assert.Empty(t, b.String(), "no table without GPU shares")
}
