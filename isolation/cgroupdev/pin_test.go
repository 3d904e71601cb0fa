package cgroupdev

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// bpffs mounts a BPF filesystem for the test's pins.
func bpffs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := EnsurePinDir(dir); err != nil {
		skipOrFail(t, "cannot mount a BPF filesystem: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	require.NoError(t, EnsurePinDir(dir), "a second call finds the filesystem there")
	require.NoError(t, EnsurePinDir(filepath.Join(dir, "sub")), "and a directory in it needs no mount")
	return dir
}

// TestPinnedFilterOutlivesItsHolder: a pinned filter stays in force after
// Release (the daemon stopped), the next Attach on the pin takes it over
// with its own rules without a second program ever being attached, and
// Close removes it for good.
func TestPinnedFilterOutlivesItsHolder(t *testing.T) {
	root := cgroupRoot(t)
	n := nodes(t)
	cg := newCgroup(t, root, "p")
	pinPath := filepath.Join(bpffs(t), "ctr")

	f, err := Attach(cg, []Rule{n.null.rule(Read)}, Options{PinPath: pinPath})
	require.NoError(t, err)
	require.FileExists(t, pinPath)
	require.NoError(t, f.Release())
	ids, err := AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Len(t, ids, 1, "still attached with nobody holding it")
	assert.Equal(t, []string{"ok", "EPERM"}, runIn(t, cg, "r:/dev/null", "r:/dev/zero"), "and still enforced")
	assert.ErrorIs(t, f.Grant(n.zero.rule(Read)), ErrClosed)

	g, err := Attach(cg, []Rule{n.zero.rule(Read)}, Options{PinPath: pinPath})
	require.NoError(t, err)
	after, err := AttachedPrograms(cg)
	require.NoError(t, err)
	require.Len(t, after, 1, "taken over, not attached beside")
	assert.NotEqual(t, ids[0], after[0], "with the new program")
	assert.Equal(t, []string{"EPERM", "ok"}, runIn(t, cg, "r:/dev/null", "r:/dev/zero"), "the new rules")
	require.NoError(t, g.Grant(n.full.rule(Read)), "and updates work on the adopted link")
	assert.Equal(t, []string{"ok"}, runIn(t, cg, "r:/dev/full"))

	require.NoError(t, g.Close())
	assert.NoFileExists(t, pinPath)
	ids, err = AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Empty(t, ids, "closed for good")
}

func TestPinnedFilterOfAnotherCgroupIsRefused(t *testing.T) {
	root := cgroupRoot(t)
	n := nodes(t)
	a := newCgroup(t, root, "pa")
	b := newCgroup(t, root, "pb")
	pinPath := filepath.Join(bpffs(t), "shared")
	f, err := Attach(a, []Rule{n.null.rule(Read)}, Options{PinPath: pinPath})
	require.NoError(t, err)
	defer func() { assert.NoError(t, f.Close()) }()
	_, err = Attach(b, []Rule{n.null.rule(Read)}, Options{PinPath: pinPath})
	assert.ErrorContains(t, err, "is not a device filter of cgroup "+b)
	ids, err := AttachedPrograms(b)
	require.NoError(t, err)
	assert.Empty(t, ids, "nothing attached to b")
}

func TestRemovePinned(t *testing.T) {
	root := cgroupRoot(t)
	n := nodes(t)
	cg := newCgroup(t, root, "rp")
	pinPath := filepath.Join(bpffs(t), "gone")
	f, err := Attach(cg, []Rule{n.null.rule(Read)}, Options{PinPath: pinPath})
	require.NoError(t, err)
	require.NoError(t, f.Release())
	require.NoError(t, RemovePinned(pinPath))
	_, err = os.Stat(pinPath)
	assert.ErrorIs(t, err, os.ErrNotExist)
	ids, err := AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Empty(t, ids)
	assert.NoError(t, RemovePinned(pinPath), "nothing pinned is not an error")
}

// TestPinnedFilterReattachesAndRepins: after another agent detaches a
// pinned filter, Check re-attaches it and pins the new link, so it still
// outlives its holder.
func TestPinnedFilterReattachesAndRepins(t *testing.T) {
	root := cgroupRoot(t)
	n := nodes(t)
	cg := newCgroup(t, root, "rr")
	pinPath := filepath.Join(bpffs(t), "rr")
	f, err := Attach(cg, []Rule{n.null.rule(Read)}, Options{PinPath: pinPath})
	require.NoError(t, err)
	detachLikeAnotherAgent(t, cg)
	reattached, err := f.Check()
	require.NoError(t, err)
	require.True(t, reattached)
	require.NoError(t, f.Release())
	assert.Equal(t, []string{"ok", "EPERM"}, runIn(t, cg, "r:/dev/null", "r:/dev/zero"), "the re-attached filter was pinned")
	require.NoError(t, RemovePinned(pinPath))
}

// TestPinnedFilterOfARecreatedCgroupIsReplaced: a container restarted while
// the daemon was down has a new cgroup at the same path; the filter pinned
// for the old one guards nothing any more (its cgroup is gone), so Attach
// replaces it with a fresh one instead of refusing to start.
func TestPinnedFilterOfARecreatedCgroupIsReplaced(t *testing.T) {
	root := cgroupRoot(t)
	n := nodes(t)
	cg := newCgroup(t, root, "re")
	pinPath := filepath.Join(bpffs(t), "re")
	f, err := Attach(cg, []Rule{n.null.rule(Read)}, Options{PinPath: pinPath})
	require.NoError(t, err)
	require.NoError(t, f.Release())
	require.NoError(t, os.Remove(cg), "the container goes")
	require.NoError(t, os.Mkdir(cg, 0o755), "and comes back")

	g, err := Attach(cg, []Rule{n.null.rule(Read)}, Options{PinPath: pinPath})
	require.NoError(t, err, "a pin whose cgroup is gone is replaced")
	defer func() { assert.NoError(t, g.Close()) }()
	assert.Equal(t, []string{"ok", "EPERM"}, runIn(t, cg, "r:/dev/null", "r:/dev/zero"), "the new cgroup is fenced")
}

// TestRemovePinnedLeavesOtherLinksAlone: RemovePinned removes only cgroup
// device filters; another tool's link pinned in the same directory stays.
func TestRemovePinnedLeavesOtherLinksAlone(t *testing.T) {
	root := cgroupRoot(t)
	cg := newCgroup(t, root, "other")
	dir := bpffs(t)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.CGroupSKB, License: "GPL",
		Instructions: asm.Instructions{asm.LoadImm(asm.R0, 1, asm.DWord), asm.Return()},
	})
	require.NoError(t, err)
	defer prog.Close()
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: ebpf.AttachCGroupInetEgress, Program: prog})
	require.NoError(t, err)
	defer l.Close()
	pinPath := filepath.Join(dir, "someone-else")
	require.NoError(t, l.Pin(pinPath))
	defer func() { _ = l.Unpin() }()

	err = RemovePinned(pinPath)
	assert.ErrorContains(t, err, "is not a cgroup device filter: left alone")
	assert.FileExists(t, pinPath)
}
