package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/backends/gpu/nvml"
	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/isolation/cgroupdev"
)

// withMockNVML makes the daemon open go-nvml's DGX A100 mock server, with a
// fake /proc that names the uvm and caps majors and lists the MIG
// capability minors; customize, when given, adjusts the server (the
// processes it reports, say). The server is the machine's GPUs: every
// daemon the test starts opens the same one, as a restarted daemon finds
// the GPUs as its predecessor left them.
func withMockNVML(t *testing.T, customize ...func(*dgxa100.Server)) *dgxa100.Server {
	t.Helper()
	proc := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(proc, "devices"),
		[]byte("Character devices:\n  1 mem\n195 nvidia-frontend\n508 nvidia-uvm\n509 nvidia-caps\n"), 0o644))
	var minors strings.Builder
	for gi := range 8 {
		fmt.Fprintf(&minors, "gpu0/gi%d/access %d\ngpu0/gi%d/ci0/access %d\n", gi, 3+2*gi, gi, 4+2*gi)
	}
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "driver", "nvidia-caps"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "driver", "nvidia-caps", "mig-minors"), []byte(minors.String()), 0o644))
	server := dgxa100.New()
	for _, d := range server.Devices {
		dev := d.(*dgxa100.Device)
		dev.GetVgpuSchedulerCapabilitiesFunc = func() (gonvml.VgpuSchedulerCapabilities, gonvml.Return) {
			return gonvml.VgpuSchedulerCapabilities{}, gonvml.ERROR_NOT_SUPPORTED
		}
		// What a bare-metal driver answers with no CUDA process running
		// (the mock leaves these unset; accounting calls them).
		dev.GetComputeRunningProcessesFunc = func() ([]gonvml.ProcessInfo, gonvml.Return) { return nil, gonvml.SUCCESS }
		dev.GetProcessUtilizationFunc = func(uint64) ([]gonvml.ProcessUtilizationSample, gonvml.Return) {
			return nil, gonvml.ERROR_NOT_FOUND
		}
		dev.GetAccountingModeFunc = func() (gonvml.EnableState, gonvml.Return) { return gonvml.FEATURE_DISABLED, gonvml.SUCCESS }
	}
	for _, c := range customize {
		c(server)
	}
	old := openNVML
	openNVML = func(opts nvml.Options) (*nvml.Manager, error) {
		opts.ProcRoot = proc
		return nvml.Open(server, opts)
	}
	t.Cleanup(func() { openNVML = old })
	return server
}

// TestNVMLSharesForDomains: with NVML enabled, the GPUs appear among the
// devices, a domain gets a time-slice share with exactly the nodes it
// needs, and the share comes back when the domain goes.
func TestNVMLSharesForDomains(t *testing.T) {
	withMockNVML(t)
	cfg := testConfig(t)
	cfg.NVML.Enabled = true
	r := start(t, cfg)

	var devs []api.Device
	r.call("GET", "/v1/devices", nil, &devs)
	var nvidia []api.Device
	for _, d := range devs {
		if d.Backend == "nvml" {
			nvidia = append(nvidia, d)
		}
	}
	require.Len(t, nvidia, 8, "the DGX A100 mock has eight GPUs")
	assert.Equal(t, "Mock NVIDIA A100-SXM4-40GB", nvidia[0].Model)

	req := api.DomainRequest{Name: "cuda", GPUs: []api.GPURequest{{GPU: "0", Profile: "ts-1/2"}}}
	var dom api.Domain
	code, body := r.call("POST", "/v1/domains", req, &dom)
	require.Equal(t, http.StatusCreated, code, body)
	require.Len(t, dom.GPUs, 1)
	assert.Equal(t, "ts-1/2", dom.GPUs[0].Profile)
	assert.Contains(t, dom.Nodes, "c 195:0 rw", "/dev/nvidia0")
	assert.Contains(t, dom.Nodes, "c 195:255 rw", "/dev/nvidiactl")
	assert.NotContains(t, dom.Nodes, "c 195:1 rw", "not another tenant's GPU")

	// A third half of GPU 0 does not exist.
	code, _ = r.call("POST", "/v1/domains", api.DomainRequest{Name: "b", GPUs: []api.GPURequest{{GPU: "0", Profile: "ts-1/2"}}}, nil)
	require.Equal(t, http.StatusCreated, code)
	code, body = r.call("POST", "/v1/domains", api.DomainRequest{Name: "c", GPUs: []api.GPURequest{{GPU: "0", Profile: "ts-1/2"}}}, nil)
	assert.Equal(t, http.StatusBadRequest, code, body)
	code, body = r.call("POST", "/v1/domains", api.DomainRequest{Name: "d", GPUs: []api.GPURequest{{GPU: "9", Profile: "ts-1/2"}}}, nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `no NVIDIA GPU \"9\" (8 GPUs`)

	code, _ = r.call("DELETE", "/v1/domains/b", nil, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, body = r.call("POST", "/v1/domains", api.DomainRequest{Name: "c", GPUs: []api.GPURequest{{GPU: "0", Profile: "ts-1/2"}}}, nil)
	assert.Equal(t, http.StatusCreated, code, body, "the freed half is available again")
}

func TestNVMLUnavailableIsAClearError(t *testing.T) {
	old := openNVML
	openNVML = func(nvml.Options) (*nvml.Manager, error) { return nil, errors.New("ERROR_LIBRARY_NOT_FOUND") }
	t.Cleanup(func() { openNVML = old })
	cfg := testConfig(t)
	cfg.NVML.Enabled = true
	_, err := New(cfg, nil)
	assert.EqualError(t, err, "nvml.enabled is true but NVML cannot be used: ERROR_LIBRARY_NOT_FOUND")
}

// TestCgroupIsolationReportedOffWithoutBPF: where filters cannot be
// loaded, a domain's cgroup is reported unfenced, with the reason.
func TestCgroupIsolationReportedOffWithoutBPF(t *testing.T) {
	old := probeIsolation
	probeIsolation = func() error { return fmt.Errorf("%w: CAP_BPF", cgroupdev.ErrMissingCapabilities) }
	t.Cleanup(func() { probeIsolation = old })
	cfg := testConfig(t)
	r := start(t, cfg)
	var dom api.Domain
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "ctr", Cgroup: "/sys/fs/cgroup/ctr", DeviceNodes: []string{"c 1:3 rw"}}, &dom)
	require.Equal(t, http.StatusCreated, code, body)
	assert.Contains(t, dom.Isolation, "off: ")
	assert.Contains(t, dom.Isolation, "CAP_BPF")
}

// TestCgroupIsolationEnforced attaches a real device filter to a real
// cgroup for a domain that declares one (root and BPF, as in CI).
func TestCgroupIsolationEnforced(t *testing.T) {
	cg := realCgroup(t, "iso")
	cfg := testConfig(t)
	r := start(t, cfg)
	var dom api.Domain
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "ctr", Cgroup: cg, DeviceNodes: []string{"c 1:3 rw"}}, &dom)
	require.Equal(t, http.StatusCreated, code, body)
	assert.Equal(t, "enforced", dom.Isolation)
	progs, err := cgroupdev.AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Len(t, progs, 1, "our filter is on the cgroup")

	code, _ = r.call("DELETE", "/v1/domains/ctr", nil, nil)
	require.Equal(t, http.StatusNoContent, code)
	progs, err = cgroupdev.AttachedPrograms(cg)
	require.NoError(t, err)
	assert.Empty(t, progs, "and gone with the domain")
}
