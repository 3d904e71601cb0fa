//go:build linux

package rproc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeSysfs writes a remoteproc class directory with attribute files.
func fakeRemoteproc(t *testing.T, root, name string, attrs map[string]string) {
	t.Helper()
	dir := filepath.Join(root, name)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for k, v := range attrs {
		require.NoError(t, os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestRemoteprocSysfs(t *testing.T) {
	root := t.TempDir()
	base := map[string]string{"name": "cdsp\n", "state": "offline\n", "firmware": "qcom/sm8250/cdsp.mbn\n", "recovery": "enabled\n", "coredump": "enabled\n"}
	fakeRemoteproc(t, root, "remoteproc10", base)
	fakeRemoteproc(t, root, "remoteproc2", map[string]string{"name": "adsp\n", "state": "running\n"})
	fakeRemoteproc(t, root, "remoteprocX", map[string]string{"state": "offline\n"}) // not a processor
	require.NoError(t, os.MkdirAll(filepath.Join(root, "remoteproc3"), 0o755))      // no state: skipped

	rps, err := ListRemoteprocs(root)
	require.NoError(t, err)
	require.Len(t, rps, 2)
	assert.Equal(t, "remoteproc2", rps[0].Name)
	assert.Equal(t, 10, rps[1].Index)
	assert.Equal(t, "/dev/remoteproc10", rps[1].CharDevice("/dev"))

	r := rps[1]
	model, err := r.Model()
	require.NoError(t, err)
	assert.Equal(t, "cdsp", model)
	st, err := r.State()
	require.NoError(t, err)
	assert.Equal(t, StateOffline, st)
	fw, err := r.Firmware()
	require.NoError(t, err)
	assert.Equal(t, "qcom/sm8250/cdsp.mbn", fw)

	require.NoError(t, r.SetFirmware("coprocd/cdsp-test.mbn"))
	assert.Equal(t, "coprocd/cdsp-test.mbn", readFile(t, filepath.Join(r.Dir(), "firmware")))
	for _, bad := range []string{"", "/etc/passwd", "../x", "a\nb", string(make([]byte, 300))} {
		assert.Error(t, r.SetFirmware(bad), "%q", bad)
	}
	require.NoError(t, r.Start())
	assert.Equal(t, "start", readFile(t, filepath.Join(r.Dir(), "state")))
	require.NoError(t, r.Stop())
	assert.Equal(t, "stop", readFile(t, filepath.Join(r.Dir(), "state")))
	require.NoError(t, r.Detach())
	assert.Equal(t, "detach", readFile(t, filepath.Join(r.Dir(), "state")))
	_, err = r.State()
	assert.ErrorContains(t, err, `unknown remoteproc state "detach"`)

	on, err := r.Recovery()
	require.NoError(t, err)
	assert.True(t, on)
	require.NoError(t, r.SetRecovery(false))
	on, err = r.Recovery()
	require.NoError(t, err)
	assert.False(t, on)
	require.NoError(t, r.Recover())
	assert.Equal(t, "recover", readFile(t, filepath.Join(r.Dir(), "recovery")))
	_, err = r.Recovery()
	assert.ErrorContains(t, err, `recovery reads "recover"`)

	require.NoError(t, r.SetCoredump(CoredumpInline))
	mode, err := r.Coredump()
	require.NoError(t, err)
	assert.Equal(t, "inline", mode)
	assert.ErrorContains(t, r.SetCoredump("always"), `coredump mode "always"`)

	// A missing attribute names the path.
	_, err = rps[0].Firmware()
	assert.ErrorContains(t, err, filepath.Join(root, "remoteproc2", "firmware"))
	assert.ErrorIs(t, err, unix.ENOENT)

	_, err = OpenRemoteproc(root, "remoteproc07")
	assert.ErrorContains(t, err, "not a remote processor name")
	_, err = ListRemoteprocs(filepath.Join(root, "missing"))
	assert.ErrorIs(t, err, unix.ENOENT)
}

// A read-only state attribute stands in for the kernel's EBUSY/EPERM
// refusals: the error carries the errno and the path.
func TestRemoteprocWriteErrors(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes through 0444; use a directory in the attribute's place.
		root := t.TempDir()
		fakeRemoteproc(t, root, "remoteproc0", map[string]string{"name": "x\n"})
		require.NoError(t, os.Mkdir(filepath.Join(root, "remoteproc0", "state"), 0o755))
		r := &Remoteproc{Name: "remoteproc0", dir: filepath.Join(root, "remoteproc0")}
		err := r.Start()
		assert.ErrorIs(t, err, unix.EISDIR)
		assert.ErrorContains(t, err, "remoteproc0/state")
		return
	}
	root := t.TempDir()
	fakeRemoteproc(t, root, "remoteproc0", map[string]string{"state": "running\n"})
	require.NoError(t, os.Chmod(filepath.Join(root, "remoteproc0", "state"), 0o444))
	r, err := OpenRemoteproc(root, "remoteproc0")
	require.NoError(t, err)
	err = r.Stop()
	assert.ErrorIs(t, err, unix.EACCES)
}

func TestParseState(t *testing.T) {
	for _, s := range []State{StateOffline, StateSuspended, StateRunning, StateCrashed, StateDeleted, StateAttached, StateDetached, StateInvalid} {
		got, err := ParseState(string(s) + "\n")
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	_, err := ParseState("booting")
	assert.ErrorContains(t, err, `unknown remoteproc state "booting"`)
}

// A FIFO stands in for /dev/remoteproc0: commands arrive as the kernel's
// rproc_cdev_write would see them, and the ioctls fail with ENOTTY named.
func TestCdevOnAFifo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remoteproc0")
	require.NoError(t, unix.Mkfifo(path, 0o600))
	c, err := OpenCdev(path)
	require.NoError(t, err)
	defer c.Close()
	rd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	require.NoError(t, err)
	defer unix.Close(rd)

	buf := make([]byte, 16)
	for _, cmd := range []struct {
		f    func() error
		want string
	}{{c.Start, "start"}, {c.Stop, "stop"}, {c.Detach, "detach"}} {
		require.NoError(t, cmd.f())
		n, err := unix.Read(rd, buf)
		require.NoError(t, err)
		assert.Equal(t, cmd.want, string(buf[:n]))
	}
	err = c.SetShutdownOnRelease(true)
	assert.ErrorIs(t, err, unix.ENOTTY)
	assert.ErrorContains(t, err, "RPROC_SET_SHUTDOWN_ON_RELEASE on "+path)
	_, err = c.ShutdownOnRelease()
	assert.ErrorIs(t, err, unix.ENOTTY)
	assert.ErrorContains(t, err, "RPROC_GET_SHUTDOWN_ON_RELEASE")

	_, err = OpenCdev(filepath.Join(t.TempDir(), "none"))
	assert.ErrorIs(t, err, unix.ENOENT)
}
