package daemon

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"testing"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/internal/testutil"
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
	server, cfg := migTrainConfig(t)

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

// TestSavedMIGInstanceNotOursIsLeftAlone: a saved instance whose GPU
// instance ID now names an instance at another placement (another agent's,
// made after a GPU reset), or one saved by an older coprocd without its
// placement, is not adopted: the domain gets a new instance, and the old
// one stays on the GPU, reported as held by no domain, so that removing
// the domain can never destroy another agent's partition.
func TestSavedMIGInstanceNotOursIsLeftAlone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(*savedGPUInstance)
		warn   string
	}{
		{"another placement", func(s *savedGPUInstance) { s.Placement.Start += s.Placement.Size },
			"replaced by another instance with its IDs"},
		{"state file without placements", func(s *savedGPUInstance) { s.Placement = nil },
			"saved MIG instance has no placement (state file of an older coprocd): not adopted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, cfg := migTrainConfig(t)
			r := start(t, cfg)
			r.d.mu.Lock()
			old := *r.d.domains["train"].iso.gpus[0]
			r.d.mu.Unlock()
			require.NoError(t, r.stop())

			var st savedState
			data, err := os.ReadFile(r.d.state.path())
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(data, &st))
			require.Len(t, st.GPUInstances["train"], 1)
			saved := &st.GPUInstances["train"][0]
			require.Equal(t, &savedPlacement{Start: old.Placement.Start, Size: old.Placement.Size}, saved.Placement, "the placement is recorded")
			tc.tamper(saved)
			data, err = json.Marshal(st)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(r.d.state.path(), data, 0o600))

			var logged testutil.SyncBuffer
			d, err := New(cfg, slog.New(slog.NewTextHandler(&logged, nil)))
			require.NoError(t, err)
			d.mu.Lock()
			now := *d.domains["train"].iso.gpus[0]
			d.mu.Unlock()
			assert.NotEqual(t, old.GPUInstanceID, now.GPUInstanceID, "a new instance, not the saved one")
			assert.Equal(t, 2, gpuInstances(server), "the old instance is left on the GPU")
			assert.Contains(t, logged.String(), tc.warn)
			assert.Contains(t, logged.String(), "MIG instance held by no domain")
			assert.Contains(t, logged.String(), fmt.Sprintf("gi%d (3g.20gb at %d:%d)", old.GPUInstanceID, old.Placement.Start, old.Placement.Size),
				"reported as unowned")
		})
	}
}

// migTrainConfig is a mock DGX A100 whose first GPU is in MIG mode and the
// test configuration with NVML on and a domain "train" holding a 3g.20gb
// instance of it.
func migTrainConfig(t *testing.T) (*dgxa100.Server, *Config) {
	t.Helper()
	server := withMockNVML(t, func(s *dgxa100.Server) {
		_, ret := s.Devices[0].SetMigMode(gonvml.DEVICE_MIG_ENABLE)
		require.Equal(t, gonvml.SUCCESS, ret)
	})
	cfg := testConfig(t)
	cfg.NVML.Enabled = true
	cfg.Domains = append(cfg.Domains, DomainSpec{Name: "train", GPUs: []GPUSpec{{GPU: "0", Profile: "3g.20gb"}}})
	return server, cfg
}
