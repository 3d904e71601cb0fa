package nvml

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testUVMMajor  = 510
	testCapsMajor = 235
)

// fakeProc writes the two files the node table reads, as the driver would
// on a DGX A100: nvidia-uvm and nvidia-caps majors, and a mig-minors table
// (in the driver's layout: nine minors per GPU instance, the GI's access
// node then its eight CIs', after config 1 and monitor 2).
func fakeProc(t *testing.T, gpus int) string {
	t.Helper()
	dir := t.TempDir()
	devices := fmt.Sprintf("Character devices:\n  1 mem\n195 nvidia-frontend\n%d nvidia-uvm\n%d nvidia-caps\n\nBlock devices:\n  8 sd\n", testUVMMajor, testCapsMajor)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "devices"), []byte(devices), 0o644))
	var minors strings.Builder
	minors.WriteString("config 1\nmonitor 2\n")
	next := 3
	for gpu := range gpus {
		for gi := range 15 {
			fmt.Fprintf(&minors, "gpu%d/gi%d/access %d\n", gpu, gi, next)
			next++
			for ci := range 8 {
				fmt.Fprintf(&minors, "gpu%d/gi%d/ci%d/access %d\n", gpu, gi, ci, next)
				next++
			}
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "driver/nvidia-caps"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, migMinorsRelPath), []byte(minors.String()), 0o444))
	return dir
}

// newServer is go-nvml's DGX A100 mock with the calls it does not mock
// filled in the way a bare-metal (non-vGPU-host) driver answers them.
func newServer(t *testing.T) *dgxa100.Server {
	t.Helper()
	server := dgxa100.New()
	for _, d := range server.Devices {
		dev := d.(*dgxa100.Device)
		dev.GetVgpuSchedulerCapabilitiesFunc = func() (nvml.VgpuSchedulerCapabilities, nvml.Return) {
			return nvml.VgpuSchedulerCapabilities{}, nvml.ERROR_NOT_SUPPORTED
		}
		dev.GetVgpuSchedulerStateFunc = func() (nvml.VgpuSchedulerGetState, nvml.Return) {
			return nvml.VgpuSchedulerGetState{}, nvml.ERROR_NOT_SUPPORTED
		}
		dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.SUCCESS }
		dev.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
			return nil, nvml.ERROR_NOT_FOUND
		}
		dev.GetAccountingModeFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_DISABLED, nvml.SUCCESS }
	}
	return server
}

func device(s *dgxa100.Server, i int) *dgxa100.Device { return s.Devices[i].(*dgxa100.Device) }

func open(t *testing.T, server *dgxa100.Server) *Manager {
	t.Helper()
	m, err := Open(server, Options{ProcRoot: fakeProc(t, len(server.Devices)), DevRoot: "/dev"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, m.Close()) })
	return m
}

// migOn turns MIG mode on for GPU i of m and returns its UUID.
func migOn(t *testing.T, m *Manager, i int) string {
	t.Helper()
	uuid := m.GPUs()[i].UUID
	_, err := m.SetMIGMode(uuid, true)
	require.NoError(t, err)
	return uuid
}

func TestDiscoveryDGXA100(t *testing.T) {
	server := newServer(t)
	// The mock gives only the PCI device id; fill in the rest for GPU 0 as
	// the driver reports it.
	dev0 := device(server, 0)
	dev0.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		p := nvml.PciInfo{Domain: 0, Bus: 0x07, Device: 0, PciDeviceId: 0x20B010DE, PciSubSystemId: 0x134F10DE}
		for i, c := range "00000000:07:00.0" {
			p.BusId[i] = int8(c)
		}
		return p, nvml.SUCCESS
	}
	m := open(t, server)

	gpus := m.GPUs()
	require.Len(t, gpus, 8)
	for i, g := range gpus {
		assert.Equal(t, i, g.Index)
		assert.Equal(t, device(server, i).UUID, g.UUID)
		assert.Equal(t, "Mock NVIDIA A100-SXM4-40GB", g.Name)
		assert.Equal(t, i, g.Minor)
		assert.Equal(t, uint64(40960)<<20, g.MemoryBytes)
		assert.Equal(t, uint32(0x20B010DE), g.PCI.DeviceID)
		assert.Equal(t, MIGState{Capable: true}, g.MIG, "MIG-capable, off")
		assert.Nil(t, g.Scheduler)
		assert.ErrorIs(t, g.SchedulerErr, ErrNotSupported)
		assert.ErrorIs(t, g.SchedulerErr, nvml.ERROR_NOT_SUPPORTED)
		assert.Contains(t, g.SchedulerErr.Error(), "nvmlDeviceGetVgpuSchedulerCapabilities on "+g.UUID+": ERROR_NOT_SUPPORTED")
	}
	assert.Equal(t, "00000000:07:00.0", gpus[0].PCI.BusID)
	assert.Equal(t, uint32(7), gpus[0].PCI.Bus)

	// With MIG off, a GPU is offered as time-slice shares.
	var names []string
	for _, p := range gpus[0].Profiles {
		names = append(names, p.Name)
		assert.Equal(t, TimeSlice, p.Kind)
		assert.Equal(t, gpus[0].MemoryBytes/uint64(p.Divisor), p.MemoryBytes)
	}
	assert.Equal(t, []string{"ts-1/1", "ts-1/2", "ts-1/4", "ts-1/8"}, names)

	// With MIG on, as MIG profiles named as nvidia-smi names them.
	state, err := m.SetMIGMode(gpus[0].UUID, true)
	require.NoError(t, err)
	assert.Equal(t, MIGState{Capable: true, Enabled: true, Pending: true}, state)
	g := m.GPUs()[0]
	names = names[:0]
	for _, p := range g.Profiles {
		names = append(names, p.Name)
		assert.Equal(t, MIG, p.Kind)
	}
	assert.Equal(t, []string{"1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb", "1g.5gb+me", "1g.10gb"}, names)
	p, ok := g.Profile("3g.20gb")
	require.True(t, ok)
	assert.Equal(t, uint64(19968)<<20, p.MemoryBytes)
	assert.Equal(t, uint32(3), p.Slices)
	assert.Equal(t, uint32(42), p.Multiprocessors)
	assert.Equal(t, []Placement{{0, 4}, {4, 4}}, p.Placements)
}

func TestMIGCreateDestroy(t *testing.T) {
	server := newServer(t)
	m := open(t, server)
	uuid := migOn(t, m, 2)
	dev := device(server, 2)

	a, err := m.Allocate(uuid, "tenant-a", "3g.20gb")
	require.NoError(t, err)
	assert.Equal(t, MIG, a.Kind)
	assert.Equal(t, Placement{0, 4}, a.Placement)
	assert.Equal(t, uint64(19968)<<20, a.MemoryBytes)
	require.Len(t, dev.GpuInstances, 1, "one GPU instance on the device")
	for gi := range dev.GpuInstances {
		assert.Len(t, gi.ComputeInstances, 1, "with one compute instance")
		for ci := range gi.ComputeInstances {
			assert.Equal(t, uint32(nvml.COMPUTE_INSTANCE_PROFILE_3_SLICE), ci.Info.ProfileId, "spanning the whole GI")
		}
	}
	// GPU minor 2, GI 0, CI 0: the caps minors come from the mig-minors
	// table (gpu2/gi0/access is 3 + 2*135 = 273, its ci0 is 274).
	assert.Equal(t, []DeviceNode{
		{Path: "/dev/nvidiactl", Major: 195, Minor: 255, Access: "rw"},
		{Path: "/dev/nvidia2", Major: 195, Minor: 2, Access: "rw"},
		{Path: "/dev/nvidia-uvm", Major: testUVMMajor, Minor: 0, Access: "rw"},
		{Path: "/dev/nvidia-uvm-tools", Major: testUVMMajor, Minor: 1, Access: "rw"},
		{Path: "/dev/nvidia-caps/nvidia-cap273", Major: testCapsMajor, Minor: 273, Access: "rw"},
		{Path: "/dev/nvidia-caps/nvidia-cap274", Major: testCapsMajor, Minor: 274, Access: "rw"},
	}, a.Nodes)

	b, err := m.Allocate(uuid, "tenant-b", "3g.20gb")
	require.NoError(t, err)
	assert.Equal(t, Placement{4, 4}, b.Placement, "the next free placement")
	assert.Equal(t, "/dev/nvidia-caps/nvidia-cap282", b.Nodes[4].Path, "GI 1's access node")

	_, err = m.Allocate(uuid, "tenant-c", "1g.5gb")
	require.ErrorIs(t, err, ErrNoCapacity)
	assert.Contains(t, err.Error(), `for domain "tenant-c"`)
	assert.Len(t, dev.GpuInstances, 2, "a refused allocation creates nothing")

	require.NoError(t, m.Release(a.ID))
	assert.Len(t, dev.GpuInstances, 1, "GPU instance destroyed")
	c, err := m.Allocate(uuid, "tenant-c", "1g.5gb")
	require.NoError(t, err)
	assert.Equal(t, Placement{0, 1}, c.Placement, "the freed slices are reused")

	assert.Equal(t, []string{"tenant-b", "tenant-c"}, domainsOf(m.Allocations("")))
	assert.Len(t, m.Allocations("tenant-b"), 1)

	err = m.Release(a.ID)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no such allocation")

	// MIG mode cannot change under live allocations.
	_, err = m.SetMIGMode(uuid, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "still exists")
}

func domainsOf(as []Allocation) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Domain)
	}
	slicesSort(out)
	return out
}

func TestMIGErrorsNamed(t *testing.T) {
	server := newServer(t)
	m := open(t, server)
	uuid := migOn(t, m, 0)
	dev := device(server, 0)

	// The driver refuses the GPU instance.
	dev.CreateGpuInstanceWithPlacementFunc = func(*nvml.GpuInstanceProfileInfo, *nvml.GpuInstancePlacement) (nvml.GpuInstance, nvml.Return) {
		return nil, nvml.ERROR_INSUFFICIENT_RESOURCES
	}
	_, err := m.Allocate(uuid, "d", "2g.10gb")
	require.ErrorIs(t, err, nvml.ERROR_INSUFFICIENT_RESOURCES)
	var nerr *Error
	require.ErrorAs(t, err, &nerr)
	assert.Equal(t, "nvmlDeviceCreateGpuInstanceWithPlacement", nerr.Op)
	assert.Contains(t, err.Error(), "ERROR_INSUFFICIENT_RESOURCES")
	assert.Contains(t, err.Error(), uuid)

	// The compute instance fails: the GPU instance is rolled back.
	dev.SetMockFuncs()
	server2 := dev // keep the device's own bookkeeping
	dev.CreateGpuInstanceWithPlacementFunc = func(info *nvml.GpuInstanceProfileInfo, pl *nvml.GpuInstancePlacement) (nvml.GpuInstance, nvml.Return) {
		gi := dgxa100.NewGpuInstance(nvml.GpuInstanceInfo{Device: server2, Id: 5, ProfileId: info.Id, Placement: *pl})
		gi.CreateComputeInstanceFunc = func(*nvml.ComputeInstanceProfileInfo) (nvml.ComputeInstance, nvml.Return) {
			return nil, nvml.ERROR_NO_PERMISSION
		}
		server2.GpuInstances[gi] = struct{}{}
		return gi, nvml.SUCCESS
	}
	_, err = m.Allocate(uuid, "d", "2g.10gb")
	require.ErrorIs(t, err, nvml.ERROR_NO_PERMISSION)
	assert.Contains(t, err.Error(), "nvmlGpuInstanceCreateComputeInstance on "+uuid+": ERROR_NO_PERMISSION")
	assert.Empty(t, dev.GpuInstances, "the GPU instance was destroyed again")

	// Destroy refused while processes run: the allocation stays.
	dev.SetMockFuncs()
	a, err := m.Allocate(uuid, "d", "2g.10gb")
	require.NoError(t, err)
	m.allocs[a.ID].ci.(*dgxa100.ComputeInstance).DestroyFunc = func() nvml.Return { return nvml.ERROR_IN_USE }
	err = m.Release(a.ID)
	require.ErrorIs(t, err, nvml.ERROR_IN_USE)
	assert.Contains(t, err.Error(), "nvmlComputeInstanceDestroy on "+uuid+": ERROR_IN_USE")
	assert.Len(t, m.Allocations("d"), 1)

	// Unknown GPU and profile.
	_, err = m.Allocate("GPU-nope", "d", "1g.5gb")
	require.ErrorIs(t, err, ErrUnknownGPU)
	_, err = m.Allocate(uuid, "d", "9g.99gb")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"9g.99gb" for domain "d"`)
	assert.Contains(t, err.Error(), "1g.5gb")
	_, err = m.Allocate(uuid, "", "1g.5gb")
	require.Error(t, err)

	// MIG on a GPU that has none.
	dev7 := device(server, 7)
	dev7.GetMigModeFunc = func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED }
	m2 := open(t, server)
	_, err = m2.SetMIGMode(dev7.UUID, true)
	require.ErrorIs(t, err, ErrNotSupported)
	assert.False(t, m2.GPUs()[7].MIG.Capable)

	// Discovery failing names the call.
	device(server, 3).GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST }
	_, err = Open(server, Options{ProcRoot: fakeProc(t, 8)})
	require.ErrorIs(t, err, nvml.ERROR_GPU_IS_LOST)
	assert.Contains(t, err.Error(), "nvmlDeviceGetMemoryInfo on "+device(server, 3).UUID+": ERROR_GPU_IS_LOST")
}

func TestMIGNodesNeedTheDriverTable(t *testing.T) {
	server := newServer(t)
	proc := fakeProc(t, 8)
	require.NoError(t, os.Remove(filepath.Join(proc, migMinorsRelPath)))
	m, err := Open(server, Options{ProcRoot: proc})
	require.NoError(t, err)
	uuid := m.GPUs()[0].UUID
	_, err = m.SetMIGMode(uuid, true)
	require.NoError(t, err)
	_, err = m.Allocate(uuid, "d", "1g.5gb")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MIG capability minors unavailable")
	assert.Empty(t, device(server, 0).GpuInstances, "rolled back")
}

func TestTimeSliceShares(t *testing.T) {
	server := newServer(t)
	m := open(t, server)
	uuid := m.GPUs()[1].UUID

	half, err := m.Allocate(uuid, "a", "ts-1/2")
	require.NoError(t, err)
	assert.Equal(t, TimeSlice, half.Kind)
	assert.Equal(t, uint64(20480)<<20, half.MemoryBytes)
	assert.Equal(t, DeviceNode{Path: "/dev/nvidia1", Major: 195, Minor: 1, Access: "rw"}, half.Nodes[1])
	_, err = m.Allocate(uuid, "b", "ts-1/4")
	require.NoError(t, err)
	q2, err := m.Allocate(uuid, "c", "ts-1/4")
	require.NoError(t, err)
	_, err = m.Allocate(uuid, "d", "ts-1/8")
	require.ErrorIs(t, err, ErrNoCapacity)
	assert.Contains(t, err.Error(), "1 of the GPU is given out already")
	require.NoError(t, m.Release(q2.ID))
	_, err = m.Allocate(uuid, "d", "ts-1/8")
	require.NoError(t, err)

	_, err = Open(server, Options{ProcRoot: fakeProc(t, 8), TimeSliceDivisors: []uint32{11}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "time-slice divisor 11")
}

func TestVGPUScheduler(t *testing.T) {
	server := newServer(t)
	dev := device(server, 4)
	caps := nvml.VgpuSchedulerCapabilities{
		SupportedSchedulers: [3]uint32{nvml.VGPU_SCHEDULER_POLICY_BEST_EFFORT, nvml.VGPU_SCHEDULER_POLICY_EQUAL_SHARE, nvml.VGPU_SCHEDULER_POLICY_FIXED_SHARE},
		MinTimeslice:        1_000_000, MaxTimeslice: 30_000_000,
		IsArrModeSupported: 1, MinFrequencyForARR: 100, MaxFrequencyForARR: 960, MinAvgFactorForARR: 1, MaxAvgFactorForARR: 60,
	}
	dev.GetVgpuSchedulerCapabilitiesFunc = func() (nvml.VgpuSchedulerCapabilities, nvml.Return) { return caps, nvml.SUCCESS }
	var current nvml.VgpuSchedulerGetState
	dev.GetVgpuSchedulerStateFunc = func() (nvml.VgpuSchedulerGetState, nvml.Return) { return current, nvml.SUCCESS }
	var sets []nvml.VgpuSchedulerSetState
	dev.SetVgpuSchedulerStateFunc = func(s *nvml.VgpuSchedulerSetState) nvml.Return {
		sets = append(sets, *s)
		// The driver stores what it is given; with ARR the slice it reports
		// is its own choice (here 2 ms).
		current = nvml.VgpuSchedulerGetState{SchedulerPolicy: s.SchedulerPolicy, ArrMode: s.EnableARRMode}
		if s.EnableARRMode == nvml.VGPU_SCHEDULER_ARR_ENABLE {
			copy(current.SchedulerParams[0:4], s.SchedulerParams[0:4])
			copy(current.SchedulerParams[4:8], []byte{0x80, 0x84, 0x1e, 0x00}) // 2_000_000 little-endian
		} else {
			current.SchedulerParams = s.SchedulerParams
		}
		return nvml.SUCCESS
	}
	m := open(t, server)
	g := m.GPUs()[4]
	require.NotNil(t, g.Scheduler)
	assert.Equal(t, []SchedulerPolicy{BestEffort, EqualShare, FixedShare}, g.Scheduler.Policies)
	assert.Equal(t, time.Millisecond, g.Scheduler.MinTimeslice)
	assert.True(t, g.Scheduler.ARRSupported)

	require.NoError(t, m.SetSchedulerState(g.UUID, SchedulerState{Policy: FixedShare, Timeslice: 5 * time.Millisecond}))
	st, err := m.SchedulerState(g.UUID)
	require.NoError(t, err)
	assert.Equal(t, SchedulerState{Policy: FixedShare, Timeslice: 5 * time.Millisecond}, st)

	require.NoError(t, m.SetSchedulerState(g.UUID, SchedulerState{Policy: EqualShare, ARR: true, AvgFactor: 33, Frequency: 480}))
	st, err = m.SchedulerState(g.UUID)
	require.NoError(t, err)
	assert.Equal(t, SchedulerState{Policy: EqualShare, ARR: true, AvgFactor: 33, Timeslice: 2 * time.Millisecond}, st)
	require.Len(t, sets, 2)
	assert.Equal(t, uint32(nvml.VGPU_SCHEDULER_ARR_ENABLE), sets[1].EnableARRMode)

	for _, bad := range []struct {
		s    SchedulerState
		want string
	}{
		{SchedulerState{Policy: FixedShare, Timeslice: 31 * time.Millisecond}, "time slice 31ms is outside [1ms, 30ms]"},
		{SchedulerState{Policy: EqualShare, ARR: true, AvgFactor: 61, Frequency: 480}, "averaging factor 61 is outside [1, 60]"},
		{SchedulerState{Policy: EqualShare, ARR: true, AvgFactor: 1, Frequency: 50}, "ARR frequency 50 is outside [100, 960]"},
		{SchedulerState{Policy: 9}, "SchedulerPolicy(9) is not offered (offered: best-effort, equal-share, fixed-share)"},
	} {
		err := m.SetSchedulerState(g.UUID, bad.s)
		require.Error(t, err)
		assert.Contains(t, err.Error(), bad.want)
	}
	assert.Len(t, sets, 2, "invalid states never reach the driver")

	// The driver refuses (a VM is running): named.
	dev.SetVgpuSchedulerStateFunc = func(*nvml.VgpuSchedulerSetState) nvml.Return { return nvml.ERROR_NOT_SUPPORTED }
	err = m.SetSchedulerState(g.UUID, SchedulerState{Policy: BestEffort})
	require.ErrorIs(t, err, ErrNotSupported)
	assert.Contains(t, err.Error(), "nvmlDeviceSetVgpuSchedulerState on "+g.UUID+": ERROR_NOT_SUPPORTED")

	// A GPU without the vGPU scheduler says so clearly.
	other := m.GPUs()[0]
	err = m.SetSchedulerState(other.UUID, SchedulerState{Policy: BestEffort})
	require.ErrorIs(t, err, ErrNotSupported)
	assert.Contains(t, err.Error(), "not supported on this device/driver")
	_, err = m.SchedulerState(other.UUID)
	require.ErrorIs(t, err, ErrNotSupported)
}

func TestSampleAndAggregate(t *testing.T) {
	server := newServer(t)
	d0, d1 := device(server, 0), device(server, 1)
	d0.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: 100, UsedGpuMemory: 1 << 30}, {Pid: 101, UsedGpuMemory: 2 << 30}, {Pid: 200, UsedGpuMemory: 512 << 20}, {Pid: 999, UsedGpuMemory: 1 << 20}}, nvml.SUCCESS
	}
	var asked []uint64
	d0.GetProcessUtilizationFunc = func(since uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		asked = append(asked, since)
		return []nvml.ProcessUtilizationSample{
			{Pid: 100, TimeStamp: 10, SmUtil: 5}, {Pid: 100, TimeStamp: 20, SmUtil: 30, MemUtil: 7},
			{Pid: 101, TimeStamp: 15, SmUtil: 40}, {Pid: 200, TimeStamp: 18, SmUtil: 10},
		}, nvml.SUCCESS
	}
	// GPU 1 has no per-process samples but accounting is on.
	d1.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: 102, UsedGpuMemory: 4 << 30}, {Pid: 103, UsedGpuMemory: 1 << 30}}, nvml.SUCCESS
	}
	d1.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
	d1.GetAccountingModeFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_ENABLED, nvml.SUCCESS }
	d1.GetAccountingStatsFunc = func(pid uint32) (nvml.AccountingStats, nvml.Return) {
		if pid == 103 {
			return nvml.AccountingStats{}, nvml.ERROR_NOT_FOUND // started before accounting was on
		}
		return nvml.AccountingStats{GpuUtilization: 70, MemoryUtilization: 20}, nvml.SUCCESS
	}
	m := open(t, server)

	procs, err := m.Sample()
	require.NoError(t, err)
	require.Len(t, procs, 6)
	assert.Equal(t, ProcessUsage{PID: 100, GPU: d0.UUID, MemoryBytes: 1 << 30, SMPercent: 30, MemPercent: 7, UtilizationKnown: true}, procs[0], "newest sample wins")
	assert.Equal(t, ProcessUsage{PID: 102, GPU: d1.UUID, MemoryBytes: 4 << 30, SMPercent: 70, MemPercent: 20, UtilizationKnown: true}, procs[4], "from accounting")
	assert.False(t, procs[5].UtilizationKnown)

	_, err = m.Sample()
	require.NoError(t, err)
	assert.Equal(t, []uint64{0, 20}, asked, "the next sample asks from the newest timestamp seen")

	domains := map[uint32]string{100: "a", 101: "a", 102: "a", 103: "a", 200: "b"}
	usage := Aggregate(procs, func(pid uint32) (string, bool) { d, ok := domains[pid]; return d, ok })
	require.Len(t, usage, 3)
	assert.Equal(t, "", usage[0].Domain, "unattributed processes")
	assert.Equal(t, GPUUsage{MemoryBytes: 1 << 20, UtilizationKnown: true, PIDs: []uint32{999}}, usage[0].GPUs[d0.UUID])
	assert.Equal(t, "a", usage[1].Domain)
	assert.Equal(t, GPUUsage{MemoryBytes: 3 << 30, SMPercent: 70, UtilizationKnown: true, PIDs: []uint32{100, 101}}, usage[1].GPUs[d0.UUID])
	assert.Equal(t, GPUUsage{MemoryBytes: 5 << 30, SMPercent: 70, UtilizationKnown: false, PIDs: []uint32{102, 103}}, usage[1].GPUs[d1.UUID])
	assert.Equal(t, GPUUsage{MemoryBytes: 512 << 20, SMPercent: 10, UtilizationKnown: true, PIDs: []uint32{200}}, usage[2].GPUs[d0.UUID])

	// An NVML failure is named.
	d0.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_UNKNOWN }
	_, err = m.Sample()
	require.ErrorIs(t, err, nvml.ERROR_UNKNOWN)
	assert.Contains(t, err.Error(), "nvmlDeviceGetComputeRunningProcesses on "+d0.UUID+": ERROR_UNKNOWN")
}

func TestEnforcement(t *testing.T) {
	var warned []Violation
	var throttled, stopped []Violation
	stopErr := errors.New("kill: no such process")
	failStop := false
	e, err := NewEnforcer(Hooks{
		Warn:     func(v Violation) { warned = append(warned, v) },
		Throttle: func(v Violation) error { throttled = append(throttled, v); return nil },
		Stop: func(v Violation) error {
			stopped = append(stopped, v)
			if failStop {
				return stopErr
			}
			return nil
		},
	})
	require.NoError(t, err)
	require.NoError(t, e.SetQuota("a", "GPU-0", Quota{SMPercent: 25, SMAction: Throttle, Grace: 1}))
	require.NoError(t, e.SetQuota("b", "GPU-0", Quota{MemoryBytes: 1 << 30, MemoryAction: Stop}))
	require.NoError(t, e.SetQuota("c", "GPU-0", Quota{MemoryBytes: 1 << 30, MemoryAction: Warn, SMPercent: 50, SMAction: Stop}))

	usage := func(aSM uint32, bMem uint64) []DomainUsage {
		return []DomainUsage{
			{Domain: "a", GPUs: map[string]GPUUsage{"GPU-0": {SMPercent: aSM, UtilizationKnown: true, PIDs: []uint32{1, 2}}}},
			{Domain: "b", GPUs: map[string]GPUUsage{"GPU-0": {MemoryBytes: bMem, PIDs: []uint32{3}}}},
			{Domain: "c", GPUs: map[string]GPUUsage{"GPU-0": {MemoryBytes: 1 << 30, SMPercent: 50, UtilizationKnown: true, PIDs: []uint32{4}}}},
			{Domain: "d", GPUs: map[string]GPUUsage{"GPU-0": {MemoryBytes: 80 << 30, SMPercent: 100, UtilizationKnown: true}}}, // no quota
		}
	}

	// Sample 1: a over its share (grace 1: warn only), b over memory (stop).
	v := e.Evaluate(usage(50, 2<<30))
	require.Len(t, v, 2)
	assert.Equal(t, Violation{Domain: "a", GPU: "GPU-0", Resource: ResourceSM, Used: 50, Limit: 25, Consecutive: 1, Action: Warn, PauseFraction: 0.5, PIDs: []uint32{1, 2}}, v[0])
	assert.Equal(t, Violation{Domain: "b", GPU: "GPU-0", Resource: ResourceMemory, Used: 2 << 30, Limit: 1 << 30, Consecutive: 1, Action: Stop, PIDs: []uint32{3}}, v[1])
	require.NoError(t, e.Apply(v))
	assert.Len(t, warned, 2, "every violation is reported")
	assert.Empty(t, throttled)
	require.Len(t, stopped, 1)
	assert.Equal(t, []uint32{3}, stopped[0].PIDs)

	// Sample 2: a still over: throttle now, with a pause of 1 - 25/40.
	v = e.Evaluate(usage(40, 0))
	require.Len(t, v, 1)
	assert.Equal(t, Throttle, v[0].Action)
	assert.Equal(t, 2, v[0].Consecutive)
	assert.InDelta(t, 0.375, v[0].PauseFraction, 1e-9)
	require.NoError(t, e.Apply(v))
	require.Len(t, throttled, 1)

	// Sample 3: a back under: the counter resets, and the next excess is
	// warned about first again.
	assert.Empty(t, e.Evaluate(usage(20, 0)))
	v = e.Evaluate(usage(30, 0))
	require.Len(t, v, 1)
	assert.Equal(t, Warn, v[0].Action)
	assert.Equal(t, 1, v[0].Consecutive)

	// A failing hook is reported with its violation; the others still run.
	failStop = true
	warned = warned[:0]
	err = e.Apply([]Violation{{Domain: "b", GPU: "GPU-0", Resource: ResourceMemory, Used: 2, Limit: 1, Action: Stop}, {Domain: "a", GPU: "GPU-0", Resource: ResourceSM, Used: 2, Limit: 1, Action: Warn}})
	require.ErrorIs(t, err, stopErr)
	assert.Contains(t, err.Error(), `domain "b" on GPU-0: memory 2 over limit 1`)
	assert.Len(t, warned, 2)

	// Quotas that cannot be honoured are refused up front.
	err = e.SetQuota("x", "GPU-0", Quota{MemoryBytes: 1, MemoryAction: Throttle})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a paused process keeps its GPU memory")
	err = e.SetQuota("x", "GPU-0", Quota{SMPercent: 101, SMAction: Warn})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "101% is above 100%")
	e2, err := NewEnforcer(Hooks{Warn: func(Violation) {}})
	require.NoError(t, err)
	err = e2.SetQuota("x", "GPU-0", Quota{SMPercent: 10, SMAction: Stop})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "needs the Stop hook")
	_, err = NewEnforcer(Hooks{})
	require.Error(t, err)

	// Clearing a quota.
	require.NoError(t, e.SetQuota("a", "GPU-0", Quota{}))
	assert.Len(t, e.Evaluate(usage(90, 0)), 0)
}

func TestParseNames(t *testing.T) {
	for _, a := range []Action{Warn, Throttle, Stop} {
		got, err := ParseAction(a.String())
		require.NoError(t, err)
		assert.Equal(t, a, got)
	}
	_, err := ParseAction("kill")
	assert.ErrorContains(t, err, `action "kill": want warn, throttle or stop`)
	for _, p := range []SchedulerPolicy{BestEffort, EqualShare, FixedShare} {
		got, err := ParseSchedulerPolicy(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	_, err = ParseSchedulerPolicy("arr")
	assert.Error(t, err)
}

func TestErrorString(t *testing.T) {
	err := check("nvmlDeviceGetUUID", "GPU 3", nvml.ERROR_DRIVER_NOT_LOADED)
	assert.EqualError(t, err, "nvml: nvmlDeviceGetUUID on GPU 3: ERROR_DRIVER_NOT_LOADED (9)")
	assert.ErrorIs(t, err, nvml.ERROR_DRIVER_NOT_LOADED)
	assert.NoError(t, check("x", "", nvml.SUCCESS))
}
