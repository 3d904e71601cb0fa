package daemon

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/daemon/api"
)

// skipUnlessPrivileged skips a test that needs root, or fails it under CI,
// where root is promised.
func skipUnlessPrivileged(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs root (%s), and CI runs as root", why)
	}
	t.Skipf("needs root: %s", why)
}

// TestFullDiskLosesNothing fills a small tmpfs that holds the state
// directory: creating a domain fails with a clear error, the domain is not
// left half-created, and the previous state file is intact.
func TestFullDiskLosesNothing(t *testing.T) {
	skipUnlessPrivileged(t, "mounting a 64 KiB tmpfs as a full disk")
	cfg := testConfig(t)
	require.NoError(t, os.MkdirAll(cfg.StateDir, 0o700))
	err := unix.Mount("tmpfs", cfg.StateDir, "tmpfs", 0, "size=64k")
	if err != nil && os.Getenv("CI") != "true" {
		t.Skipf("cannot mount tmpfs here: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Unmount(cfg.StateDir, unix.MNT_DETACH) })

	r := start(t, cfg)
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "first", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Weight: 1}}}, nil)
	require.Equal(t, http.StatusCreated, code, body)
	before, err := os.ReadFile(filepath.Join(cfg.StateDir, "state.json"))
	require.NoError(t, err)

	// Fill the disk.
	filler, err := os.Create(filepath.Join(cfg.StateDir, "filler"))
	require.NoError(t, err)
	buf := make([]byte, 4096)
	for {
		if _, err := filler.Write(buf); err != nil {
			break
		}
	}
	filler.Close()

	code, body = r.call("POST", "/v1/domains", api.DomainRequest{Name: "second", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Weight: 1}}}, nil)
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Contains(t, body, `domain \"second\" not created: saving state`)
	assert.Contains(t, body, "no space left on device")
	var doms []api.Domain
	r.call("GET", "/v1/domains", nil, &doms)
	for _, d := range doms {
		assert.NotEqual(t, "second", d.Name, "no half-created domain")
	}
	after, err := os.ReadFile(filepath.Join(cfg.StateDir, "state.json"))
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the previous state is intact")

	require.NoError(t, os.Remove(filepath.Join(cfg.StateDir, "filler")))
	code, body = r.call("POST", "/v1/domains", api.DomainRequest{Name: "second", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Weight: 1}}}, nil)
	assert.Equal(t, http.StatusCreated, code, body)
}
