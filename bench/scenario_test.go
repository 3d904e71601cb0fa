package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/simulator"
)

func TestShippedScenariosParseAndBuild(t *testing.T) {
	names := Shipped()
	require.Subset(t, names, []string{"automotive", "cloud", "fpga", "dsp"})
	for _, name := range names {
		sc, err := Load(name)
		require.NoError(t, err, name)
		assert.Equal(t, name, sc.Name, "a shipped scenario's name is its file name")
		assert.NotEmpty(t, sc.Description, name)
		sim, err := sc.Build(0, sc.Seed, false)
		require.NoError(t, err, name)
		assert.Equal(t, sc.Horizon, sim.Horizon)
		assert.Len(t, sim.VCoprocs, len(sc.Domains()))
	}
}

func TestLoadReadsAPathFromAnyDirectory(t *testing.T) {
	data, err := shipped.ReadFile("scenarios/automotive.yaml")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "mine.yaml")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	sc, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, p, sc.Source)
	assert.Equal(t, "automotive", sc.Name)

	_, err = Load("no-such-scenario")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no shipped scenario "no-such-scenario"`)
	assert.Contains(t, err.Error(), "automotive")
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.yaml")
}

// TestAutomotiveFileIsTheSimulatorsMix: the shipped file declares exactly
// simulator.Automotive, so the harness and the simulator's own tests speak
// of the same work.
func TestAutomotiveFileIsTheSimulatorsMix(t *testing.T) {
	sc, err := Load("automotive")
	require.NoError(t, err)
	got, err := sc.Build(10*time.Second, 1, false)
	require.NoError(t, err)
	want := simulator.Automotive(10 * time.Second)
	assert.Equal(t, want.Devices, got.Devices)
	require.Len(t, got.VCoprocs, len(want.VCoprocs))
	for i := range want.VCoprocs {
		w, g := want.VCoprocs[i], got.VCoprocs[i]
		assert.Equal(t, w.Name, g.Name)
		assert.Equal(t, w.Params, g.Params, w.Name)
		assert.Equal(t, w.Workload, g.Workload, w.Name)
	}
}

const goodScenario = `
name: mix
description: every feature once
horizon: 10s
seed: 7
policies: [edf+wfair, rrobin]
options: {quantum: 3ms, slice: 5ms, frame: 50ms, max_vgpus: 4}
baseline: exclusive
devices:
  - name: gpu0
    class: gpu
    switch_cost: 25us
    max_non_preemptible: 1ms
  - name: dsp0
    class: dsp
    no_wake_preemption: true
domains:
  - name: frame
    device: gpu0
    weight: 3
    priority: 5
    share: 0.25
    reservation: {budget: 5ms, period: 60Hz, deadline: 10ms}
    workload: {type: periodic, period: 60Hz, exec: 4ms, exec_min: 3ms, segment: 500us, offset: 1ms, jitter: 100us, deadline: 12ms}
  - name: leaver
    device: dsp0
    start: 1s
    stop: 50%
    workload: {type: saturating, exec: 2ms}
  - name: steady
    device: gpu0
    workload: {type: poisson, rate: 100, exec: 1ms}
  - name: bursty
    device: dsp0
    workload: {type: on_off, rate: 50, on_mean: 100ms, off_mean: 200ms, exec: 1ms}
task_sets:
  - {name: rt, device: gpu0, tasks: 3, utilization: 0.3, period_min: 5ms, period_max: 50ms, granularity: 1ms, priority: 100}
`

func TestParseReadsEveryField(t *testing.T) {
	sc, err := Parse([]byte(goodScenario), "good.yaml")
	require.NoError(t, err)
	assert.Equal(t, "mix", sc.Name)
	assert.Equal(t, 10*time.Second, sc.Horizon)
	assert.Equal(t, uint64(7), sc.Seed)
	assert.Equal(t, []string{"edf+wfair", "rrobin"}, sc.Policies)
	assert.Equal(t, PolicyOptions{Quantum: 3 * time.Millisecond, Slice: 5 * time.Millisecond, Frame: 50 * time.Millisecond, MaxVGPUs: 4}, sc.Options)
	assert.Equal(t, []string{"frame", "leaver", "steady", "bursty", "rt-0", "rt-1", "rt-2"}, sc.Domains())
	assert.Equal(t, "exclusive", sc.Baseline)
	assert.Equal(t, "gpu", sc.deviceClass("gpu0"))
	assert.Equal(t, "dsp", sc.deviceClass("dsp0"))

	sim, err := sc.Build(20*time.Second, 3, true)
	require.NoError(t, err)
	assert.True(t, sim.RecordTrace)
	require.Len(t, sim.Devices, 2)
	assert.Equal(t, 25*time.Microsecond, sim.Devices[0].Costs.SwitchCost)
	assert.True(t, sim.Devices[1].NoWakePreemption)
	frame := sim.VCoprocs[0]
	assert.Equal(t, time.Second/60, frame.Params.Period, "60Hz is exactly the simulator's 1/60 s")
	assert.Equal(t, 10*time.Millisecond, frame.Params.Deadline)
	assert.Equal(t, 0.25, frame.Params.Share)
	assert.Equal(t, simulator.Periodic{JobSpec: simulator.JobSpec{Exec: 4 * time.Millisecond, ExecMin: 3 * time.Millisecond, Segment: 500 * time.Microsecond, Deadline: 12 * time.Millisecond},
		Period: time.Second / 60, Offset: time.Millisecond, ReleaseJitter: 100 * time.Microsecond}, frame.Workload)
	leaver := sim.VCoprocs[1]
	assert.Equal(t, time.Second, leaver.Start)
	assert.Equal(t, 10*time.Second, leaver.Stop, "50%% of a 20 s horizon")
	assert.Equal(t, simulator.Poisson{JobSpec: simulator.JobSpec{Exec: time.Millisecond}, Rate: 100}, sim.VCoprocs[2].Workload)
	assert.Equal(t, simulator.OnOff{JobSpec: simulator.JobSpec{Exec: time.Millisecond}, Rate: 50, OnMean: 100 * time.Millisecond, OffMean: 200 * time.Millisecond}, sim.VCoprocs[3].Workload)
	// The task set: drawn from the seed, rate-monotonic priorities from
	// the base, the same set for the same seed.
	var util float64
	for _, v := range sim.VCoprocs[4:] {
		assert.Equal(t, "gpu0", v.Device)
		assert.GreaterOrEqual(t, v.Params.Priority, 100)
		util += float64(v.Params.Budget) / float64(v.Params.Period)
		for _, w := range sim.VCoprocs[4:] {
			if w.Params.Period < v.Params.Period {
				assert.Greater(t, w.Params.Priority, v.Params.Priority, "shorter period, higher priority")
			}
		}
	}
	assert.InDelta(t, 0.3, util, 0.01)
	again, err := sc.Build(20*time.Second, 3, true)
	require.NoError(t, err)
	assert.Equal(t, sim.VCoprocs[4:], again.VCoprocs[4:])
	other, err := sc.Build(20*time.Second, 4, true)
	require.NoError(t, err)
	assert.NotEqual(t, sim.VCoprocs[4:], other.VCoprocs[4:], "another seed draws another task set")
}

const minimal = "name: x\ndevices:\n  - name: gpu0\ndomains:\n  - name: a\n    workload: {type: saturating, exec: 1ms}\n"

func TestParseRefusesWithLineAndReason(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"unknown top key", minimal + "colour: red\n", 7, "field colour not found"},
		{"unknown domain key", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    wieght: 2\n    workload: {type: saturating, exec: 1ms}\n", 5, "field wieght not found"},
		{"key the workload type does not read", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload:\n      type: periodic\n      period: 5ms\n      exec: 1ms\n      rate: 5\n", 9, `a periodic workload does not read "rate"`},
		{"duration without unit", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload: {type: saturating, exec: 5}\n", 5, `duration "5" has no unit`},
		{"not a duration", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload: {type: saturating, exec: soon}\n", 5, `"soon" is not a duration`},
		{"bad frequency", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload: {type: periodic, period: -60Hz, exec: 1ms}\n", 5, "must be a positive number of Hz"},
		{"negative switch cost", "name: x\ndevices:\n  - name: gpu0\n    switch_cost: -1ms\ndomains:\n  - name: a\n    workload: {type: saturating, exec: 1ms}\n", 4, "switch_cost -1ms is negative"},
		{"zero exec", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload:\n      type: saturating\n      exec: 0s\n", 7, "needs a positive exec"},
		{"exec_min above exec", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload:\n      type: saturating\n      exec: 1ms\n      exec_min: 2ms\n", 8, "exec_min 2ms exceeds exec 1ms"},
		{"no workload type", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload:\n      exec: 1ms\n", 5, "the workload has no type"},
		{"unknown workload type", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload:\n      type: sometimes\n      exec: 1ms\n", 6, `unknown workload type "sometimes"`},
		{"stop before start", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    start: 2s\n    stop: 1s\n    workload: {type: saturating, exec: 1ms}\n", 6, "stop 1s is not after start 2s"},
		{"percent out of range", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    stop: 150%\n    workload: {type: saturating, exec: 1ms}\n", 5, "percentage of the horizon"},
		{"budget above period", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    reservation:\n      budget: 20ms\n      period: 10ms\n    workload: {type: saturating, exec: 1ms}\n", 6, "budget 20ms exceeds its period 10ms"},
		{"share above one", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    share: 1.5\n    workload: {type: saturating, exec: 1ms}\n", 5, "share 1.5 must be in [0, 1]"},
		{"unknown device", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    device: gpu9\n    workload: {type: saturating, exec: 1ms}\n", 5, `device "gpu9" is not declared`},
		{"no device named with two", "name: x\ndevices: [{name: gpu0}, {name: gpu1}]\ndomains:\n  - name: a\n    workload: {type: saturating, exec: 1ms}\n", 4, "names no device and the scenario has 2"},
		{"duplicate domain", minimal + "  - name: a\n    workload: {type: saturating, exec: 1ms}\n", 7, `domain "a" is declared twice`},
		{"duplicate key", "name: x\nname: y\n", 2, `mapping key "name" already defined`},
		{"space in name", "name: x\ndevices: [{name: gpu 0}]\n", 2, "without spaces"},
		{"unknown policy", minimal + "policies: [edf+wfair, lottery]\n", 7, `unknown policy "lottery"`},
		{"policy twice", minimal + "policies: [rrobin, rrobin]\n", 7, `policy "rrobin" is listed twice`},
		{"horizon too long", minimal + "horizon: 2000h\n", 7, "horizon 2000h0m0s must be in"},
		{"poisson without rate", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload:\n      type: poisson\n      exec: 1ms\n", 5, "rate 0 must be in"},
		{"on_off without means", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload:\n      type: on_off\n      rate: 10\n      exec: 1ms\n", 5, "needs positive on_mean and off_mean"},
		{"jitter not below period", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: a\n    workload: {type: periodic, period: 5ms, jitter: 5ms, exec: 1ms}\n", 5, "jitter 5ms must be shorter than the period 5ms"},
		{"task set utilization", "name: x\ndevices: [{name: gpu0}]\ntask_sets:\n  - name: rt\n    tasks: 2\n    utilization: 3\n    period_min: 1ms\n    period_max: 2ms\n", 6, "utilization 3 must be in (0, 1]"},
		{"task set clashes with a domain", "name: x\ndevices: [{name: gpu0}]\ndomains:\n  - name: rt-0\n    workload: {type: saturating, exec: 1ms}\ntask_sets:\n  - {name: rt, tasks: 1, utilization: 0.1, period_min: 1ms, period_max: 2ms}\n", 7, `names its task "rt-0"`},
		{"wrong type", "name: x\nseed: many\n", 2, "cannot unmarshal"},
		{"no devices", "name: x\ndomains:\n  - name: a\n    workload: {type: saturating, exec: 1ms}\n", 1, "declares no device"},
		{"two documents", minimal + "---\nname: y\n", 7, "one YAML document"},
		{"not a mapping", "- a\n- b\n", 1, "a scenario is a mapping"},
		{"unknown device class", "name: x\ndevices:\n  - name: npu0\n    class: npu\ndomains:\n  - name: a\n    workload: {type: saturating, exec: 1ms}\n", 4, `class "npu" is not one of gpu, fpga, dsp`},
		{"unknown baseline", minimal + "baseline: shared\n", 7, `baseline "shared": the only baseline is exclusive`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "bad.yaml")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "bad.yaml: ")
			assert.Contains(t, err.Error(), "line "+itoa(tc.line)+":", "error: %v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := Parse(nil, "empty.yaml")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "empty.yaml: the file is empty")
}

func itoa(n int) string { return strconv.Itoa(n) }
