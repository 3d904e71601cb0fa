package daemon

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/daemon/api"
)

// gpuProcess is a process the mock driver reports on GPU 0.
type gpuProcess struct {
	pid    int
	memory uint64
	sm     uint32
}

// mockGPU0Processes makes the mock report procs on GPU 0, with their SM
// utilization samples.
func mockGPU0Processes(procs ...gpuProcess) func(*dgxa100.Server) {
	return func(s *dgxa100.Server) {
		dev := s.Devices[0].(*dgxa100.Device)
		dev.GetComputeRunningProcessesFunc = func() ([]gonvml.ProcessInfo, gonvml.Return) {
			var out []gonvml.ProcessInfo
			for _, p := range procs {
				out = append(out, gonvml.ProcessInfo{Pid: uint32(p.pid), UsedGpuMemory: p.memory, GpuInstanceId: 0xFFFFFFFF, ComputeInstanceId: 0xFFFFFFFF})
			}
			return out, gonvml.SUCCESS
		}
		stamp := uint64(0)
		dev.GetProcessUtilizationFunc = func(uint64) ([]gonvml.ProcessUtilizationSample, gonvml.Return) {
			stamp++
			var out []gonvml.ProcessUtilizationSample
			for _, p := range procs {
				out = append(out, gonvml.ProcessUtilizationSample{Pid: uint32(p.pid), TimeStamp: stamp, SmUtil: p.sm})
			}
			return out, gonvml.SUCCESS
		}
	}
}

// fakeCgroup is a directory shaped like a cgroup v2 one (cgroup.procs,
// cgroup.freeze, a child cgroup) holding the given pids: accounting only
// reads and writes those files, so the logic is tested without root; the
// cgroup filter is off (probeIsolation fails) so nothing is attached.
func fakeCgroup(t *testing.T, pids []int, childPIDs []int) string {
	t.Helper()
	old := probeIsolation
	probeIsolation = func() error { return fmt.Errorf("test: no device filters on a fake cgroup") }
	t.Cleanup(func() { probeIsolation = old })
	dir := filepath.Join(t.TempDir(), "ctr")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "worker"), 0o755))
	write := func(path string, pids []int) {
		var b strings.Builder
		for _, p := range pids {
			fmt.Fprintln(&b, p)
		}
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	write(filepath.Join(dir, "cgroup.procs"), pids)
	write(filepath.Join(dir, "worker", "cgroup.procs"), childPIDs)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0\n"), 0o644))
	return dir
}

// sleeper is a process to stand in for a CUDA program.
func sleeper(t *testing.T) (*exec.Cmd, <-chan error) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, done
}

func killedBySIGKILL(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, what)
		ws := exit.Sys().(syscall.WaitStatus)
		assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "%s: %v", what, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not stopped", what)
	}
}

func metricsText(t *testing.T, r *running) string {
	t.Helper()
	resp, err := r.http.Get("http://coprocd/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestGPUAccountingAttributesAndStops: the processes in a domain's cgroup
// (and below it) are summed into the domain; others go to domain=""; a
// domain over its memory quota with action stop has its GPU processes
// killed, and the violations are counted.
func TestGPUAccountingAttributesAndStops(t *testing.T) {
	main, mainDone := sleeper(t)
	worker, workerDone := sleeper(t)
	outsider, outsiderDone := sleeper(t)
	cgroup := fakeCgroup(t, []int{main.Process.Pid}, []int{worker.Process.Pid})
	withMockNVML(t, mockGPU0Processes(
		gpuProcess{main.Process.Pid, 3 << 30, 50},
		gpuProcess{worker.Process.Pid, 2 << 30, 20},
		gpuProcess{outsider.Process.Pid, 1 << 30, 10},
	))
	cfg := testConfig(t)
	cfg.NVML.Enabled = true
	cfg.NVML.AccountingPeriod = Duration(50 * time.Millisecond)
	r := start(t, cfg)

	req := api.DomainRequest{Name: "ctr", Cgroup: cgroup, GPUs: []api.GPURequest{{GPU: "0", Profile: "ts-1/2",
		Quota: &api.GPUQuota{MemoryBytes: 4 << 30, MemoryAction: "stop", SMPercent: 60, SMAction: "warn"}}}}
	code, body := r.call("POST", "/v1/domains", req, nil)
	require.Equal(t, http.StatusCreated, code, body)

	killedBySIGKILL(t, mainDone, "the domain's process")
	killedBySIGKILL(t, workerDone, "the domain's process in a child cgroup")
	select {
	case err := <-outsiderDone:
		t.Fatalf("a process of no domain was stopped: %v", err)
	default:
	}

	var doms []api.Domain
	code, _ = r.call("GET", "/v1/domains", nil, &doms)
	require.Equal(t, http.StatusOK, code)
	var dom api.Domain
	for _, d := range doms {
		if d.Name == "ctr" {
			dom = d
		}
	}
	require.Len(t, dom.GPUs, 1)
	assert.Equal(t, uint64(5<<30), dom.GPUs[0].MemoryUsed)
	assert.Equal(t, 2, dom.GPUs[0].Processes)
	require.NotNil(t, dom.GPUs[0].SMPercent)
	assert.Equal(t, uint32(70), *dom.GPUs[0].SMPercent)

	m := metricsText(t, r)
	uuid := dom.GPUs[0].UUID
	assert.Contains(t, m, fmt.Sprintf(`coprocd_nvml_domain_memory_bytes{domain="ctr",gpu=%q} 5.36870912e+09`, uuid))
	assert.Contains(t, m, fmt.Sprintf(`coprocd_nvml_domain_memory_bytes{domain="",gpu=%q} 1.073741824e+09`, uuid), "processes of no domain are shown too")
	assert.Contains(t, m, fmt.Sprintf(`coprocd_nvml_domain_processes{domain="ctr",gpu=%q} 2`, uuid))
	assert.Contains(t, m, fmt.Sprintf(`coprocd_nvml_domain_sm_utilization_percent{domain="ctr",gpu=%q} 70`, uuid))
	assert.Contains(t, m, fmt.Sprintf(`coprocd_nvml_quota_violations_total{action="stop",domain="ctr",gpu=%q,resource="memory"}`, uuid))
	assert.Contains(t, m, fmt.Sprintf(`coprocd_nvml_quota_violations_total{action="warn",domain="ctr",gpu=%q,resource="sm"}`, uuid))

	// A destroyed domain's violation series end with it (domains come and
	// go through the API: the series must not pile up).
	code, body = r.call("DELETE", "/v1/domains/ctr", nil, nil)
	require.Less(t, code, 300, body)
	assert.NotContains(t, metricsText(t, r), `coprocd_nvml_quota_violations_total{action="warn",domain="ctr"`)
}

func readFreeze(t *testing.T, cgroup string) string {
	b, err := os.ReadFile(filepath.Join(cgroup, "cgroup.freeze"))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// TestGPUAccountingThrottles: a domain over its SM share with action
// throttle is warned for its grace samples, then frozen for part of each
// period and thawed again; stopping the daemon never leaves it frozen.
func TestGPUAccountingThrottles(t *testing.T) {
	proc, _ := sleeper(t)
	cgroup := fakeCgroup(t, []int{proc.Process.Pid}, nil)
	withMockNVML(t, mockGPU0Processes(gpuProcess{proc.Process.Pid, 1 << 30, 80}))
	cfg := testConfig(t)
	cfg.NVML.Enabled = true
	cfg.NVML.AccountingPeriod = Duration(100 * time.Millisecond)
	cfg.Domains = append(cfg.Domains, DomainSpec{Name: "ctr", Cgroup: cgroup, GPUs: []GPUSpec{{GPU: "0", Profile: "ts-1/2",
		Quota: &GPUQuota{SMPercent: 40, SMAction: "throttle", Grace: 1}}}})
	r := start(t, cfg)

	// 80% used against 40%: frozen for half of each period.
	require.Eventually(t, func() bool { return readFreeze(t, cgroup) == "1" }, 5*time.Second, time.Millisecond, "frozen once over quota past its grace")
	require.Eventually(t, func() bool { return readFreeze(t, cgroup) == "0" }, 5*time.Second, time.Millisecond, "thawed within the period")
	m := metricsText(t, r)
	assert.Contains(t, m, `resource="sm"} 1`, "the first sample, within grace, is a warning")
	assert.Regexp(t, `coprocd_nvml_quota_violations_total\{action="throttle",domain="ctr",gpu="[^"]+",resource="sm"\} [1-9]`, m)

	require.Eventually(t, func() bool { return readFreeze(t, cgroup) == "1" }, 5*time.Second, time.Millisecond)
	require.NoError(t, r.stop())
	assert.Equal(t, "0", readFreeze(t, cgroup), "a stopping daemon thaws what it froze")
}

func TestGPUQuotaConfigErrors(t *testing.T) {
	base := "nvml:\n  enabled: true\ndomains:\n  - name: ctr\n"
	for _, tc := range []struct{ yaml, want string }{
		{base + "    gpus:\n      - gpu: 0\n        profile: ts-1/2\n        quota: {memory: 1GiB, memory_action: stop}\n",
			`line 8: domain "ctr": GPU 0: a quota needs the domain's cgroup`},
		{base + "    cgroup: /sys/fs/cgroup/ctr\n    gpus:\n      - gpu: 0\n        profile: ts-1/2\n        quota: {memory: 1GiB, memory_action: throttle}\n",
			"memory action throttle: a paused process keeps its GPU memory"},
		{base + "    cgroup: /sys/fs/cgroup/ctr\n    gpus:\n      - gpu: 0\n        profile: ts-1/2\n        quota: {sm_percent: 150}\n",
			"SM share 150% is above 100%"},
		{base + "    cgroup: /sys/fs/cgroup/ctr\n    gpus:\n      - gpu: 0\n        profile: ts-1/2\n        quota: {sm_percent: 50, sm_action: pause}\n",
			`"pause"`},
		{base + "    cgroup: /sys/fs/cgroup/ctr\n    gpus:\n      - gpu: 0\n        profile: ts-1/2\n        quota: {grace: 2}\n",
			"a quota needs memory or sm_percent"},
	} {
		_, err := ParseConfig([]byte(tc.yaml), "test.yaml")
		require.Error(t, err, tc.yaml)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestCgroupPIDs(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("30\n10\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a", "b", "cgroup.procs"), []byte("20\n"), 0o644))
	pids, err := cgroupPIDs(dir)
	require.NoError(t, err)
	assert.Equal(t, []uint32{10, 20, 30}, pids)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "a", "cgroup.procs"), []byte("12x\n"), 0o644))
	_, err = cgroupPIDs(dir)
	assert.ErrorContains(t, err, `a/cgroup.procs: "12x" is not a process ID`)
	_, err = cgroupPIDs(filepath.Join(dir, "gone"))
	assert.ErrorContains(t, err, "reading the processes of cgroup")
}

// TestGPUQuotaOnOneOfTwoSharesIsRefused: usage is measured per domain and
// GPU, so a quota on a GPU where the domain has two shares cannot tell
// them apart; it is refused, with the reason, and nothing is allocated.
func TestGPUQuotaOnOneOfTwoSharesIsRefused(t *testing.T) {
	proc, _ := sleeper(t)
	cgroup := fakeCgroup(t, []int{proc.Process.Pid}, nil)
	withMockNVML(t, mockGPU0Processes())
	cfg := testConfig(t)
	cfg.NVML.Enabled = true
	r := start(t, cfg)
	req := api.DomainRequest{Name: "ctr", Cgroup: cgroup, GPUs: []api.GPURequest{
		{GPU: "0", Profile: "ts-1/2", Quota: &api.GPUQuota{SMPercent: 40, SMAction: "warn"}},
		{GPU: "0", Profile: "ts-1/2"},
	}}
	code, body := r.call("POST", "/v1/domains", req, nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "quotas are per domain and GPU")
	// Both time slices are free again: a domain may take them (a refused
	// domain's shares once leaked here).
	req.GPUs[0].Quota = nil
	code, body = r.call("POST", "/v1/domains", req, nil)
	assert.Equal(t, http.StatusCreated, code, body)
}
