package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary act as a control-API client running as
// another user (see TestControlAccessIsRestricted).
func TestMain(m *testing.M) {
	if sock := os.Getenv("COPROCD_TEST_CLIENT"); sock != "" {
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		resp, err := c.Get("http://coprocd/v1/devices")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(0)
		}
		fmt.Println("status:", resp.StatusCode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func asNobody(t *testing.T, socket string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "COPROCD_TEST_CLIENT="+socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return strings.TrimSpace(string(out))
}

// TestControlAccessIsRestricted: the socket's file mode keeps other users
// out, and where the mode lets them connect, the kernel's peer credentials
// still do.
func TestControlAccessIsRestricted(t *testing.T) {
	skipUnlessPrivileged(t, "running a client as another user")
	cfg := testConfig(t)
	// The test binary and the socket's directory must be reachable by nobody.
	for _, dir := range []string{filepath.Dir(os.Args[0]), cfg.RuntimeDir} {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		// Open up the directories below the temporary root (which is
		// world-searchable already), never the root itself.
		for d := dir; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
			_ = os.Chmod(d, 0o755)
		}
	}
	r := start(t, cfg)
	assert.Contains(t, asNobody(t, cfg.Control.Socket), "permission denied", "mode 0600 keeps other users out")
	require.NoError(t, r.stop())

	cfg.Control.Mode = 0o666
	r = start(t, cfg)
	assert.Equal(t, "status: 403", asNobody(t, cfg.Control.Socket), "peer credentials keep them out")
	require.NoError(t, r.stop())

	cfg.Control.AllowUIDs = []uint32{65534}
	start(t, cfg)
	assert.Equal(t, "status: 200", asNobody(t, cfg.Control.Socket), "an allowed uid gets in")
}
