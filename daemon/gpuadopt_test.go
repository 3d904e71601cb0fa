package daemon

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/daemon/api"
)

func gpuInstances(s *dgxa100.Server) int {
	return len(s.Devices[0].(*dgxa100.Device).GpuInstances)
}

func domainGPUs(t *testing.T, r *running) map[string][]string {
	t.Helper()
	var doms []api.Domain
	code, body := r.call("GET", "/v1/domains", nil, &doms)
	require.Equal(t, http.StatusOK, code, body)
	out := map[string][]string{}
	for _, d := range doms {
		for _, g := range d.GPUs {
			out[d.Name] = append(out[d.Name], g.ID)
		}
	}
	return out
}

// TestMIGInstancesSurviveRestarts: a restarted daemon takes its domains'
// MIG instances back (the configuration's and the API's), so restarts
// never leak GPU partitions; an instance destroyed meanwhile is replaced.
func TestMIGInstancesSurviveRestarts(t *testing.T) {
	server := withMockNVML(t, func(s *dgxa100.Server) {
		_, ret := s.Devices[0].SetMigMode(gonvml.DEVICE_MIG_ENABLE)
		require.Equal(t, gonvml.SUCCESS, ret)
	})
	cfg := testConfig(t)
	cfg.NVML.Enabled = true
	cfg.Domains = append(cfg.Domains, DomainSpec{Name: "train", GPUs: []GPUSpec{{GPU: "0", Profile: "3g.20gb"}}})

	r := start(t, cfg)
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "infer", GPUs: []api.GPURequest{{GPU: "0", Profile: "2g.10gb"}}}, nil)
	require.Equal(t, http.StatusCreated, code, body)
	first := domainGPUs(t, r)
	require.Len(t, first["train"], 1)
	require.Len(t, first["infer"], 1)
	require.Equal(t, 2, gpuInstances(server))

	// The configuration's instance is in the state file from the start, so
	// that a crash would not lose it either.
	var st savedState
	data, err := os.ReadFile(r.d.state.path())
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &st))
	require.Len(t, st.GPUInstances["train"], 1)
	require.Len(t, st.GPUInstances["infer"], 1)
	require.NoError(t, r.stop())
	assert.Equal(t, 2, gpuInstances(server), "a stopping daemon leaves its tenants' partitions in place")

	r = start(t, cfg)
	assert.Equal(t, first, domainGPUs(t, r), "the same instances, adopted")
	assert.Equal(t, 2, gpuInstances(server), "none added")
	require.NoError(t, r.stop())

	// An instance destroyed while the daemon was down (an operator, a GPU
	// reset) is replaced by a new one.
	dev := server.Devices[0].(*dgxa100.Device)
	for gi := range dev.GpuInstances {
		if info, _ := gi.GetInfo(); info.Id != 0 {
			continue
		}
		for ci := range gi.ComputeInstances {
			require.Equal(t, gonvml.SUCCESS, ci.Destroy())
		}
		require.Equal(t, gonvml.SUCCESS, gi.Destroy())
	}
	r = start(t, cfg)
	after := domainGPUs(t, r)
	assert.Len(t, after["train"], 1)
	assert.Len(t, after["infer"], 1)
	assert.Equal(t, 2, gpuInstances(server), "one replaced, none leaked")
}
