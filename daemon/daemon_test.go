package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/daemon/api"
)

// testConfig is the default configuration with its directories in a
// temporary place.
func testConfig(t *testing.T) *Config {
	t.Helper()
	dir := t.TempDir()
	yaml := strings.Replace(string(DefaultConfigYAML), "control:\n", "runtime_dir: "+filepath.Join(dir, "run")+"\nstate_dir: "+filepath.Join(dir, "state")+"\ncontrol:\n", 1)
	cfg, err := ParseConfig([]byte(yaml), "test")
	require.NoError(t, err)
	cfg.Grace = Duration(time.Second)
	// Device filters are pinned in a BPF filesystem of the test's own,
	// never in the machine's /sys/fs/bpf; it is mounted only by tests that
	// attach filters, and unmounted (freeing the pins) at the end.
	cfg.Isolation.PinDir = filepath.Join(dir, "bpf")
	t.Cleanup(func() { _ = unix.Unmount(cfg.Isolation.PinDir, unix.MNT_DETACH) })
	return cfg
}

type running struct {
	t      *testing.T
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
	http   *http.Client
}

func start(t *testing.T, cfg *Config) *running {
	t.Helper()
	d, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, d: d, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx, nil) }()
	r.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", cfg.Control.Socket)
	}}}
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", cfg.Control.Socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 5*time.Millisecond)
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *running) stop() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		r.t.Fatal("daemon did not stop")
		return nil
	}
}

func (r *running) call(method, path string, in any, out any) (int, string) {
	r.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(r.t, err)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://coprocd"+path, body)
	require.NoError(r.t, err)
	resp, err := r.http.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(r.t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(r.t, json.Unmarshal(data, out), string(data))
	}
	return resp.StatusCode, string(data)
}

func TestControlAPI(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)

	var devs []api.Device
	code, _ := r.call("GET", "/v1/devices", nil, &devs)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, devs, 3)
	assert.Equal(t, []string{"dsp0", "fpga0", "gpu0"}, []string{devs[0].Name, devs[1].Name, devs[2].Name})
	assert.Equal(t, []string{"dsp", "fpga", "gpu"}, []string{devs[0].Class, devs[1].Class, devs[2].Class})
	assert.Equal(t, "rrobin", devs[2].Policy.Name)
	assert.Len(t, devs[2].VCoprocs, 3)

	var profs []api.Profile
	r.call("GET", "/v1/profiles", nil, &profs)
	require.Len(t, profs, 4)
	assert.Equal(t, api.Profile{Name: "gpu0-1/2", Device: "gpu0", Weight: 2, Memory: 128 << 20, Instances: 2, Available: 1}, profs[2])
	assert.Equal(t, 2, profs[3].Available, "two of four 1/4 instances taken")

	// Create a domain through the API; profile instances drop.
	var dom api.Domain
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "tenant", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Profile: "gpu0-1/2"}}}, &dom)
	require.Equal(t, http.StatusCreated, code, body)
	assert.Equal(t, "api", dom.Source)
	require.Len(t, dom.VCoprocs, 1)
	assert.Equal(t, uint32(2), dom.VCoprocs[0].Weight)
	r.call("GET", "/v1/profiles", nil, &profs)
	assert.Equal(t, 0, profs[2].Available)

	// No instance left: a clear error, nothing created.
	code, body = r.call("POST", "/v1/domains", api.DomainRequest{Name: "greedy", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Profile: "gpu0-1/2"}}}, nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `profile \"gpu0-1/2\" has no available instances (2 of 2 in use)`)
	var doms []api.Domain
	r.call("GET", "/v1/domains", nil, &doms)
	assert.Len(t, doms, 5)

	// Bad requests.
	code, body = r.call("POST", "/v1/domains", map[string]any{"name": "x", "colour": "red"}, nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `unknown field \"colour\"`)
	code, body = r.call("PUT", "/v1/devices/gpu0/policy", api.Policy{Name: "lottery"}, nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `unknown policy \"lottery\"`)
	code, _ = r.call("GET", "/v1/devices/gpu9/trace", nil, nil)
	assert.Equal(t, http.StatusNotFound, code)

	// Change the policy while running.
	var pol api.Policy
	code, body = r.call("PUT", "/v1/devices/gpu0/policy", api.Policy{Name: "rrobin", SliceNs: int64(500 * time.Microsecond)}, &pol)
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, int64(500*time.Microsecond), pol.SliceNs)

	// Stats and metrics.
	var st api.Stats
	r.call("GET", "/v1/stats", nil, &st)
	assert.Len(t, st.Domains, 5)
	assert.Positive(t, st.UptimeNs)
	code, metrics := r.call("GET", "/metrics", nil, nil)
	require.Equal(t, http.StatusOK, code)
	for _, m := range []string{"coprocd_device_switches_total{device=\"gpu0\"}", "coprocd_vcoproc_memory_quota_bytes{device=\"gpu0\",domain=\"tenant\"} 1.34217728e+08", "coprocd_device_utilization_ratio"} {
		assert.Contains(t, metrics, m)
	}

	// Delete: the instance comes back.
	code, _ = r.call("DELETE", "/v1/domains/tenant", nil, nil)
	assert.Equal(t, http.StatusNoContent, code)
	r.call("GET", "/v1/profiles", nil, &profs)
	assert.Equal(t, 1, profs[2].Available)
	code, body = r.call("DELETE", "/v1/domains/tenant", nil, nil)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, `no domain \"tenant\"`)
}

func TestRestartRestoresDomainsAndPolicy(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "kept", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Weight: 3, Memory: 1 << 20}}}, nil)
	require.Equal(t, http.StatusCreated, code, body)
	code, _ = r.call("PUT", "/v1/devices/gpu0/policy", api.Policy{Name: "rrobin", SliceNs: int64(3 * time.Millisecond)}, nil)
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, r.stop())
	_, err := os.Stat(cfg.Control.Socket)
	assert.True(t, os.IsNotExist(err), "the socket is removed on a clean stop")

	r2 := start(t, cfg)
	var dom api.Domain
	var doms []api.Domain
	r2.call("GET", "/v1/domains", nil, &doms)
	for _, d := range doms {
		if d.Name == "kept" {
			dom = d
		}
	}
	require.Equal(t, "kept", dom.Name, "restored")
	assert.Equal(t, "api", dom.Source)
	require.Len(t, dom.VCoprocs, 1)
	assert.Equal(t, uint32(3), dom.VCoprocs[0].Weight)
	assert.Equal(t, uint64(1<<20), dom.VCoprocs[0].Memory)
	var pol api.Policy
	r2.call("GET", "/v1/devices/gpu0/policy", nil, &pol)
	assert.Equal(t, int64(3*time.Millisecond), pol.SliceNs)
}

func TestSecondDaemonAndStaleSocket(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)
	d2, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	err = d2.Run(context.Background(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "another coprocd is running with runtime directory")
	require.NoError(t, r.stop())

	// A crashed daemon leaves its socket file behind: the next one replaces it.
	l, err := net.Listen("unix", cfg.Control.Socket)
	require.NoError(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	_, err = os.Stat(cfg.Control.Socket)
	require.NoError(t, err, "stale socket in place")
	r3 := start(t, cfg)
	code, _ := r3.call("GET", "/v1/devices", nil, nil)
	assert.Equal(t, http.StatusOK, code)

	// A socket that still answers is never taken over.
	other := filepath.Join(t.TempDir(), "busy.sock")
	l2, err := net.Listen("unix", other)
	require.NoError(t, err)
	defer l2.Close()
	_, err = listenUnix(other, 0o600)
	assert.ErrorContains(t, err, "is in use by a running process")
}

func TestCorruptStateIsAClearError(t *testing.T) {
	cfg := testConfig(t)
	require.NoError(t, os.MkdirAll(cfg.StateDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(cfg.StateDir, "state.json"), []byte("{not json"), 0o600))
	_, err := New(cfg, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is corrupt")
	assert.Contains(t, err.Error(), "move it aside")
}

// TestVFIOUserExposure: a vcoproc asked for with vfio_user gets a socket a
// VMM can connect to, listed by the API, and gone with its domain.
func TestVFIOUserExposure(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)
	var dom api.Domain
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "vm1", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Weight: 1, VFIOUser: true}}}, &dom)
	require.Equal(t, http.StatusCreated, code, body)
	require.Len(t, dom.VCoprocs, 1)
	sock := dom.VCoprocs[0].VFIOUser
	assert.Equal(t, filepath.Join(cfg.RuntimeDir, "vfio-user", "vm1-gpu0.sock"), sock)
	c, err := net.Dial("unix", sock)
	require.NoError(t, err, "a VMM can connect")
	c.Close()

	code, _ = r.call("DELETE", "/v1/domains/vm1", nil, nil)
	require.Equal(t, http.StatusNoContent, code)
	_, err = os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "the socket goes with the domain")

	// Restored domains are exposed again after a restart.
	code, body = r.call("POST", "/v1/domains", api.DomainRequest{Name: "vm2", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Weight: 1, VFIOUser: true}}}, nil)
	require.Equal(t, http.StatusCreated, code, body)
	require.NoError(t, r.stop())
	start(t, cfg)
	c, err = net.Dial("unix", filepath.Join(cfg.RuntimeDir, "vfio-user", "vm2-gpu0.sock"))
	require.NoError(t, err)
	c.Close()
}

// TestRealTimePolicyAndReservations: a device switched to the realtime
// policy admits reservations that fit and refuses, with the numbers, one
// that does not; every configured policy name builds.
func TestRealTimePolicyAndReservations(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)
	code, body := r.call("PUT", "/v1/devices/gpu0/policy", api.Policy{Name: "realtime", SliceNs: int64(2 * time.Millisecond)}, nil)
	require.Equal(t, http.StatusOK, code, body)

	ok := api.DomainRequest{Name: "cluster2", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Weight: 1,
		BudgetNs: int64(4 * time.Millisecond), PeriodNs: int64(16 * time.Millisecond)}}}
	var dom api.Domain
	code, body = r.call("POST", "/v1/domains", ok, &dom)
	require.Equal(t, http.StatusCreated, code, body)
	assert.Equal(t, int64(4*time.Millisecond), dom.VCoprocs[0].BudgetNs)

	greedy := api.DomainRequest{Name: "greedy", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Weight: 1,
		BudgetNs: int64(15 * time.Millisecond), PeriodNs: int64(16 * time.Millisecond)}}}
	code, body = r.call("POST", "/v1/domains", greedy, nil)
	assert.Equal(t, http.StatusConflict, code, "an admission refusal")
	assert.Contains(t, body, "utilization")
	assert.Contains(t, body, "on gpu0")

	for name := range policyNames {
		code, body = r.call("PUT", "/v1/devices/dsp0/policy", api.Policy{Name: name, SliceNs: int64(time.Millisecond)}, nil)
		// Reservation-only policies may refuse the configured best-effort
		// vcoproc; every other must take it.
		if name == "edf" || name == "fp" || name == "fixed-share" {
			if code != http.StatusOK {
				assert.Contains(t, body, "scheduler", name)
			}
			continue
		}
		assert.Equal(t, http.StatusOK, code, "%s: %s", name, body)
	}
}

// TestReloadAppliesWhatCanChange is what SIGHUP does: new profiles and
// domains appear, a device's policy changes; a new device is only logged.
func TestReloadAppliesWhatCanChange(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)
	next := testConfig(t)
	next.RuntimeDir, next.StateDir, next.Control = cfg.RuntimeDir, cfg.StateDir, cfg.Control
	next.Devices[0].Policy = PolicyConfig{Name: "wfq", Slice: Duration(3 * time.Millisecond)}
	next.Devices = append(next.Devices, DeviceConfig{Name: "gpu9", Backend: "refgpu"})
	next.Profiles = append(next.Profiles, Profile{Name: "gpu0-tiny", Device: "gpu0", Weight: 1, Memory: 1 << 20, Instances: 1})
	next.Domains = append(next.Domains, DomainSpec{Name: "newcomer", VCoprocs: []VCoprocSpec{{Device: "gpu0", Profile: "gpu0-tiny"}}})

	r.d.mu.Lock()
	r.d.applyReload(next)
	r.d.mu.Unlock()

	var pol api.Policy
	r.call("GET", "/v1/devices/gpu0/policy", nil, &pol)
	assert.Equal(t, api.Policy{Name: "wfq", SliceNs: int64(3 * time.Millisecond)}, pol)
	var doms []api.Domain
	r.call("GET", "/v1/domains", nil, &doms)
	_, ok := func() (api.Domain, bool) {
		for _, d := range doms {
			if d.Name == "newcomer" {
				return d, true
			}
		}
		return api.Domain{}, false
	}()
	assert.True(t, ok, "the new domain exists")
	var devs []api.Device
	r.call("GET", "/v1/devices", nil, &devs)
	for _, d := range devs {
		assert.NotEqual(t, "gpu9", d.Name, "devices need a restart")
	}
}
