package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/coprocd/coprocd/mediator"
)

// collector exports the mediator's counters at scrape time, so the metrics
// never disagree with the control API and cost nothing between scrapes.
type collector struct{ d *Daemon }

var (
	descDevSwitches   = prometheus.NewDesc("coprocd_device_switches_total", "Context switches of the device.", []string{"device"}, nil)
	descDevSwitchSec  = prometheus.NewDesc("coprocd_device_switch_seconds_total", "Device time spent switching contexts.", []string{"device"}, nil)
	descDevBusySec    = prometheus.NewDesc("coprocd_device_busy_seconds_total", "Device time spent running jobs.", []string{"device"}, nil)
	descDevUtil       = prometheus.NewDesc("coprocd_device_utilization_ratio", "Busy time over uptime.", []string{"device"}, nil)
	descDevTimeouts   = prometheus.NewDesc("coprocd_device_watchdog_resets_total", "Jobs the watchdog aborted.", []string{"device"}, nil)
	descDevQueue      = prometheus.NewDesc("coprocd_device_runnable_vcoprocs", "Vcoprocs with work (queue depth).", []string{"device"}, nil)
	descVCBusy        = prometheus.NewDesc("coprocd_vcoproc_busy_seconds_total", "Device time the vcoproc used.", []string{"domain", "device"}, nil)
	descVCJobs        = prometheus.NewDesc("coprocd_vcoproc_jobs_total", "Jobs by outcome.", []string{"domain", "device", "outcome"}, nil)
	descVCDenied      = prometheus.NewDesc("coprocd_vcoproc_denied_accesses_total", "Privileged registers or commands denied.", []string{"domain", "device"}, nil)
	descVCRefused     = prometheus.NewDesc("coprocd_vcoproc_refused_submissions_total", "Command buffers the scanner refused.", []string{"domain", "device"}, nil)
	descVCFaults      = prometheus.NewDesc("coprocd_vcoproc_iommu_faults_total", "IOMMU faults during the vcoproc's jobs.", []string{"domain", "device"}, nil)
	descVCMemory      = prometheus.NewDesc("coprocd_vcoproc_memory_used_bytes", "Device memory the domain holds.", []string{"domain", "device"}, nil)
	descVCLatency     = prometheus.NewDesc("coprocd_vcoproc_job_latency_seconds", "Job latency from submission to completion.", []string{"domain", "device"}, nil)
	descVCMisses      = prometheus.NewDesc("coprocd_vcoproc_deadline_misses_total", "Jobs that ended after their reservation's deadline.", []string{"domain", "device"}, nil)
	descVCMemoryQuota = prometheus.NewDesc("coprocd_vcoproc_memory_quota_bytes", "Device memory the domain may hold.", []string{"domain", "device"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	uptime := d.m.Now()
	for name, dev := range d.devices {
		s := dev.dev.Stats()
		ch <- prometheus.MustNewConstMetric(descDevSwitches, prometheus.CounterValue, float64(s.Switches), name)
		ch <- prometheus.MustNewConstMetric(descDevSwitchSec, prometheus.CounterValue, s.SwitchTime.Seconds(), name)
		ch <- prometheus.MustNewConstMetric(descDevBusySec, prometheus.CounterValue, s.Busy.Seconds(), name)
		ch <- prometheus.MustNewConstMetric(descDevTimeouts, prometheus.CounterValue, float64(s.Timeouts), name)
		util := 0.0
		if uptime > 0 {
			util = float64(s.Busy) / float64(uptime)
		}
		ch <- prometheus.MustNewConstMetric(descDevUtil, prometheus.GaugeValue, util, name)
		runnable := 0
		for _, vc := range dev.dev.VCoprocs() {
			st := vc.Stats()
			if st.Jobs > st.JobsDone+st.JobsFailed+st.Timeouts {
				runnable++
			}
			dom := vc.Domain()
			ch <- prometheus.MustNewConstMetric(descVCBusy, prometheus.CounterValue, st.Busy.Seconds(), dom, name)
			ch <- prometheus.MustNewConstMetric(descVCJobs, prometheus.CounterValue, float64(st.JobsDone), dom, name, "done")
			ch <- prometheus.MustNewConstMetric(descVCJobs, prometheus.CounterValue, float64(st.JobsFailed), dom, name, "failed")
			ch <- prometheus.MustNewConstMetric(descVCJobs, prometheus.CounterValue, float64(st.Timeouts), dom, name, "timeout")
			ch <- prometheus.MustNewConstMetric(descVCDenied, prometheus.CounterValue, float64(st.Denied), dom, name)
			ch <- prometheus.MustNewConstMetric(descVCRefused, prometheus.CounterValue, float64(st.Refused), dom, name)
			ch <- prometheus.MustNewConstMetric(descVCFaults, prometheus.CounterValue, float64(st.Faults), dom, name)
			ch <- prometheus.MustNewConstMetric(descVCMemory, prometheus.GaugeValue, float64(vc.MemoryUsed()), dom, name)
			ch <- prometheus.MustNewConstMetric(descVCMisses, prometheus.CounterValue, float64(st.DeadlineMisses), dom, name)
			ch <- latencyHistogram(st.Latency, dom, name)
			if ds := d.domains[dom]; ds != nil {
				ch <- prometheus.MustNewConstMetric(descVCMemoryQuota, prometheus.GaugeValue, float64(d.quotaOf(ds.spec, name)), dom, name)
			}
		}
		ch <- prometheus.MustNewConstMetric(descDevQueue, prometheus.GaugeValue, float64(runnable), name)
	}
	d.collectGPUs(ch)
}

// latencyHistogram converts the mediator's histogram (per-bucket counts)
// into Prometheus's (cumulative counts by upper bound in seconds).
func latencyHistogram(l mediator.Latency, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(mediator.LatencyBuckets))
	var cum uint64
	for i, bound := range mediator.LatencyBuckets {
		cum += l.Counts[i]
		buckets[bound.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(descVCLatency, l.Count(), l.Sum.Seconds(), buckets, labels...)
}
