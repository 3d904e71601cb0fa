package daemon

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coprocd/coprocd/backends/gpu/nvml"
	"github.com/coprocd/coprocd/daemon/api"
)

// The NVIDIA GPUs' per-domain usage from the latest accounting sample, and
// the quota violations so far. Processes no domain owns are labelled
// domain="" so that a GPU's sum is complete.
var (
	descGPUMemory     = prometheus.NewDesc("coprocd_nvml_domain_memory_bytes", "GPU memory used by the domain's processes at the latest sample.", []string{"domain", "gpu"}, nil)
	descGPUSM         = prometheus.NewDesc("coprocd_nvml_domain_sm_utilization_percent", "Share of the GPU's SM time the domain's processes used over the latest sample period.", []string{"domain", "gpu"}, nil)
	descGPUProcs      = prometheus.NewDesc("coprocd_nvml_domain_processes", "Compute processes of the domain on the GPU at the latest sample.", []string{"domain", "gpu"}, nil)
	descGPUViolations = prometheus.NewDesc("coprocd_nvml_quota_violations_total", "Samples in which the domain was over a GPU quota, by the action applied.", []string{"domain", "gpu", "resource", "action"}, nil)
)

// collectGPUs exports the accounting state; called with d.mu held.
func (d *Daemon) collectGPUs(ch chan<- prometheus.Metric) {
	acct := d.gpuAcct
	if acct == nil {
		return
	}
	for _, u := range acct.usage {
		for _, uuid := range slices.Sorted(maps.Keys(u.GPUs)) {
			g := u.GPUs[uuid]
			ch <- prometheus.MustNewConstMetric(descGPUMemory, prometheus.GaugeValue, float64(g.MemoryBytes), u.Domain, uuid)
			ch <- prometheus.MustNewConstMetric(descGPUProcs, prometheus.GaugeValue, float64(len(g.PIDs)), u.Domain, uuid)
			if g.UtilizationKnown {
				ch <- prometheus.MustNewConstMetric(descGPUSM, prometheus.GaugeValue, float64(g.SMPercent), u.Domain, uuid)
			}
		}
	}
	for k, n := range acct.violations {
		ch <- prometheus.MustNewConstMetric(descGPUViolations, prometheus.CounterValue, float64(n), k.domain, k.gpu, string(k.resource), k.action.String())
	}
}

// apiGPU is one of a domain's GPU shares with its use at the latest
// sample; called with d.mu held.
func (d *Daemon) apiGPU(domain string, a *nvml.Allocation) api.GPU {
	out := api.GPU{ID: a.ID, UUID: a.GPU, Profile: a.Profile, Memory: a.MemoryBytes}
	if d.gpuAcct == nil {
		return out
	}
	for _, u := range d.gpuAcct.usage {
		if g, ok := u.GPUs[a.GPU]; ok && u.Domain == domain {
			out.MemoryUsed, out.Processes = g.MemoryBytes, len(g.PIDs)
			if g.UtilizationKnown {
				sm := g.SMPercent
				out.SMPercent = &sm
			}
		}
	}
	return out
}
