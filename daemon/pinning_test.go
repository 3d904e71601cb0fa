package daemon

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/isolation/cgroupdev"
)

// realCgroup makes a cgroup v2 directory for a domain, or skips (fails
// under CI) where device filters cannot be loaded.
func realCgroup(t *testing.T, name string) string {
	t.Helper()
	skipUnlessPrivileged(t, "cgroup v2 and BPF device filters")
	if err := cgroupdev.Probe(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("device filters cannot be loaded: %v", err)
		}
		t.Skipf("device filters cannot be loaded: %v", err)
	}
	root, err := cgroupdev.FindCgroup2()
	if err != nil {
		root = t.TempDir()
		require.NoError(t, cgroupdev.MountCgroup2(root))
	}
	cg := filepath.Join(root, fmt.Sprintf("coprocd-daemon-%s-%d", name, os.Getpid()))
	require.NoError(t, os.Mkdir(cg, 0o755))
	t.Cleanup(func() { _ = os.Remove(cg) })
	return cg
}

// TestDeviceFiltersOutliveTheDaemon: a domain's filter stays attached
// while the daemon is stopped, a restarted daemon takes it over rather
// than attaching a second one, and the filter of a domain removed from the
// configuration meanwhile is removed at the next start.
func TestDeviceFiltersOutliveTheDaemon(t *testing.T) {
	cg := realCgroup(t, "pin")
	cfg := testConfig(t)
	cfg.Domains = append(cfg.Domains, DomainSpec{Name: "ctr", Cgroup: cg, DeviceNodes: []string{"c 1:3 rw"}})

	r := start(t, cfg)
	before, err := cgroupdev.AttachedPrograms(cg)
	require.NoError(t, err)
	require.Len(t, before, 1)
	require.NoError(t, r.stop())
	stopped, err := cgroupdev.AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Equal(t, before, stopped, "in force with no daemon running")
	assert.FileExists(t, filepath.Join(cfg.Isolation.PinDir, "ctr"))

	r = start(t, cfg)
	again, err := cgroupdev.AttachedPrograms(cg)
	require.NoError(t, err)
	require.Len(t, again, 1, "taken over, not attached beside the old one")
	require.NoError(t, r.stop())

	cfg.Domains = cfg.Domains[:len(cfg.Domains)-1]
	r = start(t, cfg)
	gone, err := cgroupdev.AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Empty(t, gone, "the domain is gone, and its filter with it")
	assert.NoFileExists(t, filepath.Join(cfg.Isolation.PinDir, "ctr"))
	require.NoError(t, r.stop())
}

func TestPinDirMustBeAbsolute(t *testing.T) {
	_, err := ParseConfig([]byte("isolation:\n  pin_dir: bpf/coprocd\n"), "t.yaml")
	assert.ErrorContains(t, err, `line 2: isolation.pin_dir "bpf/coprocd" must be an absolute path, or off`)
}

// Domain names become file names (the pinned filter's): "." and ".." are
// refused, so a domain's pin can never be the pin directory or its parent.
func TestDomainNamesThatAreDirectories(t *testing.T) {
	for _, name := range []string{".", ".."} {
		_, err := ParseConfig([]byte("domains:\n  - name: \""+name+"\"\n"), "t.yaml")
		assert.ErrorContains(t, err, `is a directory's name`, name)
	}
}

// TestFailedStartKeepsFiltersInForce: a start that fails after it took a
// domain's pinned filter over (here a vcoproc that cannot be attached)
// leaves the filter pinned and in force, as the stopped daemon left it,
// for the next start to take over: the container is never unfenced.
func TestFailedStartKeepsFiltersInForce(t *testing.T) {
	cg := realCgroup(t, "failstart")
	cfg := testConfig(t)
	cfg.Domains = append(cfg.Domains, DomainSpec{Name: "ctr", Cgroup: cg, DeviceNodes: []string{"c 1:3 rw"}})
	r := start(t, cfg)
	require.NoError(t, r.stop())
	pinned, err := cgroupdev.AttachedPrograms(cg)
	require.NoError(t, err)
	require.Len(t, pinned, 1)

	bad := *cfg
	bad.Domains = append([]DomainSpec(nil), cfg.Domains...)
	// New does not validate (ParseConfig does): a vcoproc on no device
	// fails at attach, after the filter was taken over.
	bad.Domains[len(bad.Domains)-1].VCoprocs = []VCoprocSpec{{Device: "nosuch", Weight: 1}}
	_, err = New(&bad, nil)
	require.ErrorContains(t, err, `no device "nosuch"`)
	after, err := cgroupdev.AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Len(t, after, 1, "a filter is still in force after the failed start (its program swapped by the take-over)")
	assert.FileExists(t, filepath.Join(cfg.Isolation.PinDir, "ctr"))

	r = start(t, cfg)
	again, err := cgroupdev.AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Len(t, again, 1, "taken over by the next start")
	require.NoError(t, r.stop())
}

// TestOverlappingCgroupsAreRefused: two domains whose cgroups are the same
// or nested would count, throttle and stop each other's processes.
func TestOverlappingCgroupsAreRefused(t *testing.T) {
	cg := realCgroup(t, "overlap")
	cfg := testConfig(t)
	cfg.Domains = append(cfg.Domains, DomainSpec{Name: "outer", Cgroup: cg})
	r := start(t, cfg)
	for _, other := range []string{cg, filepath.Join(cg, "inner"), filepath.Dir(cg)} {
		code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "other", Cgroup: other}, nil)
		assert.Equal(t, http.StatusBadRequest, code, other)
		assert.Contains(t, body, `overlaps domain`, other)
	}
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "sibling", Cgroup: cg + "-sibling"}, nil)
	assert.NotContains(t, body, "overlaps", "a sibling whose name starts alike does not overlap (code %d)", code)
}
