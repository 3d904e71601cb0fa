package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/daemon"
	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/simulator"
)

// liveScenario is small enough for a test: two saturating tenants with
// weights 2 and 1 and a periodic one with deadlines, on one GPU, with the
// exclusive baseline.
const liveScenario = `
name: live-test
description: two saturating tenants and a periodic one on a GPU
horizon: 1s
timeline: 50ms
baseline: exclusive
options: {quantum: 2ms, slice: 2ms}
devices: [{name: gpu0}]
domains:
  - {name: a, weight: 2, workload: {type: saturating, exec: 2ms}}
  - {name: b, weight: 1, workload: {type: saturating, exec: 2ms}}
  - {name: tick, weight: 1, workload: {type: periodic, period: 10ms, exec: 500us, deadline: 10ms}}
`

// TestLiveRunsTheScenarioThroughTheDaemon: guests as real processes drive
// the daemon's reference GPU through the paravirtual frontend under a
// policy; every domain completes checked jobs, the report is filled
// (throughput, shares, switches, the timeline), a policy the daemon has no
// equivalent of is skipped with its reason, and the exclusive baseline
// gives the sharing figure.
func TestLiveRunsTheScenarioThroughTheDaemon(t *testing.T) {
	sc, err := Parse([]byte(liveScenario), "live-test.yaml")
	require.NoError(t, err)
	rep, err := Live(context.Background(), sc, LiveOptions{Policies: []string{"wfair", "fp+wfair"}})
	require.NoError(t, err)
	assert.Equal(t, "live", rep.Mode)
	assert.Equal(t, int64(time.Second), rep.HorizonNS)
	require.Len(t, rep.Skipped, 1)
	assert.Equal(t, "fp+wfair", rep.Skipped[0].Policy)
	assert.Contains(t, rep.Skipped[0].Reason, "no fixed priority composed with weighted fair share")
	require.Len(t, rep.Runs, 1)

	for _, run := range rep.Runs {
		require.Empty(t, run.Error, run.Policy)
		var busyShares float64
		for _, d := range run.Domains {
			assert.Empty(t, d.Refused, "%s %s", run.Policy, d.Name)
			assert.Positive(t, d.Completed, "%s %s", run.Policy, d.Name)
			assert.Equal(t, d.Completed, d.Checked, "%s %s: every completed job was checked", run.Policy, d.Name)
			assert.Positive(t, d.Throughput, "%s %s", run.Policy, d.Name)
			assert.GreaterOrEqual(t, d.Released, d.Completed+d.Pending-1)
			assert.Positive(t, d.P50NS, "%s %s", run.Policy, d.Name)
			assert.Positive(t, d.ServiceNS, "%s %s", run.Policy, d.Name)
			busyShares += d.BusyShare
		}
		assert.InDelta(t, 1, busyShares, 0.02, "%s: the domains' device time is the device's busy time", run.Policy)
		tick := run.Domain("tick")
		assert.True(t, tick.HasDeadline)
		assert.InDelta(t, 100, tick.Released, 2, "%s: 10 ms periods for 1 s", run.Policy)
		dev := run.Device("gpu0")
		require.NotNil(t, dev)
		assert.Positive(t, dev.Switches, "%s: three domains share the device", run.Policy)
		assert.Positive(t, dev.SwitchingNS)
		assert.Positive(t, dev.Utilization)
		assert.LessOrEqual(t, dev.Utilization, 1.05)
		require.NotNil(t, run.Result())
		assert.NotEmpty(t, run.Result().Trace, "%s: the timeline from the switch trace", run.Policy)
	}

	require.NotNil(t, rep.Baseline)
	require.Empty(t, rep.Baseline.Error)
	require.Len(t, rep.Baseline.Domains, 1)
	assert.Equal(t, "a", rep.Baseline.Domains[0].Name)
	assert.Positive(t, rep.Baseline.Domains[0].Throughput)
	require.Len(t, rep.Sharing, 1)
	for _, f := range rep.Sharing {
		assert.Equal(t, 3, f.Domains)
		assert.Positive(t, f.Ratio)
		assert.InDelta(t, f.Throughput/f.Exclusive, f.Ratio, 1e-9)
	}

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text, true))
	for _, want := range []string{"mode live", "1s of real time per policy", "Sharing overhead", "fp+wfair not run live", "note: gpu0 runs on the reference GPU's costs"} {
		assert.Contains(t, text.String(), want)
	}
	dir := t.TempDir()
	files, err := rep.WriteFiles(dir, "svg")
	require.NoError(t, err)
	assert.Contains(t, files, "timeline-wfair.svg")
	assert.Contains(t, files, "latency-cdf-tick.svg")
	assert.NotContains(t, files, "shares-wfair.svg", "a holding trace makes no shares picture")
	js, err := os.ReadFile(filepath.Join(dir, JSONFile))
	require.NoError(t, err)
	assert.Contains(t, string(js), `"sharing"`)
	assert.Contains(t, string(js), `"checked"`)
}

// TestLiveReportsAGuestThatFails: a guest that dies during the run fails
// that policy's row with the guest's domain, exit status and stderr,
// promptly rather than at the horizon.
func TestLiveReportsAGuestThatFails(t *testing.T) {
	sc, err := Parse([]byte(minimal+"horizon: 10s\n"), "tiny.yaml")
	require.NoError(t, err)
	start := time.Now()
	rep, err := Live(context.Background(), sc, LiveOptions{Policies: []string{"wfair"}, Guest: []string{os.Args[0], "fail-guest"}})
	require.NoError(t, err)
	require.Len(t, rep.Runs, 1)
	msg := rep.Runs[0].Error
	assert.Contains(t, msg, `the guest of domain "a": it ended before the horizon`)
	assert.Contains(t, msg, "exit status 3")
	assert.Contains(t, msg, "injected failure: the device went away")
	assert.Less(t, time.Since(start), 8*time.Second, "the run stops when its guest dies, not at the 3 s horizon plus the result's grace")
}

func TestLiveRefusesWhatItCannotRun(t *testing.T) {
	fpga, err := Load("fpga")
	require.NoError(t, err)
	_, err = Live(context.Background(), fpga, LiveOptions{})
	require.ErrorIs(t, err, ErrLiveUnavailable)
	assert.Contains(t, err.Error(), "device fpga0 is an FPGA, and live mode drives the reference GPU only")

	sc, err := Parse([]byte(minimal), "tiny.yaml")
	require.NoError(t, err)
	_, err = Live(context.Background(), sc, LiveOptions{Policies: []string{"fp+wfair"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "none of the policies can run live (fp+wfair: the daemon has no fixed priority")

	short, err := Parse([]byte("name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: blink\n    workload: {type: saturating, exec: 100ns}\n"), "short.yaml")
	require.NoError(t, err)
	_, err = Live(context.Background(), short, LiveOptions{Policies: []string{"wfair"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `domain "blink" cannot run live`)
	assert.Contains(t, err.Error(), "shorter than the shortest job a live guest runs")
}

// TestLiveConfigBuildsEveryPolicyTheDaemonRuns: the generated configuration
// passes the daemon's parser and builds a daemon for every policy live
// mode runs, with the harness's parameters.
func TestLiveConfigBuildsEveryPolicyTheDaemonRuns(t *testing.T) {
	sc, err := Load("cloud")
	require.NoError(t, err)
	sim, err := sc.Build(time.Second, 1, false)
	require.NoError(t, err)
	for _, name := range PolicyNames() {
		pc, err := livePolicy(name, sc, "gpu0")
		if name == "fp+wfair" {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err, name)
		cfg, err := liveConfig(sc, sim, name, t.TempDir())
		require.NoError(t, err, name)
		require.Len(t, cfg.Devices, 1)
		assert.Equal(t, pc, cfg.Devices[0].Policy, name)
		assert.Equal(t, "refgpu", cfg.Devices[0].Backend)
		require.Positive(t, sim.Devices[0].Costs.SwitchCost)
		assert.Equal(t, daemon.Duration(sim.Devices[0].Costs.SwitchCost), cfg.Devices[0].SwitchCost, "%s: the scenario's switch cost", name)
		_, err = daemon.New(cfg, nil)
		require.NoError(t, err, name)
	}
	pc, err := livePolicy("nvidia-fixed-share", sc, "gpu0")
	require.NoError(t, err)
	assert.Equal(t, daemon.PolicyConfig{Name: "nvidia-fixed", Slice: daemon.Duration(scheduler.NVIDIADefaultSlice(8)), MaxVGPUs: 8}, pc, "one slot per domain of the device")
	pc, err = livePolicy("wfair", sc, "gpu0")
	require.NoError(t, err)
	assert.Equal(t, daemon.PolicyConfig{Name: "wfq", Slice: daemon.Duration(4 * time.Millisecond)}, pc, "the scenario's quantum")
}

// TestHoldingTraceTilesTheWindow: switches become a switch span for their
// cost and a span of the incoming vcoproc until the next one; switches
// before the run set who held the device at its start.
func TestHoldingTraceTilesTheWindow(t *testing.T) {
	sim, err := mustParse(t, liveScenario).Build(time.Second, 1, false)
	require.NoError(t, err)
	offset := -10 * time.Millisecond // the daemon's clock is 10 ms ahead of the run's
	trace := map[string][]api.Switch{"gpu0": {
		{AtNs: int64(5 * time.Millisecond), To: "b/gpu0", CostNs: 20_000},
		{AtNs: int64(12 * time.Millisecond), From: "b/gpu0", To: "a/gpu0", CostNs: 20_000},
		{AtNs: int64(30 * time.Millisecond), From: "a/gpu0", To: "tick/gpu0", CostNs: 20_000},
		{AtNs: int64(80 * time.Millisecond), From: "tick/gpu0", To: "a/gpu0", CostNs: 20_000},
	}}
	spans := holdingTrace(sim, trace, offset, 50*time.Millisecond)
	want := []simulator.Span{
		{Start: 0, End: 2 * time.Millisecond, VCoproc: 1, Kind: simulator.SpanRun},
		{Start: 2 * time.Millisecond, End: 2*time.Millisecond + 20*time.Microsecond, VCoproc: 0, Kind: simulator.SpanSwitch},
		{Start: 2*time.Millisecond + 20*time.Microsecond, End: 20 * time.Millisecond, VCoproc: 0, Kind: simulator.SpanRun},
		{Start: 20 * time.Millisecond, End: 20*time.Millisecond + 20*time.Microsecond, VCoproc: 2, Kind: simulator.SpanSwitch},
		{Start: 20*time.Millisecond + 20*time.Microsecond, End: 50 * time.Millisecond, VCoproc: 2, Kind: simulator.SpanRun},
	}
	assert.Equal(t, want, spans)
}

func mustParse(t *testing.T, yaml string) *Scenario {
	t.Helper()
	sc, err := Parse([]byte(yaml), "test.yaml")
	require.NoError(t, err)
	return sc
}

// TestLiveDomainStartingPastTheHorizon: a domain that starts after the live
// horizon (shorter than the scenario's) is admitted but runs no guest and
// has an empty row, as in sim mode, instead of failing the run.
func TestLiveDomainStartingPastTheHorizon(t *testing.T) {
	sc := mustParse(t, minimal+"  - name: late\n    start: 5s\n    workload: {type: saturating, exec: 1ms}\nhorizon: 10s\n")
	rep, err := Live(context.Background(), sc, LiveOptions{Policies: []string{"wfair"}, Horizon: 300 * time.Millisecond, NoTrace: true})
	require.NoError(t, err)
	require.Len(t, rep.Runs, 1)
	run := rep.Runs[0]
	require.Empty(t, run.Error)
	assert.Positive(t, run.Domain("a").Completed)
	late := run.Domain("late")
	require.NotNil(t, late)
	assert.Empty(t, late.Refused, "admitted, as in sim mode")
	assert.Zero(t, late.Released)
	assert.Zero(t, late.ServiceNS)
}

// TestLiveNotesFixedSharesQuantum: the daemon builds fixed-share from the
// frame alone (its quantum is the frame's tenth), so the report says so
// when the scenario's quantum differs, and only when fixed-share runs.
func TestLiveNotesFixedSharesQuantum(t *testing.T) {
	sc := mustParse(t, minimal+"options: {quantum: 2ms, frame: 50ms}\n")
	pc, err := livePolicy("fixed-share", sc, "gpu0")
	require.NoError(t, err)
	assert.Equal(t, daemon.PolicyConfig{Name: "fixed-share", Slice: daemon.Duration(50 * time.Millisecond)}, pc)
	ls, runnable, _, err := newLiveSetup(sc, LiveOptions{Policies: []string{"wfair", "fixed-share"}, Guest: []string{"unused"}})
	require.NoError(t, err)
	const want = "fixed-share runs with a quantum of 5ms (the frame's tenth) for the unreserved part of the frame, where sim mode uses the scenario's quantum, 2ms"
	assert.Contains(t, strings.Join(ls.notes(runnable), "\n"), want)
	assert.NotContains(t, strings.Join(ls.notes(runnable[:1]), "\n"), "fixed-share", "no note when fixed-share does not run")
	assert.Empty(t, fixedShareNote(PolicyOptions{Quantum: 5 * time.Millisecond, Frame: 50 * time.Millisecond}), "no note when they agree")
}
