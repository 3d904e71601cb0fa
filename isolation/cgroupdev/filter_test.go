package cgroupdev

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The tests run a child process inside the filtered cgroup: this test
// binary, re-executed with helperEnv set, tries each operation it is given
// ("r:/dev/null" opens for reading, "w:..." for writing) and prints one line
// per operation: "ok" or the errno name.
const helperEnv = "COPROCD_CGROUPDEV_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		runHelper(os.Args[1:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(ops []string) {
	for _, op := range ops {
		mode, path, _ := strings.Cut(op, ":")
		flag := os.O_RDONLY
		if mode == "w" {
			flag = os.O_WRONLY
		}
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			var errno syscall.Errno
			if pe, ok := err.(*os.PathError); ok {
				if e, ok := pe.Err.(syscall.Errno); ok {
					errno = e
				}
			}
			fmt.Println(unix.ErrnoName(errno))
			continue
		}
		f.Close()
		fmt.Println("ok")
	}
}

// skipOrFail skips a test that cannot run here, or fails it under CI=true
// (the project's rule: CI has root, cgroup2 and BPF, so a skip there hides
// a regression).
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run under CI=true: %s", reason)
	}
	t.Skip(reason)
}

// cgroupRoot finds a writable cgroup v2 hierarchy, mounting one in a temp
// dir if the machine has none mounted.
func cgroupRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root for cgroup v2 and BPF (euid %d)", os.Geteuid())
	}
	if err := CheckCapabilities(); err != nil {
		skipOrFail(t, "%v", err)
	}
	if root, err := FindCgroup2(); err == nil {
		probe := filepath.Join(root, fmt.Sprintf("coprocd-probe-%d", os.Getpid()))
		if err := os.Mkdir(probe, 0o755); err == nil {
			require.NoError(t, os.Remove(probe))
			return root
		}
	}
	dir := t.TempDir()
	if err := MountCgroup2(dir); err != nil {
		skipOrFail(t, "no writable cgroup v2 hierarchy and cannot mount one: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// newCgroup makes a child cgroup for one domain, removed at the end.
func newCgroup(t *testing.T, root, name string) string {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprintf("coprocd-test-%d-%s-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"), name))
	require.NoError(t, os.Mkdir(dir, 0o755))
	t.Cleanup(func() {
		// The helper processes have exited, but the kernel may not have
		// moved them out yet: retry briefly.
		for i := 0; i < 50; i++ {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("cgroup %s could not be removed", dir)
	})
	return dir
}

// runIn starts the helper directly inside cgroup (clone3 CLONE_INTO_CGROUP:
// it never runs outside it) and returns one result per operation.
func runIn(t *testing.T, cgroup string, ops ...string) []string {
	t.Helper()
	dir, err := os.Open(cgroup)
	require.NoError(t, err)
	defer dir.Close()
	cmd := exec.Command(os.Args[0], ops...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "helper in %s: %s", cgroup, stderr.String())
	var results []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		results = append(results, sc.Text())
	}
	require.Len(t, results, len(ops), "helper output %q", out)
	return results
}

type node struct {
	path         string
	major, minor uint32
}

func charNode(t *testing.T, path string) node {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		skipOrFail(t, "%s is not a character device here (%v)", path, err)
	}
	return node{path: path, major: unix.Major(st.Rdev), minor: unix.Minor(st.Rdev)}
}

func (n node) rule(a Access) Rule { return Rule{Type: Char, Major: n.major, Minor: n.minor, Access: a} }

type testNodes struct{ null, zero, full node }

func nodes(t *testing.T) testNodes {
	return testNodes{charNode(t, "/dev/null"), charNode(t, "/dev/zero"), charNode(t, "/dev/full")}
}

func attach(t *testing.T, cgroup string, rules ...Rule) *Filter {
	t.Helper()
	f, err := Attach(cgroup, rules, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, f.Close()) })
	return f
}

func TestFilterAllowsExactlyTheDomainsNodes(t *testing.T) {
	root := cgroupRoot(t)
	n := nodes(t)
	cgA := newCgroup(t, root, "a")
	cgB := newCgroup(t, root, "b")

	// Domain a owns /dev/null (rw) and may only read /dev/zero; domain b
	// owns /dev/full.
	attach(t, cgA, n.null.rule(Read|Write), n.zero.rule(Read))
	attach(t, cgB, n.full.rule(Read|Write))

	got := runIn(t, cgA, "r:/dev/null", "w:/dev/null", "r:/dev/zero", "w:/dev/zero", "r:/dev/full", "w:/dev/full")
	assert.Equal(t, []string{"ok", "ok", "ok", "EPERM", "EPERM", "EPERM"}, got,
		"domain a: own node rw, read-only node read only, b's node nothing")

	got = runIn(t, cgB, "r:/dev/full", "r:/dev/null", "r:/dev/zero")
	assert.Equal(t, []string{"ok", "EPERM", "EPERM"}, got, "domain b: its own node only")
}

func TestFilterUpdates(t *testing.T) {
	root := cgroupRoot(t)
	n := nodes(t)
	cg := newCgroup(t, root, "d")
	f := attach(t, cg, n.null.rule(Read|Write))

	assert.Equal(t, []string{"ok", "EPERM"}, runIn(t, cg, "r:/dev/null", "r:/dev/zero"))

	require.NoError(t, f.Grant(n.zero.rule(Read)))
	assert.Equal(t, []string{"ok", "ok", "EPERM"}, runIn(t, cg, "r:/dev/null", "r:/dev/zero", "w:/dev/zero"), "after Grant zero r")

	require.NoError(t, f.Grant(n.zero.rule(Read|Write)))
	assert.Equal(t, []string{"ok"}, runIn(t, cg, "w:/dev/zero"), "after widening zero to rw")

	require.NoError(t, f.Revoke(Char, n.null.major, n.null.minor))
	assert.Equal(t, []string{"EPERM", "ok"}, runIn(t, cg, "r:/dev/null", "r:/dev/zero"), "after Revoke null")

	err := f.Revoke(Char, n.null.major, n.null.minor)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not granted")

	// Replace swaps the whole list (a new map and program, one link update).
	before, err := AttachedPrograms(cg)
	require.NoError(t, err)
	require.NoError(t, f.Replace([]Rule{n.full.rule(Read)}))
	assert.Equal(t, []string{"EPERM", "EPERM", "ok"}, runIn(t, cg, "r:/dev/null", "r:/dev/zero", "r:/dev/full"), "after Replace with full r")
	after, err := AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Len(t, after, len(before), "Replace swaps the program, it does not add one")
	assert.Equal(t, []Rule{n.full.rule(Read)}, f.Rules())

	// An invalid replacement leaves the old list in force.
	require.Error(t, f.Replace([]Rule{{Type: Char, Major: 1, Minor: 3}}))
	assert.Equal(t, []string{"ok"}, runIn(t, cg, "r:/dev/full"))
}

// detachLikeAnotherAgent does what a container runtime re-applying its
// device rules does to filters it did not install: list the cgroup-device
// programs on the cgroup and detach each one, by program (BPF_PROG_DETACH,
// runc's way) or, for a bpf_link, through the link (bpftool link detach).
func detachLikeAnotherAgent(t *testing.T, cgroup string) {
	t.Helper()
	ids, err := AttachedPrograms(cgroup)
	require.NoError(t, err)
	require.NotEmpty(t, ids)
	dir, err := os.Open(cgroup)
	require.NoError(t, err)
	defer dir.Close()
	for _, id := range ids {
		prog, err := ebpf.NewProgramFromID(id)
		require.NoError(t, err)
		err = link.RawDetachProgram(link.RawDetachProgramOptions{Target: int(dir.Fd()), Program: prog, Attach: ebpf.AttachCGroupDevice})
		prog.Close()
		if err == nil {
			t.Logf("detached program %d with BPF_PROG_DETACH", id)
			continue
		}
		detached := false
		it := new(link.Iterator)
		for it.Next() {
			l := it.Take()
			info, infoErr := l.Info()
			if infoErr == nil && info.Program == id {
				require.NoError(t, l.Detach(), "detach link of program %d", id)
				t.Logf("detached program %d through its bpf_link", id)
				detached = true
			}
			l.Close()
		}
		require.NoError(t, it.Err())
		require.True(t, detached, "program %d is attached neither by program nor by a link: %v", id, err)
	}
}

func TestFilterReattachesAfterForeignDetach(t *testing.T) {
	root := cgroupRoot(t)
	n := nodes(t)
	cg := newCgroup(t, root, "r")
	f := attach(t, cg, n.null.rule(Read))

	ok, err := f.Attached()
	require.NoError(t, err)
	require.True(t, ok)
	reattached, err := f.Check()
	require.NoError(t, err)
	assert.False(t, reattached, "nothing to do while attached")
	require.Equal(t, []string{"EPERM"}, runIn(t, cg, "r:/dev/zero"))

	detachLikeAnotherAgent(t, cg)
	ok, err = f.Attached()
	require.NoError(t, err)
	assert.False(t, ok, "detected as detached")
	assert.Equal(t, []string{"ok"}, runIn(t, cg, "r:/dev/zero"), "the filter really was gone")

	reattached, err = f.Check()
	require.NoError(t, err)
	assert.True(t, reattached)
	assert.Equal(t, 1, f.Reattachments())
	assert.Equal(t, []string{"ok", "EPERM"}, runIn(t, cg, "r:/dev/null", "r:/dev/zero"), "enforced again")

	// Updates keep working on the re-attached filter.
	require.NoError(t, f.Grant(n.zero.rule(Read)))
	assert.Equal(t, []string{"ok"}, runIn(t, cg, "r:/dev/zero"))
}

func TestWatchReattaches(t *testing.T) {
	root := cgroupRoot(t)
	n := nodes(t)
	cg := newCgroup(t, root, "w")
	f := attach(t, cg, n.null.rule(Read))
	detachLikeAnotherAgent(t, cg)

	ctx, cancel := contextWithCancel()
	defer cancel()
	events := make(chan WatchEvent, 4)
	go Watch(ctx, 5*time.Millisecond, func() []*Filter { return []*Filter{f} }, func(e WatchEvent) { events <- e })
	select {
	case e := <-events:
		assert.Equal(t, WatchEvent{Path: cg, Reattached: true}, e)
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not re-attach within 10s")
	}
	cancel()
	assert.Equal(t, []string{"EPERM"}, runIn(t, cg, "r:/dev/zero"))
}

func TestAttachErrors(t *testing.T) {
	root := cgroupRoot(t)
	cg := newCgroup(t, root, "e")

	_, err := Attach(t.TempDir(), nil, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not in a cgroup v2 hierarchy")

	_, err = Attach(filepath.Join(root, "does-not-exist-coprocd"), nil, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no such file")

	_, err = Attach(cg, []Rule{{Type: 9, Major: 1, Minor: 3, Access: Read}}, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "neither char")

	rules := []Rule{{Type: Char, Major: 1, Minor: 3, Access: Read}, {Type: Char, Major: 1, Minor: 5, Access: Read}}
	_, err = Attach(cg, rules, Options{MaxRules: 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 nodes granted but the allow map holds 1")

	f := attach(t, cg, rules[:1]...)
	_ = f
	f2, err := Attach(cg, rules[:1], Options{MaxRules: 1})
	require.NoError(t, err, "a second filter on one cgroup (allow-multi)")
	err = f2.Grant(rules[1])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "allow map is full")
	require.NoError(t, f2.Close())
	assert.ErrorIs(t, f2.Grant(rules[0]), ErrClosed)
	assert.NoError(t, f2.Close(), "Close twice is fine")

	ids, err := AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Len(t, ids, 1, "the closed filter is detached")
}

func TestProbe(t *testing.T) {
	cgroupRoot(t)
	require.NoError(t, Probe())
}
