package nvml

// The tests in this file run against the real NVIDIA driver: they skip on a
// machine without one (CI has no GPU) and check, on one that has it, what
// the mock cannot: that discovery agrees with the driver's own tools, that
// the device nodes an allocation lists are the ones on the machine, that a
// CUDA process shows up in Sample with its memory, and that a cgroup
// device filter built from an allocation's nodes lets a CUDA program run
// in the granted cgroup and stops it in another. Run them with
//
//	go test -run RealGPU -v ./backends/gpu/nvml
//	COPROCD_TEST_CUDA_CMD='python3 -c "..."' go test -run RealGPU -v ./backends/gpu/nvml
//
// (the second also checks accounting and enforcement with a CUDA program:
// any command that allocates GPU memory and keeps it for a few seconds).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/isolation/cgroupdev"
)

// openHelperEnv makes the test binary open the paths in its arguments and
// print "ok" or the errno name for each: the process the cgroup tests put
// in a cgroup.
const openHelperEnv = "COPROCD_NVML_OPEN_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(openHelperEnv) == "1" {
		for _, path := range os.Args[1:] {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				var errno syscall.Errno
				if errors.As(err, &errno) {
					fmt.Println(unix.ErrnoName(errno))
				} else {
					fmt.Println(err)
				}
				continue
			}
			f.Close()
			fmt.Println("ok")
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// realNVML opens the machine's NVML, or skips: without the NVIDIA driver
// (libnvidia-ml.so.1 and a GPU) there is nothing real to test.
func realNVML(t *testing.T) *Manager {
	t.Helper()
	lib := nvml.New()
	if ret := lib.Init(); ret != nvml.SUCCESS {
		t.Skipf("no NVIDIA driver on this machine: nvmlInit: %v", nvml.ErrorString(ret))
	}
	require.Equal(t, nvml.SUCCESS, lib.Shutdown())
	m, err := Open(nvml.New(), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, m.Close()) })
	require.NotEmpty(t, m.GPUs(), "nvmlInit succeeded but no GPU was discovered")
	return m
}

// smiGPU is one line of nvidia-smi's own view of a GPU.
type smiGPU struct {
	uuid, name, busID string
	memoryMiB         uint64
}

func nvidiaSMI(t *testing.T) []smiGPU {
	t.Helper()
	path, err := exec.LookPath("nvidia-smi")
	require.NoError(t, err, "the driver is loaded, so nvidia-smi should be installed beside it")
	out, err := exec.Command(path, "--query-gpu=uuid,name,pci.bus_id,memory.total", "--format=csv,noheader,nounits").Output()
	require.NoError(t, err)
	var gpus []smiGPU
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ", ")
		require.Len(t, f, 4, "nvidia-smi line %q", line)
		mib, err := strconv.ParseUint(strings.TrimSpace(f[3]), 10, 64)
		require.NoError(t, err, "memory.total in %q", line)
		gpus = append(gpus, smiGPU{uuid: f[0], name: f[1], busID: f[2], memoryMiB: mib})
	}
	return gpus
}

func TestRealGPUDiscoveryAgreesWithNvidiaSMI(t *testing.T) {
	m := realNVML(t)
	smi := nvidiaSMI(t)
	gpus := m.GPUs()
	require.Len(t, gpus, len(smi), "nvidia-smi sees %d GPUs", len(smi))
	for i, g := range gpus {
		s := smi[i]
		t.Logf("GPU %d: %s %s minor %d, %d MiB, PCI %04x:%02x:%02x, MIG capable %v enabled %v, scheduler err %v, %d profiles",
			g.Index, g.UUID, g.Name, g.Minor, g.MemoryBytes>>20, g.PCI.Domain, g.PCI.Bus, g.PCI.Device, g.MIG.Capable, g.MIG.Enabled, g.SchedulerErr, len(g.Profiles))
		assert.Equal(t, s.uuid, g.UUID)
		assert.Equal(t, s.name, g.Name)
		assert.Equal(t, s.memoryMiB, g.MemoryBytes>>20, "total memory in MiB")
		assert.Equal(t, strings.ToLower(s.busID), strings.ToLower(fmt.Sprintf("%08x:%02x:%02x.0", g.PCI.Domain, g.PCI.Bus, g.PCI.Device)))
		assert.Equal(t, uint32(0x10DE), g.PCI.DeviceID&0xFFFF, "NVIDIA's PCI vendor ID")

		// The GPU's own node is 195:minor on this machine.
		var st unix.Stat_t
		require.NoError(t, unix.Stat(fmt.Sprintf("/dev/nvidia%d", g.Minor), &st))
		assert.Equal(t, uint32(nvidiaMajor), unix.Major(st.Rdev))
		assert.Equal(t, uint32(g.Minor), unix.Minor(st.Rdev))

		if g.MIG.Enabled {
			require.NotEmpty(t, g.Profiles, "MIG is on: the driver offers GPU instance profiles")
			assert.Contains(t, g.Profiles[0].Name, "g.")
		} else {
			for _, d := range DefaultTimeSliceDivisors {
				_, ok := g.Profile(fmt.Sprintf("ts-1/%d", d))
				assert.True(t, ok, "time-slice profile ts-1/%d", d)
			}
		}
		if g.Scheduler == nil {
			assert.ErrorIs(t, g.SchedulerErr, ErrNotSupported, "outside a vGPU host the scheduler is not supported, and says so")
			_, err := m.SchedulerState(g.UUID)
			assert.ErrorIs(t, err, ErrNotSupported)
		}
	}
}

// timeSliceGPU is the first GPU without MIG: the time-slice path, the one
// a GPU is on unless an administrator enabled MIG (these tests leave the
// GPU's mode as it is).
func timeSliceGPU(t *testing.T, m *Manager) GPU {
	t.Helper()
	for _, g := range m.GPUs() {
		if !g.MIG.Enabled {
			return g
		}
	}
	t.Skip("every GPU here has MIG enabled; the time-slice tests need one without (the tests do not change the mode)")
	return GPU{}
}

func TestRealGPUTimeSliceAllocationNodesExist(t *testing.T) {
	m := realNVML(t)
	g := timeSliceGPU(t, m)
	a, err := m.Allocate(g.UUID, "cluster", "ts-1/2")
	require.NoError(t, err)
	b, err := m.Allocate(g.UUID, "infotainment", "ts-1/2")
	require.NoError(t, err)
	_, err = m.Allocate(g.UUID, "adas", "ts-1/4")
	require.ErrorIs(t, err, ErrNoCapacity, "two halves fill the GPU")

	for _, n := range a.Nodes {
		var st unix.Stat_t
		require.NoError(t, unix.Stat(n.Path, &st), "node %s of the allocation", n)
		assert.Equal(t, uint32(unix.S_IFCHR), st.Mode&unix.S_IFMT, "%s is a character device", n.Path)
		assert.Equal(t, n.Major, unix.Major(st.Rdev), "%s major", n.Path)
		assert.Equal(t, n.Minor, unix.Minor(st.Rdev), "%s minor", n.Path)
	}
	assert.Equal(t, a.Nodes, b.Nodes, "time-slice shares of one GPU open the same nodes")
	require.NoError(t, m.Release(a.ID))
	require.NoError(t, m.Release(b.ID))
	c, err := m.Allocate(g.UUID, "adas", "ts-1/1")
	require.NoError(t, err, "released shares are free again")
	require.NoError(t, m.Release(c.ID))
}

// cudaCommand is a CUDA program the accounting and enforcement tests run:
// it must allocate GPU memory and hold it for several seconds.
func cudaCommand(t *testing.T) string {
	t.Helper()
	cmd := os.Getenv("COPROCD_TEST_CUDA_CMD")
	if cmd == "" {
		t.Skip("set COPROCD_TEST_CUDA_CMD to a CUDA program that holds GPU memory for a few seconds (no CUDA toolkit is assumed here)")
	}
	return cmd
}

func TestRealGPUSampleSeesACUDAProcess(t *testing.T) {
	m := realNVML(t)
	cmdline := cudaCommand(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "exec "+cmdline)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := uint32(cmd.Process.Pid)

	var seen *ProcessUsage
	for deadline := time.Now().Add(30 * time.Second); seen == nil && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		procs, err := m.Sample()
		require.NoError(t, err)
		for i := range procs {
			if procs[i].PID == pid && procs[i].MemoryBytes > 0 {
				seen = &procs[i]
			}
		}
	}
	require.NotNil(t, seen, "the CUDA process %d never appeared with memory in Sample; its output: %s", pid, out.String())
	t.Logf("sampled: %+v", *seen)

	usage := Aggregate([]ProcessUsage{*seen}, func(p uint32) (string, bool) { return "tenant", p == pid })
	require.Len(t, usage, 1)
	assert.Equal(t, "tenant", usage[0].Domain)
	assert.Equal(t, seen.MemoryBytes, usage[0].GPUs[seen.GPU].MemoryBytes)
}

// cgroupFor makes a cgroup with a device filter granting rules, or skips
// where this machine cannot (not root, no BPF).
func cgroupFor(t *testing.T, name string, rules []cgroupdev.Rule) string {
	t.Helper()
	if err := cgroupdev.Probe(); err != nil {
		t.Skipf("device filters cannot be loaded here: %v", err)
	}
	root, err := cgroupdev.FindCgroup2()
	if err != nil {
		root = t.TempDir()
		require.NoError(t, cgroupdev.MountCgroup2(root))
		t.Cleanup(func() { _ = unix.Unmount(root, unix.MNT_DETACH) })
	}
	dir := filepath.Join(root, fmt.Sprintf("coprocd-nvml-%d-%s", os.Getpid(), name))
	require.NoError(t, os.Mkdir(dir, 0o755))
	f, err := cgroupdev.Attach(dir, rules, cgroupdev.Options{})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, f.Close())
		for i := 0; i < 50 && os.Remove(dir) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
	return dir
}

// startIn starts cmd directly inside cgroup (clone3 CLONE_INTO_CGROUP).
func startIn(t *testing.T, cgroup string, cmd *exec.Cmd) {
	t.Helper()
	dir, err := os.Open(cgroup)
	require.NoError(t, err)
	defer dir.Close()
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	require.NoError(t, cmd.Start())
}

func openInCgroup(t *testing.T, cgroup string, paths ...string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], paths...)
	cmd.Env = append(os.Environ(), openHelperEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout = &out
	startIn(t, cgroup, cmd)
	require.NoError(t, cmd.Wait())
	var results []string
	for sc := bufio.NewScanner(&out); sc.Scan(); {
		results = append(results, sc.Text())
	}
	return results
}

// baseNodes are the pseudo-devices any process may need (a container
// runtime grants them too).
func baseNodes() []cgroupdev.Rule {
	var rules []cgroupdev.Rule
	for _, minor := range []uint32{3, 5, 8, 9} { // null, zero, random, urandom
		rules = append(rules, cgroupdev.Rule{Type: cgroupdev.Char, Major: 1, Minor: minor, Access: cgroupdev.Read | cgroupdev.Write})
	}
	return rules
}

func TestRealGPUDeviceFilterFromAnAllocation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("cgroup device filters need root (euid %d)", os.Geteuid())
	}
	m := realNVML(t)
	g := timeSliceGPU(t, m)
	alloc, err := m.Allocate(g.UUID, "cluster", "ts-1/2")
	require.NoError(t, err)
	defer func() { assert.NoError(t, m.Release(alloc.ID)) }()

	granted := baseNodes()
	var paths []string
	for _, n := range alloc.Nodes {
		access, err := cgroupdev.ParseAccess(n.Access)
		require.NoError(t, err)
		granted = append(granted, cgroupdev.Rule{Type: cgroupdev.Char, Major: n.Major, Minor: n.Minor, Access: access})
		paths = append(paths, n.Path)
	}
	with := cgroupFor(t, "granted", granted)
	without := cgroupFor(t, "denied", baseNodes())

	for i, r := range openInCgroup(t, with, paths...) {
		assert.Equal(t, "ok", r, "%s in the domain's cgroup", paths[i])
	}
	for i, r := range openInCgroup(t, without, paths...) {
		assert.Equal(t, "EPERM", r, "%s in a cgroup not granted the GPU", paths[i])
	}

	cmdline := os.Getenv("COPROCD_TEST_CUDA_CMD")
	if cmdline == "" {
		t.Log("COPROCD_TEST_CUDA_CMD unset: checked opens of the nodes, not a CUDA program")
		return
	}
	run := func(cgroup string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "exec "+cmdline)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		startIn(t, cgroup, cmd)
		err := cmd.Wait()
		return out.String(), err
	}
	out, err := run(with)
	require.NoError(t, err, "the CUDA program in the granted cgroup: %s", out)
	out, err = run(without)
	require.Error(t, err, "the CUDA program ran without the GPU's nodes: %s", out)
	t.Logf("denied CUDA program said: %s", lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
