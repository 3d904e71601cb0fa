package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	gpusim "github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/daemon"
)

// Live mode runs a scenario through the whole stack, in real time: for
// each policy a daemon of its own (package daemon, in this process, with a
// temporary runtime directory) with one reference GPU per scenario device
// under that policy, the scenario's domains created through its control
// API, and one guest process per domain (live_guest.go) that replays the
// domain's workload through the paravirtual frontend (package frontend):
// each job a real reference-GPU job whose modelled device time is the
// job's execution time (live_job.go), submitted, waited for on its fence
// and checked. The guests record releases and completions on
// CLOCK_MONOTONIC; the daemon's accounting (device busy time, switches,
// time lost to switching, each vcoproc's device time) is read through the
// control API at the run's start, at every instant a domain starts or
// stops, and at the horizon; its switch trace once the timeline window has
// passed. The report is the one sim mode fills (report.go), from the same
// code, so the tables, files and pictures are the same.
//
// What differs from sim mode:
//   - time is real: the device model is paced against the host's clock
//     (mediator.Device.Run), guests are processes scheduled by the host,
//     and every number moves from run to run; the default horizon is
//     short (LiveHorizon);
//   - the costs are the reference GPU's, not the scenario's, but for the
//     switch cost (the daemon's switch_cost is set to the scenario's):
//     its preemption granularity (the report's notes say where it
//     differs), and its preemption between workgroups, finer than any
//     scenario segment;
//   - the policies are the daemon's (live_policies.go); a policy it has no
//     equivalent of is skipped and the report says why;
//   - response times end when the guest sees the fence, so they include
//     the notification's way back through the daemon and the guest's
//     wake-up;
//   - the timeline shows which context each device held (from the switch
//     trace: a device idling with a context loaded shows it held), and
//     there is no shares-over-time picture;
//   - with "baseline: exclusive" the scenario's first domain of each
//     device also runs alone, and each policy's throughput on the device
//     is reported against it (the sharing overhead).
//
// What does not differ: open-loop arrivals and execution times. Each guest
// runs the simulator's own release process on the simulator's random
// stream for its domain and seed (simulator.NewSource, NewRand,
// JobSpec.DrawExec), so they are the ones sim mode draws; a closed loop's
// releases follow its completions, which are real.
//
// Live mode drives GPUs only: a scenario with an FPGA or DSP device is
// refused with ErrLiveUnavailable.

// LiveHorizon is a live run's default horizon (per policy, in real time).
const LiveHorizon = 3 * time.Second

// LiveOptions say how to run a scenario live.
type LiveOptions struct {
	// Policies to compare, in table order; nil means the scenario's.
	Policies []string
	// Horizon of real time per policy; 0 means LiveHorizon, or the
	// scenario's horizon when shorter.
	Horizon time.Duration
	// Seed, when SeedSet, replaces the scenario's.
	Seed    uint64
	SeedSet bool
	// NoTrace reads no switch trace (no timeline picture).
	NoTrace bool
	// Guest is the guest program's command line, to which the harness
	// appends "--spec <json>"; nil means this executable's "bench guest"
	// (right for coprocd; a test binary passes itself).
	Guest []string
	// GuestEnv is added to the guests' environment.
	GuestEnv []string
	// Progress, when not nil, receives a progress bar if the runs are
	// still going after ProgressDelay.
	Progress      io.Writer
	ProgressDelay time.Duration
}

// baselinePolicy runs the exclusive baseline: with one domain on the
// device every work-conserving policy gives it the whole device.
// baselineDepth is how many jobs the baseline's domain keeps in flight if
// it saturates: with one, the device would idle through every job's round
// trip (the fence back to the guest, its check, the next submission),
// which is not the device's throughput but the guest's latency; with two
// the device always has the next job.
const (
	baselinePolicy = "wfair"
	baselineDepth  = 2
)

// Live runs the scenario through the daemon under each policy the daemon
// can run, one after the other, and returns the report. A policy whose run
// fails has its error in its row; the others still run.
func Live(ctx context.Context, sc *Scenario, opts LiveOptions) (*Report, error) {
	ls, runnable, skipped, err := newLiveSetup(sc, opts)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Scenario: sc.Name, Description: sc.Description, Source: sc.Source, Mode: "live",
		Seed: ls.seed, HorizonNS: int64(ls.horizon), Horizon: ls.horizon.String(), Traced: ls.trace,
		Timeline: ls.timeline(), scenario: ls.sim, Skipped: skipped, Notes: ls.notes(runnable),
	}
	total := len(runnable)
	if sc.Baseline == "exclusive" {
		total++
	}
	progress := startProgress(opts.Progress, opts.ProgressDelay, total, sc.Name)
	defer progress.finish()
	for _, p := range runnable {
		rep.Runs = append(rep.Runs, ls.runPolicy(ctx, p))
		progress.done(p.Name)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if sc.Baseline == "exclusive" {
		base := ls.exclusive()
		p, _ := policyByName(baselinePolicy)
		run := base.runPolicy(ctx, p)
		run.Policy, run.Description = "exclusive", fmt.Sprintf("the first domain of each device alone on it (%s; a saturating one keeps %d jobs in flight)", baselinePolicy, baselineDepth)
		rep.Baseline = &run
		rep.Sharing = sharingFigures(rep)
		progress.done("exclusive")
	}
	return rep, ctx.Err()
}

// newLiveSetup checks that the scenario can run live and which policies.
func newLiveSetup(sc *Scenario, opts LiveOptions) (*liveSetup, []Policy, []SkippedPolicy, error) {
	for _, d := range sc.file.Devices {
		if c := sc.deviceClass(d.Name); c != "gpu" {
			what := map[string]string{"fpga": "an FPGA", "dsp": "a DSP"}[c]
			return nil, nil, nil, fmt.Errorf("%w: device %s is %s, and live mode drives the reference GPU only (its guests' jobs are GPU kernels); run this scenario with --mode sim", ErrLiveUnavailable, d.Name, what)
		}
	}
	names := opts.Policies
	if len(names) == 0 {
		names = sc.Policies
	}
	var runnable []Policy
	var skipped []SkippedPolicy
	for _, name := range names {
		p, ok := policyByName(name)
		if !ok {
			return nil, nil, nil, fmt.Errorf("bench: unknown policy %q", name)
		}
		if _, err := livePolicy(name, sc, ""); err != nil {
			skipped = append(skipped, SkippedPolicy{Policy: name, Reason: err.Error()})
			continue
		}
		runnable = append(runnable, p)
	}
	if len(runnable) == 0 {
		var why []string
		for _, s := range skipped {
			why = append(why, s.Policy+": "+s.Reason)
		}
		return nil, nil, nil, fmt.Errorf("bench: none of the policies can run live (%s)", strings.Join(why, "; "))
	}
	horizon := opts.Horizon
	if horizon == 0 {
		horizon = min(sc.Horizon, LiveHorizon)
	}
	seed := sc.Seed
	if opts.SeedSet {
		seed = opts.Seed
	}
	sim, err := sc.Build(horizon, seed, false)
	if err != nil {
		return nil, nil, nil, err
	}
	guest := opts.Guest
	if len(guest) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("bench: finding this executable to start the guests: %w", err)
		}
		guest = []string{exe, "bench", "guest"}
	}
	ls := &liveSetup{sc: sc, sim: sim, horizon: horizon, seed: seed, trace: !opts.NoTrace, guest: guest, guestEnv: opts.GuestEnv}
	// Every domain's jobs must be plannable before anything starts (a
	// domain that starts past the horizon has none).
	for _, v := range sim.VCoprocs {
		if !ls.releasesInTime(v) {
			continue
		}
		if _, err := ls.guestSpec(v, "(checked before the run)"); err != nil {
			return nil, nil, nil, err
		}
	}
	return ls, runnable, skipped, nil
}

// runPolicy runs one policy and measures it; a failure is the row's error.
func (ls *liveSetup) runPolicy(ctx context.Context, p Policy) PolicyRun {
	out, err := ls.run(ctx, p.Name)
	if err != nil {
		return PolicyRun{Policy: p.Name, Origin: p.Origin, Description: p.Description, Error: err.Error()}
	}
	return ls.measure(p, out)
}

// exclusive is the baseline's setup: the first domain of each device
// alone, with the scenario's workload, start and stop.
func (ls *liveSetup) exclusive() *liveSetup {
	base := *ls
	base.sim.VCoprocs = nil
	seen := map[string]bool{}
	for _, v := range ls.sim.VCoprocs {
		if d := deviceOf(ls.sim, v); !seen[d] {
			seen[d] = true
			base.sim.VCoprocs = append(base.sim.VCoprocs, v)
		}
	}
	base.trace = false
	base.depth = baselineDepth
	return &base
}

// notes say where the live run departs from the scenario's costs and,
// for the policies that run, from sim mode's parameters.
func (ls *liveSetup) notes(runnable []Policy) []string {
	var notes []string
	for _, d := range ls.sim.Devices {
		gpu, err := gpusim.New(gpusim.Config{Cost: daemon.RefGPUCostModel(liveSwitchCost(d)), VRAMBytes: 1 << 20})
		if err != nil {
			return []string{"the reference GPU's costs are unknown: " + err.Error()}
		}
		caps := gpu.Caps()
		if d.Costs.SwitchCost != caps.SwitchCost || d.Costs.MaxNonPreemptible != caps.MaxNonPreemptible {
			notes = append(notes, fmt.Sprintf("%s runs on the reference GPU's costs: a switch takes %v and the longest non-preemptible stretch is %v (the scenario says %v and %v); the daemon's policies are built with them",
				d.Name, caps.SwitchCost, caps.MaxNonPreemptible, d.Costs.SwitchCost, d.Costs.MaxNonPreemptible))
		}
	}
	for _, v := range ls.sim.VCoprocs {
		if v.Workload.Jobs().Segment > 0 {
			notes = append(notes, "job segments are not reproduced: the reference GPU preempts between any two workgroups")
			break
		}
	}
	for _, p := range runnable {
		if n := fixedShareNote(ls.sc.Options); p.Name == "fixed-share" && n != "" {
			notes = append(notes, n)
		}
	}
	return notes
}

// sharingFigures compares every run's throughput on each device with the
// exclusive baseline's.
func sharingFigures(rep *Report) []SharingFigure {
	var out []SharingFigure
	if rep.Baseline == nil || rep.Baseline.Error != "" {
		return nil
	}
	for _, run := range rep.Runs {
		if run.Error != "" {
			continue
		}
		for _, d := range run.Devices {
			alone, n := rep.Baseline.deviceThroughput(d.Name)
			shared, domains := run.deviceThroughput(d.Name)
			if n == 0 || alone <= 0 {
				continue
			}
			out = append(out, SharingFigure{Policy: run.Policy, Device: d.Name, Domains: domains, Throughput: shared, Exclusive: alone, Ratio: shared / alone})
		}
	}
	return out
}

// deviceThroughput is the jobs per second a run's admitted domains on the
// device completed together, and how many domains they were.
func (p *PolicyRun) deviceThroughput(device string) (float64, int) {
	var sum float64
	n := 0
	for _, d := range p.Domains {
		if d.Device == device && d.Refused == "" {
			sum += d.Throughput
			n++
		}
	}
	return sum, n
}

// errGuestUsage is the guest command's error for a missing spec.
var errGuestUsage = errors.New("bench guest: --spec '<json>' is required (the harness starts this command; see bench/live_guest.go)")
