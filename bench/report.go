package bench

import (
	"math"
	"time"

	"github.com/coprocd/coprocd/simulator"
)

// Report is a shoot-out's outcome: one scenario, one seed, one row per
// policy. Durations are integer nanoseconds (fields ending in _ns in JSON
// and CSV) so that the same run writes the same bytes everywhere; nothing
// in it depends on the wall clock or on how many runs went in parallel.
type Report struct {
	Scenario    string      `json:"scenario"`
	Description string      `json:"description"`
	Source      string      `json:"source"`
	Mode        string      `json:"mode"`
	Seed        uint64      `json:"seed"`
	HorizonNS   int64       `json:"horizon_ns"`
	Horizon     string      `json:"horizon"`
	Traced      bool        `json:"traced"`
	Runs        []PolicyRun `json:"runs"`

	// Live mode only (live.go). Notes say where the run departs from the
	// scenario; Skipped are requested policies the daemon cannot run;
	// Baseline is the exclusive run (the first domain of each device
	// alone) and Sharing each policy's throughput against it.
	Notes    []string        `json:"notes,omitempty"`
	Skipped  []SkippedPolicy `json:"skipped,omitempty"`
	Baseline *PolicyRun      `json:"baseline,omitempty"`
	Sharing  []SharingFigure `json:"sharing,omitempty"`

	// Timeline is the window the timeline pictures show.
	Timeline time.Duration `json:"-"`
	scenario simulator.Scenario
}

// SkippedPolicy is a requested policy a live run could not run, and why.
type SkippedPolicy struct {
	Policy string `json:"policy"`
	Reason string `json:"reason"`
}

// SharingFigure is the sharing overhead of a live run on one device: the
// jobs per second all its domains completed together over the jobs per
// second the first of them completed using the device alone (the exclusive
// baseline), measured in the same invocation. With alike jobs (as in the
// sharing scenario) 1 means sharing cost nothing.
type SharingFigure struct {
	Policy     string  `json:"policy"`
	Device     string  `json:"device"`
	Domains    int     `json:"domains"`
	Throughput float64 `json:"throughput_per_s"`
	Exclusive  float64 `json:"exclusive_per_s"`
	Ratio      float64 `json:"ratio"`
}

// PolicyRun is what one policy did with the scenario.
type PolicyRun struct {
	Policy      string `json:"policy"`
	Origin      Origin `json:"origin"`
	Description string `json:"description"`
	// Error is set when the run could not complete; the metrics are then
	// empty.
	Error   string          `json:"error,omitempty"`
	Devices []DeviceMetrics `json:"devices"`
	Domains []DomainMetrics `json:"domains"`

	result *simulator.Result
}

// DomainMetrics is one domain's account under one policy.
type DomainMetrics struct {
	Name   string `json:"name"`
	Device string `json:"device"`
	Weight uint32 `json:"weight"`
	// Refused is the policy's admission refusal; a refused domain did not
	// run.
	Refused string `json:"refused,omitempty"`
	// HasDeadline says whether its jobs carry deadlines.
	HasDeadline bool `json:"has_deadline"`
	Released    int  `json:"released"`
	Completed   int  `json:"completed"`
	Pending     int  `json:"pending"`
	// Throughput is completed jobs per second of virtual time.
	Throughput float64 `json:"throughput_per_s"`
	// Response time (completion − release) of the completed jobs.
	MeanNS int64 `json:"mean_ns"`
	P50NS  int64 `json:"p50_ns"`
	P99NS  int64 `json:"p99_ns"`
	P999NS int64 `json:"p999_ns"`
	MaxNS  int64 `json:"max_ns"`
	// DeadlineMisses counts late completions and jobs unfinished at the
	// horizon with their deadline past; MissRatio divides by the jobs
	// whose deadline fell inside the run (completed + missed-pending).
	DeadlineMisses int     `json:"deadline_misses"`
	MissRatio      float64 `json:"miss_ratio"`
	MaxLatenessNS  int64   `json:"max_lateness_ns"`
	// Share is its service over the horizon; BusyShare over its device's
	// busy time; PerWeight its service in seconds per unit of weight;
	// WeightRatio its BusyShare over its weight's fraction of the weights
	// on its device (1: exactly its weighted share; meaningful for
	// domains that are always backlogged).
	ServiceNS   int64   `json:"service_ns"`
	Share       float64 `json:"share"`
	BusyShare   float64 `json:"busy_share"`
	PerWeight   float64 `json:"per_weight"`
	WeightRatio float64 `json:"weight_ratio"`
	// Checked (live mode) counts the completed jobs whose results the
	// guest verified: all of them, since a wrong result fails the run.
	Checked int `json:"checked,omitempty"`
	// SubmitLagP99NS (live mode) is the p99 of how long after its release
	// instant a job reached the daemon: the host's timer and scheduling
	// latency in the guest, and the wait for a free buffer slot when the
	// domain already has 16 jobs queued on the device. It is part of
	// every response time.
	SubmitLagP99NS int64 `json:"submit_lag_p99_ns,omitempty"`
}

// DeviceMetrics is one device's account under one policy.
type DeviceMetrics struct {
	Name        string  `json:"name"`
	Utilization float64 `json:"utilization"`
	BusyNS      int64   `json:"busy_ns"`
	SwitchingNS int64   `json:"switching_ns"`
	IdleNS      int64   `json:"idle_ns"`
	// SwitchingShare is the fraction of the horizon lost to switching.
	SwitchingShare float64 `json:"switching_share"`
	Switches       int     `json:"switches"`
	Decisions      int     `json:"decisions"`
	// Jain is Jain's index of service per weight over every admitted
	// domain on the device. Domains that are not backlogged (periodic,
	// bursty) rightly get less than their weight, so it is below 1
	// under any policy when the mix has them.
	Jain float64 `json:"jain"`
	// JainBacklogged is Jain's index of service per weight over the
	// saturating domains (always backlogged), over the window in which
	// all of them are active: the number a fair-share guarantee speaks
	// of. Absent (-1) with fewer than two such domains, or without trace
	// when they do not all span the whole run.
	JainBacklogged float64 `json:"jain_backlogged"`
	// UtilizationAfterStop is the utilization from the first instant a
	// domain of the device stops releasing work to the horizon: does the
	// policy hand the idle domain's time to the others? -1 when no
	// domain stops (or without trace).
	UtilizationAfterStop float64 `json:"utilization_after_stop"`
	FirstStopNS          int64   `json:"first_stop_ns"`
}

func measure(p Policy, sc simulator.Scenario, res *simulator.Result, err error) PolicyRun {
	run := PolicyRun{Policy: p.Name, Origin: p.Origin, Description: p.Description, result: res}
	if err != nil {
		run.Error = err.Error()
		return run
	}
	span := res.Span
	devOf := map[string]int{}
	for i, d := range sc.Devices {
		devOf[d.Name] = i
	}
	weightSum := make([]float64, len(sc.Devices))
	for _, v := range res.VCoprocs {
		if v.AdmitErr == nil {
			weightSum[devOf[v.Device]] += float64(v.Weight)
		}
	}
	for i, v := range res.VCoprocs {
		spec := sc.VCoprocs[i]
		m := DomainMetrics{
			Name: v.Name, Device: v.Device, Weight: v.Weight,
			HasDeadline: spec.Workload.Jobs().Deadline > 0,
			Released:    v.Released, Completed: v.Completed, Pending: v.Pending,
			Throughput:     float64(v.Completed) / span.Seconds(),
			MeanNS:         int64(v.Response.Mean),
			P50NS:          int64(v.Response.P50),
			P99NS:          int64(v.Response.P99),
			P999NS:         int64(v.Response.P999),
			MaxNS:          int64(v.Response.Max),
			DeadlineMisses: v.DeadlineMisses,
			MaxLatenessNS:  int64(v.MaxLateness),
			ServiceNS:      int64(v.Service),
			Share:          v.Share, BusyShare: v.BusyShare, PerWeight: v.PerWeight,
		}
		if v.AdmitErr != nil {
			m.Refused = v.AdmitErr.Error()
		}
		// The jobs whose fate is known: every completed one, and the
		// pending ones whose deadline passed (at most Pending of the
		// misses; the simulator counts late completions and those alike).
		if due := v.Completed + min(v.DeadlineMisses, v.Pending); m.HasDeadline && due > 0 {
			m.MissRatio = float64(v.DeadlineMisses) / float64(due)
		}
		if ws := weightSum[devOf[v.Device]]; ws > 0 && v.AdmitErr == nil {
			m.WeightRatio = v.BusyShare / (float64(v.Weight) / ws)
		}
		run.Domains = append(run.Domains, m)
	}
	for i, d := range res.Devices {
		m := DeviceMetrics{
			Name: d.Name, Utilization: d.Utilization,
			BusyNS: int64(d.Busy), SwitchingNS: int64(d.Switching), IdleNS: int64(d.Idle),
			SwitchingShare: float64(d.Switching) / float64(span),
			Switches:       d.Switches, Decisions: d.Decisions,
			Jain:           d.Fairness,
			JainBacklogged: -1, UtilizationAfterStop: -1, FirstStopNS: -1,
		}
		m.JainBacklogged = jainBacklogged(sc, res, i)
		if stop, ok := firstStop(sc, res, i); ok && res.Trace != nil {
			busy, err := res.BusyBetween(d.Name, stop, span)
			if err == nil {
				m.UtilizationAfterStop = float64(busy) / float64(span-stop)
				m.FirstStopNS = int64(stop)
			}
		}
		run.Devices = append(run.Devices, m)
	}
	return run
}

// device returns the index of a vcoproc's device in the scenario.
func deviceIndex(sc simulator.Scenario, v simulator.VCoproc) int {
	if v.Device == "" {
		return 0
	}
	for i, d := range sc.Devices {
		if d.Name == v.Device {
			return i
		}
	}
	return -1
}

func jainBacklogged(sc simulator.Scenario, res *simulator.Result, dev int) float64 {
	var idx []int
	from, to := time.Duration(0), res.Span
	for i, v := range sc.VCoprocs {
		if deviceIndex(sc, v) != dev || res.VCoprocs[i].AdmitErr != nil {
			continue
		}
		if _, ok := v.Workload.(simulator.Saturating); !ok {
			continue
		}
		idx = append(idx, i)
		from = max(from, v.Start)
		if v.Stop != 0 {
			to = min(to, v.Stop)
		}
	}
	if len(idx) < 2 || to <= from {
		return -1
	}
	whole := from == 0 && to == res.Span
	if !whole && res.Trace == nil {
		return -1
	}
	xs := make([]float64, len(idx))
	for k, i := range idx {
		v := res.VCoprocs[i]
		service := v.Service
		if !whole {
			s, err := res.ServiceBetween(v.Name, from, to)
			if err != nil {
				return -1
			}
			service = s
		}
		xs[k] = service.Seconds() / float64(v.Weight)
	}
	return simulator.Jain(xs)
}

func firstStop(sc simulator.Scenario, res *simulator.Result, dev int) (time.Duration, bool) {
	stop := time.Duration(math.MaxInt64)
	for i, v := range sc.VCoprocs {
		if deviceIndex(sc, v) == dev && v.Stop != 0 && v.Stop < res.Span && res.VCoprocs[i].AdmitErr == nil {
			stop = min(stop, v.Stop)
		}
	}
	return stop, stop != time.Duration(math.MaxInt64)
}

// Run returns the row of the named policy, or nil.
func (r *Report) Run(policy string) *PolicyRun {
	for i := range r.Runs {
		if r.Runs[i].Policy == policy {
			return &r.Runs[i]
		}
	}
	return nil
}

// Domain returns the named domain's metrics in this run, or nil.
func (p *PolicyRun) Domain(name string) *DomainMetrics {
	for i := range p.Domains {
		if p.Domains[i].Name == name {
			return &p.Domains[i]
		}
	}
	return nil
}

// Device returns the named device's metrics in this run, or nil.
func (p *PolicyRun) Device(name string) *DeviceMetrics {
	for i := range p.Devices {
		if p.Devices[i].Name == name {
			return &p.Devices[i]
		}
	}
	return nil
}

// Result is the simulator's raw result of the run (nil after a failure
// or for a report read back from JSON).
func (p *PolicyRun) Result() *simulator.Result { return p.result }
