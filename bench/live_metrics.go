package bench

import (
	"slices"
	"time"

	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/simulator"
)

// measure turns a live run's records into the report's row, with the
// metrics sim mode computes and from the same code (report.go's measure):
// a simulator.Result is filled from the guests' job records (releases,
// completions: throughput, response times, deadline misses) and the
// daemon's accounting between snapshots (device busy time, switches and
// the time they took, each vcoproc's device time: utilization, shares,
// fairness). The metrics over a window inside the run (Jain's index of
// the backlogged domains, utilization after the first stop) come from the
// snapshots taken at those instants. The trace is who held each device,
// from the daemon's switch trace, for the timeline picture.
func (ls *liveSetup) measure(p Policy, out *liveOutcome) PolicyRun {
	sim := ls.sim
	first, last := out.snapshots[0], out.snapshots[len(out.snapshots)-1]
	window := time.Duration(last.stats.UptimeNs - first.stats.UptimeNs)
	res := &simulator.Result{Policy: p.Name, Seed: ls.seed, Span: ls.horizon}
	for _, d := range sim.Devices {
		a, b := deviceStats(first.stats, d.Name), deviceStats(last.stats, d.Name)
		// The device's busy time is its vcoprocs' device time: the daemon
		// reads its counters one after the other while the device runs,
		// so its own busy counter and its vcoprocs' can be a step apart,
		// and the shares must add up.
		var busy time.Duration
		for _, v := range sim.VCoprocs {
			if deviceOf(sim, v) == d.Name {
				busy += serviceBetween(first.stats, last.stats, v.Name, d.Name)
			}
		}
		switching := time.Duration(b.SwitchTimeNs - a.SwitchTimeNs)
		dr := simulator.DeviceResult{Name: d.Name, Busy: busy, Switching: switching,
			Idle: max(0, window-busy-switching), Switches: int(b.Switches - a.Switches), Fairness: 1}
		if window > 0 {
			dr.Utilization = float64(busy) / float64(window)
		}
		res.Devices = append(res.Devices, dr)
	}
	perWeight := make([][]float64, len(sim.Devices))
	for i, v := range sim.VCoprocs {
		dev := deviceOf(sim, v)
		di := slices.IndexFunc(sim.Devices, func(d simulator.Device) bool { return d.Name == dev })
		vr := simulator.VCoprocResult{Name: v.Name, Device: dev, Weight: max(v.Params.Weight, 1), AdmitErr: out.refused[i]}
		if vr.AdmitErr != nil {
			res.VCoprocs = append(res.VCoprocs, vr)
			continue
		}
		// An admitted domain without a guest (it starts past the horizon)
		// released nothing, and counts in the device's fairness with its
		// zero service, as in sim mode.
		vr.Service = serviceBetween(first.stats, last.stats, v.Name, dev)
		if r := out.results[i]; r != nil {
			ls.countJobs(&vr, v, r)
		}
		if window > 0 {
			vr.Share = float64(vr.Service) / float64(window)
		}
		if busy := res.Devices[di].Busy; busy > 0 {
			vr.BusyShare = float64(vr.Service) / float64(busy)
		}
		vr.PerWeight = vr.Service.Seconds() / float64(vr.Weight)
		perWeight[di] = append(perWeight[di], vr.PerWeight)
		res.VCoprocs = append(res.VCoprocs, vr)
	}
	for di := range res.Devices {
		res.Devices[di].Fairness = simulator.Jain(perWeight[di])
	}
	run := measure(p, sim, res, nil)
	for i := range run.Domains {
		if r := out.results[i]; r != nil {
			run.Domains[i].Checked = r.Checked
			run.Domains[i].SubmitLagP99NS = int64(submitLag(r).Percentile(0.99))
		}
	}
	for di := range run.Devices {
		if run.Devices[di].JainBacklogged < 0 {
			run.Devices[di].JainBacklogged = ls.jainBacklogged(out, di)
		}
		run.Devices[di].UtilizationAfterStop, run.Devices[di].FirstStopNS = ls.utilizationAfterStop(out, di)
	}
	if out.traces != nil {
		res.Trace = holdingTrace(sim, out.traces, out.offset, out.traceUntil)
	}
	return run
}

// countJobs reads a guest's records as the simulator counts its jobs:
// released within the horizon; completed within it (response = done −
// release); deadline misses are late completions and jobs unfinished at
// the horizon with their deadline past.
func (ls *liveSetup) countJobs(vr *simulator.VCoprocResult, v simulator.VCoproc, r *GuestResult) {
	deadline := v.Workload.Jobs().Deadline
	var samples []time.Duration
	for k, rel := range r.ReleaseNS {
		vr.Released++
		done := r.DoneNS[k]
		if done < 0 {
			vr.Pending++
			if deadline > 0 && time.Duration(rel)+deadline < ls.horizon {
				vr.DeadlineMisses++
			}
			continue
		}
		vr.Completed++
		resp := time.Duration(done - rel)
		samples = append(samples, resp)
		if deadline > 0 && resp > deadline {
			vr.DeadlineMisses++
			vr.MaxLateness = max(vr.MaxLateness, resp-deadline)
		}
	}
	vr.Response = simulator.Summarise(samples)
}

func deviceStats(st api.Stats, name string) api.DeviceStats {
	for _, d := range st.Devices {
		if d.Name == name {
			return d.Stats
		}
	}
	return api.DeviceStats{}
}

// serviceBetween is the device time the domain's vcoproc on device ran
// between two snapshots.
func serviceBetween(a, b api.Stats, domain, device string) time.Duration {
	busy := func(st api.Stats) int64 {
		for _, d := range st.Domains {
			if d.Name != domain {
				continue
			}
			for _, v := range d.VCoprocs {
				if v.Device == device {
					return v.Stats.BusyNs
				}
			}
		}
		return 0
	}
	return time.Duration(busy(b) - busy(a))
}

// snapshotAt is the snapshot taken for the nominal instant.
func (o *liveOutcome) snapshotAt(at time.Duration) (snapshot, bool) {
	for _, s := range o.snapshots {
		if s.nominal == at {
			return s, true
		}
	}
	return snapshot{}, false
}

// jainBacklogged is Jain's index of service per weight of the device's
// admitted saturating domains over the window in which all of them are
// active, from the snapshots at its ends; -1 with fewer than two.
func (ls *liveSetup) jainBacklogged(out *liveOutcome, di int) float64 {
	dev := ls.sim.Devices[di].Name
	from, to := time.Duration(0), ls.horizon
	var idx []int
	for i, v := range ls.sim.VCoprocs {
		if _, ok := v.Workload.(simulator.Saturating); !ok || deviceOf(ls.sim, v) != dev || out.results[i] == nil {
			continue
		}
		idx = append(idx, i)
		from = max(from, v.Start)
		if v.Stop > 0 {
			to = min(to, v.Stop)
		}
	}
	a, okA := out.snapshotAt(from)
	b, okB := out.snapshotAt(to)
	if len(idx) < 2 || to <= from || !okA || !okB {
		return -1
	}
	xs := make([]float64, len(idx))
	for k, i := range idx {
		v := ls.sim.VCoprocs[i]
		xs[k] = serviceBetween(a.stats, b.stats, v.Name, dev).Seconds() / float64(max(v.Params.Weight, 1))
	}
	return simulator.Jain(xs)
}

// utilizationAfterStop is the device's utilization from the first instant
// one of its admitted domains stops releasing work to the horizon, and that
// instant; -1 when none stops.
func (ls *liveSetup) utilizationAfterStop(out *liveOutcome, di int) (float64, int64) {
	dev := ls.sim.Devices[di].Name
	stop := time.Duration(-1)
	for i, v := range ls.sim.VCoprocs {
		if v.Stop > 0 && v.Stop < ls.horizon && deviceOf(ls.sim, v) == dev && out.results[i] != nil && (stop < 0 || v.Stop < stop) {
			stop = v.Stop
		}
	}
	a, okA := out.snapshotAt(stop)
	b, okB := out.snapshotAt(ls.horizon)
	if stop < 0 || !okA || !okB || b.stats.UptimeNs <= a.stats.UptimeNs {
		return -1, -1
	}
	var busy time.Duration
	for _, v := range ls.sim.VCoprocs {
		if deviceOf(ls.sim, v) == dev {
			busy += serviceBetween(a.stats, b.stats, v.Name, dev)
		}
	}
	return float64(busy) / float64(b.stats.UptimeNs-a.stats.UptimeNs), int64(stop)
}

// holdingTrace turns the daemon's switch traces into the simulator's
// trace over [0, until): a switch span for each switch (its cost), then a
// run span for the vcoproc switched to until the next switch. The daemon
// records switches, not the end of work, so a device that idles with a
// context loaded shows it as held: the timeline says who held the device,
// which is what it draws.
func holdingTrace(sim simulator.Scenario, traces map[string][]api.Switch, offset, until time.Duration) []simulator.Span {
	index := map[string]int32{}
	for i, v := range sim.VCoprocs {
		index[v.Name+"/"+deviceOf(sim, v)] = int32(i)
	}
	held := func(name string) (int32, simulator.SpanKind) {
		if i, ok := index[name]; ok {
			return i, simulator.SpanRun
		}
		return -1, simulator.SpanIdle
	}
	var spans []simulator.Span
	add := func(di int, start, end time.Duration, vc int32, kind simulator.SpanKind) {
		if end > start {
			spans = append(spans, simulator.Span{Start: start, End: end, Device: int32(di), VCoproc: vc, Kind: kind})
		}
	}
	for di, d := range sim.Devices {
		vc, kind := int32(-1), simulator.SpanIdle
		t := time.Duration(0)
		for _, s := range traces[d.Name] {
			at := time.Duration(s.AtNs) + offset
			if at < t {
				vc, kind = held(s.To) // before the run (or overlapping the last switch)
				continue
			}
			if at >= until {
				break
			}
			add(di, t, at, vc, kind)
			end := min(at+time.Duration(s.CostNs), until)
			to, _ := held(s.To)
			add(di, at, end, to, simulator.SpanSwitch)
			t = end
			vc, kind = held(s.To)
		}
		add(di, t, until, vc, kind)
	}
	return spans
}

// submitLag is how long after their release the guest's jobs reached the
// daemon.
func submitLag(r *GuestResult) simulator.Latency {
	var lag []time.Duration
	for k, sub := range r.SubmitNS {
		if sub >= 0 {
			lag = append(lag, time.Duration(sub-r.ReleaseNS[k]))
		}
	}
	return simulator.Summarise(lag)
}
