package bench

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/coprocd/coprocd/internal/yamlpath"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/simulator"
)

//go:embed scenarios/*.yaml
var shipped embed.FS

// Limits on what a scenario may ask for. They keep a typo (a horizon of
// 1000h, a million tenants) from turning into a run that never ends or
// exhausts memory; each is far beyond any sensible benchmark.
const (
	MaxHorizon  = 1000 * time.Hour
	maxDomains  = 1024
	maxDevices  = 64
	maxTasks    = 256
	maxRate     = 1e6 // jobs per second per domain
	maxWeight   = 1 << 20
	maxNameLen  = 64
	defaultHorz = 30 * time.Second
)

// Scenario is a parsed, validated scenario file: the tenants, devices and
// costs of one workload mix, and the policies its shoot-out compares by
// default. Build turns it into a simulator.Scenario for a given horizon
// and seed.
type Scenario struct {
	// Name identifies the scenario ("automotive").
	Name string
	// Description says what it models, for the report.
	Description string
	// Source is where it was read from ("embedded:automotive.yaml" or a path).
	Source string
	// Horizon is the default span of virtual time.
	Horizon time.Duration
	// Seed is the default seed.
	Seed uint64
	// Policies is the default shoot-out, in table order.
	Policies []string
	// Options tune the policies built for this scenario.
	Options PolicyOptions
	// Timeline is the window the timeline picture shows, from the start.
	Timeline time.Duration
	// Baseline is "exclusive" when a live run also runs the first domain
	// of each device alone, in the same invocation, and reports every
	// policy's throughput on the device against it (the sharing
	// overhead); "" runs no baseline. Sim mode ignores it.
	Baseline string

	file scenarioFile
}

// PolicyOptions are the knobs the policy table reads.
type PolicyOptions struct {
	// Quantum is the slice of the fair-share policies and of the
	// best-effort part of the hierarchical ones.
	Quantum time.Duration
	// Slice is the round-robin slice (Xen SCF's rrobin).
	Slice time.Duration
	// Frame is the fixed-share policy's frame.
	Frame time.Duration
	// MaxVGPUs is the NVIDIA fixed-share slot count; 0 means the number of
	// domains on the device.
	MaxVGPUs int
}

// The file format. Field names are the YAML keys; Parse decodes with
// unknown keys refused and then validates every value with its line.
type scenarioFile struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Horizon     Duration      `yaml:"horizon"`
	Seed        uint64        `yaml:"seed"`
	Policies    []string      `yaml:"policies"`
	Options     optionsFile   `yaml:"options"`
	Timeline    Duration      `yaml:"timeline"`
	Baseline    string        `yaml:"baseline"`
	Devices     []deviceFile  `yaml:"devices"`
	Domains     []domainFile  `yaml:"domains"`
	TaskSets    []taskSetFile `yaml:"task_sets"`
}

type optionsFile struct {
	Quantum  Duration `yaml:"quantum"`
	Slice    Duration `yaml:"slice"`
	Frame    Duration `yaml:"frame"`
	MaxVGPUs int      `yaml:"max_vgpus"`
}

type deviceFile struct {
	Name string `yaml:"name"`
	// Class is gpu (default), fpga or dsp: what kind of device the
	// scenario models. The simulator does not read it; live mode runs
	// GPU scenarios only, on the reference GPU.
	Class string `yaml:"class"`
	// SwitchCost is one context switch: for a GPU a context save and
	// restore, for an FPGA a partial reconfiguration of the region.
	SwitchCost Duration `yaml:"switch_cost"`
	// MaxNonPreemptible is the preemption granularity.
	MaxNonPreemptible Duration `yaml:"max_non_preemptible"`
	NoWakePreemption  bool     `yaml:"no_wake_preemption"`
}

type domainFile struct {
	Name        string           `yaml:"name"`
	Device      string           `yaml:"device"`
	Weight      uint32           `yaml:"weight"`
	Priority    int              `yaml:"priority"`
	Share       float64          `yaml:"share"`
	Reservation *reservationFile `yaml:"reservation"`
	Start       Instant          `yaml:"start"`
	Stop        *Instant         `yaml:"stop"`
	Workload    workloadFile     `yaml:"workload"`
}

type reservationFile struct {
	Budget   Duration `yaml:"budget"`
	Period   Duration `yaml:"period"`
	Deadline Duration `yaml:"deadline"`
}

// workloadFile is every workload kind's fields in one mapping; Type says
// which kind, and validation refuses the keys that kind does not read.
type workloadFile struct {
	Type     string   `yaml:"type"`
	Exec     Duration `yaml:"exec"`
	ExecMin  Duration `yaml:"exec_min"`
	Segment  Duration `yaml:"segment"`
	Deadline Duration `yaml:"deadline"`
	Period   Duration `yaml:"period"`
	Offset   Duration `yaml:"offset"`
	Jitter   Duration `yaml:"jitter"`
	Rate     float64  `yaml:"rate"`
	OnMean   Duration `yaml:"on_mean"`
	OffMean  Duration `yaml:"off_mean"`
}

type taskSetFile struct {
	Name        string   `yaml:"name"`
	Device      string   `yaml:"device"`
	Tasks       int      `yaml:"tasks"`
	Utilization float64  `yaml:"utilization"`
	PeriodMin   Duration `yaml:"period_min"`
	PeriodMax   Duration `yaml:"period_max"`
	Granularity Duration `yaml:"granularity"`
	Segment     Duration `yaml:"segment"`
	Weight      uint32   `yaml:"weight"`
	Priority    int      `yaml:"priority"`
}

// deviceClasses are the values of a device's class ("" is gpu).
var deviceClasses = []string{"", "gpu", "fpga", "dsp"}

// workloadKeys is, for each workload type, the keys it reads.
var workloadKeys = map[string][]string{
	"periodic":   {"type", "exec", "exec_min", "segment", "deadline", "period", "offset", "jitter"},
	"saturating": {"type", "exec", "exec_min", "segment", "deadline"},
	"poisson":    {"type", "exec", "exec_min", "segment", "deadline", "rate"},
	"on_off":     {"type", "exec", "exec_min", "segment", "deadline", "rate", "on_mean", "off_mean"},
}

// Shipped lists the names of the scenarios embedded in the binary.
func Shipped() []string {
	entries, err := fs.ReadDir(shipped, "scenarios")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Load reads a scenario by name or path: a name of a shipped scenario
// ("automotive") reads the embedded file, so the command works from any
// directory; anything else is read as a file.
func Load(nameOrPath string) (*Scenario, error) {
	if !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".yaml") && !strings.HasSuffix(nameOrPath, ".yml") {
		data, err := shipped.ReadFile(path.Join("scenarios", nameOrPath+".yaml"))
		if err != nil {
			return nil, fmt.Errorf("bench: no shipped scenario %q (shipped: %s); give a path to read a file", nameOrPath, strings.Join(Shipped(), ", "))
		}
		return Parse(data, "embedded:"+nameOrPath+".yaml")
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("bench: reading scenario: %w", err)
	}
	return Parse(data, nameOrPath)
}

// Parse reads a scenario file strictly: unknown keys, duplicate keys,
// values of the wrong type and impossible values are errors naming the
// source, the line and the reason.
func Parse(data []byte, source string) (*Scenario, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty: a scenario needs at least devices and domains", source)
		}
		return nil, fmt.Errorf("%s: %s", source, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		return nil, fmt.Errorf("%s: line %d: a scenario file holds one YAML document; found another", source, line)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: a scenario is a mapping (name:, devices:, domains:, ...)", source, yamlpath.Line(&root))
	}

	var f scenarioFile
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&f); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
		msg = strings.ReplaceAll(msg, "\n  ", "; ")
		for _, t := range []string{"scenarioFile", "optionsFile", "deviceFile", "domainFile", "reservationFile", "workloadFile", "taskSetFile"} {
			msg = strings.ReplaceAll(msg, " in type bench."+t, " in "+strings.TrimSuffix(t, "File"))
		}
		return nil, fmt.Errorf("%s: %s", source, msg)
	}
	sc, err := f.validate(&root)
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s: line %d: %s", source, yamlpath.Line(&root, fe.path...), fe.msg)
		}
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	sc.Source = source
	return sc, nil
}

func checkName(p []any, what, name string) error {
	switch {
	case name == "":
		return errAt(p, "%s has no name", what)
	case len(name) > maxNameLen:
		return errAt(p, "%s name %.20q... is longer than %d bytes", what, name, maxNameLen)
	case strings.ContainsFunc(name, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == ',' || r == '"' || r == '/' || r == '\\' || r > 0x7e
	}):
		return errAt(p, "%s name %q may hold only printable ASCII without spaces, commas, quotes or slashes", what, name)
	}
	return nil
}

func nonNegative(p []any, what string, d Duration) error {
	if d < 0 {
		return errAt(p, "%s %v is negative", what, time.Duration(d))
	}
	if time.Duration(d) > MaxHorizon {
		return errAt(p, "%s %v is longer than the longest horizon, %v", what, time.Duration(d), MaxHorizon)
	}
	return nil
}

func (f *scenarioFile) validate(root *yaml.Node) (*Scenario, error) {
	sc := &Scenario{
		Name:        f.Name,
		Description: strings.TrimSpace(f.Description),
		Horizon:     time.Duration(f.Horizon),
		Seed:        f.Seed,
		Timeline:    time.Duration(f.Timeline),
		file:        *f,
	}
	if err := checkName([]any{"name"}, "the scenario", f.Name); err != nil {
		return nil, err
	}
	if sc.Horizon == 0 {
		sc.Horizon = defaultHorz
	}
	if err := checkHorizon([]any{"horizon"}, sc.Horizon); err != nil {
		return nil, err
	}
	if err := nonNegative([]any{"timeline"}, "timeline", f.Timeline); err != nil {
		return nil, err
	}
	if sc.Timeline == 0 {
		sc.Timeline = 200 * time.Millisecond
	}
	if f.Baseline != "" && f.Baseline != "exclusive" {
		return nil, errAt([]any{"baseline"}, "baseline %q: the only baseline is exclusive (the first domain of each device alone)", f.Baseline)
	}
	sc.Baseline = f.Baseline

	// Options.
	o := f.Options
	for _, d := range []struct {
		key string
		v   Duration
	}{{"quantum", o.Quantum}, {"slice", o.Slice}, {"frame", o.Frame}} {
		if err := nonNegative([]any{"options", d.key}, d.key, d.v); err != nil {
			return nil, err
		}
	}
	sc.Options = PolicyOptions{Quantum: time.Duration(o.Quantum), Slice: time.Duration(o.Slice), Frame: time.Duration(o.Frame), MaxVGPUs: o.MaxVGPUs}
	if sc.Options.Quantum == 0 {
		sc.Options.Quantum = 2 * time.Millisecond
	}
	if sc.Options.Slice == 0 {
		sc.Options.Slice = scheduler.DefaultSlice
	}
	if sc.Options.Frame == 0 {
		sc.Options.Frame = 100 * time.Millisecond
	}
	if o.MaxVGPUs < 0 || o.MaxVGPUs > maxDomains {
		return nil, errAt([]any{"options", "max_vgpus"}, "max_vgpus %d must be in [0, %d] (0: the number of domains on the device)", o.MaxVGPUs, maxDomains)
	}

	// Policies.
	for i, name := range f.Policies {
		if _, ok := policyByName(name); !ok {
			return nil, errAt([]any{"policies", i}, "unknown policy %q (known: %s)", name, strings.Join(PolicyNames(), ", "))
		}
		if slices.Index(f.Policies, name) != i {
			return nil, errAt([]any{"policies", i}, "policy %q is listed twice", name)
		}
	}
	sc.Policies = slices.Clone(f.Policies)
	if len(sc.Policies) == 0 {
		sc.Policies = DefaultPolicies()
	}

	// Devices.
	if len(f.Devices) == 0 {
		return nil, errAt([]any{"devices"}, "the scenario declares no device")
	}
	if len(f.Devices) > maxDevices {
		return nil, errAt([]any{"devices"}, "%d devices is more than %d", len(f.Devices), maxDevices)
	}
	devices := map[string]bool{}
	for i, d := range f.Devices {
		p := []any{"devices", i}
		if err := checkName(at(p, "name"), "device", d.Name); err != nil {
			return nil, err
		}
		if devices[d.Name] {
			return nil, errAt(at(p, "name"), "device %q is declared twice", d.Name)
		}
		devices[d.Name] = true
		if !slices.Contains(deviceClasses, d.Class) {
			return nil, errAt(at(p, "class"), "device %s: class %q is not one of gpu, fpga, dsp", d.Name, d.Class)
		}
		if err := nonNegative(at(p, "switch_cost"), "device "+d.Name+": switch_cost", d.SwitchCost); err != nil {
			return nil, err
		}
		if err := nonNegative(at(p, "max_non_preemptible"), "device "+d.Name+": max_non_preemptible", d.MaxNonPreemptible); err != nil {
			return nil, err
		}
	}
	deviceOf := func(p []any, name string) (string, error) {
		if name == "" {
			if len(f.Devices) == 1 {
				return f.Devices[0].Name, nil
			}
			return "", errAt(p, "names no device and the scenario has %d; say which with device:", len(f.Devices))
		}
		if !devices[name] {
			return "", errAt(at(p, "device"), "device %q is not declared under devices:", name)
		}
		return name, nil
	}

	// Domains and task sets.
	if len(f.Domains)+len(f.TaskSets) == 0 {
		return nil, errAt([]any{"domains"}, "the scenario declares no domain and no task set")
	}
	if len(f.Domains) > maxDomains {
		return nil, errAt([]any{"domains"}, "%d domains is more than %d", len(f.Domains), maxDomains)
	}
	names := map[string]bool{}
	for i, d := range f.Domains {
		p := []any{"domains", i}
		if err := checkName(at(p, "name"), "domain", d.Name); err != nil {
			return nil, err
		}
		if names[d.Name] {
			return nil, errAt(at(p, "name"), "domain %q is declared twice", d.Name)
		}
		names[d.Name] = true
		if _, err := deviceOf(p, d.Device); err != nil {
			return nil, err
		}
		if err := d.validate(root, p, sc.Horizon); err != nil {
			return nil, err
		}
	}
	for i, ts := range f.TaskSets {
		p := []any{"task_sets", i}
		if err := checkName(at(p, "name"), "task set", ts.Name); err != nil {
			return nil, err
		}
		if _, err := deviceOf(p, ts.Device); err != nil {
			return nil, err
		}
		if err := ts.validate(p); err != nil {
			return nil, err
		}
		for k := 0; k < ts.Tasks; k++ {
			n := taskName(ts.Name, k)
			if names[n] {
				return nil, errAt(at(p, "name"), "task set %q names its task %q, which another domain already has", ts.Name, n)
			}
			names[n] = true
		}
	}
	if len(names) > maxDomains {
		return nil, errAt([]any{"task_sets"}, "%d domains in all is more than %d", len(names), maxDomains)
	}
	return sc, nil
}

func checkHorizon(p []any, h time.Duration) error {
	if h <= 0 || h > MaxHorizon {
		return errAt(p, "horizon %v must be in (0, %v]", h, MaxHorizon)
	}
	return nil
}

func (d *domainFile) validate(root *yaml.Node, p []any, horizon time.Duration) error {
	who := fmt.Sprintf("domain %q", d.Name)
	if d.Weight > maxWeight {
		return errAt(at(p, "weight"), "%s: weight %d is above %d", who, d.Weight, maxWeight)
	}
	if math.IsNaN(d.Share) || d.Share < 0 || d.Share > 1 {
		return errAt(at(p, "share"), "%s: share %v must be in [0, 1]", who, d.Share)
	}
	if r := d.Reservation; r != nil {
		rp := at(p, "reservation")
		for _, x := range []struct {
			key string
			v   Duration
		}{{"budget", r.Budget}, {"period", r.Period}, {"deadline", r.Deadline}} {
			if err := nonNegative(at(rp, x.key), who+": reservation "+x.key, x.v); err != nil {
				return err
			}
		}
		if r.Budget <= 0 || r.Period <= 0 {
			return errAt(rp, "%s: a reservation needs a positive budget and period (got budget %v, period %v)", who, time.Duration(r.Budget), time.Duration(r.Period))
		}
		if r.Budget > r.Period {
			return errAt(at(rp, "budget"), "%s: reservation budget %v exceeds its period %v", who, time.Duration(r.Budget), time.Duration(r.Period))
		}
		if r.Deadline != 0 && (r.Deadline < r.Budget || r.Deadline > r.Period) {
			return errAt(at(rp, "deadline"), "%s: reservation deadline %v must be in [budget %v, period %v]", who, time.Duration(r.Deadline), time.Duration(r.Budget), time.Duration(r.Period))
		}
	}
	if !d.Start.Relative {
		if err := nonNegative(at(p, "start"), who+": start", Duration(d.Start.At)); err != nil {
			return err
		}
	}
	if d.Stop != nil {
		if !d.Stop.Relative {
			if err := nonNegative(at(p, "stop"), who+": stop", Duration(d.Stop.At)); err != nil {
				return err
			}
		}
		if d.Stop.resolve(horizon) <= d.Start.resolve(horizon) {
			return errAt(at(p, "stop"), "%s: stop %v is not after start %v", who, d.Stop, d.Start)
		}
	}
	return d.Workload.validate(root, at(p, "workload"), who)
}

func (w *workloadFile) validate(root *yaml.Node, p []any, who string) error {
	allowed, ok := workloadKeys[w.Type]
	if !ok {
		if w.Type == "" {
			return errAt(p, "%s: the workload has no type (one of periodic, saturating, poisson, on_off)", who)
		}
		return errAt(at(p, "type"), "%s: unknown workload type %q (one of periodic, saturating, poisson, on_off)", who, w.Type)
	}
	for _, k := range keysOf(root, p...) {
		if !slices.Contains(allowed, k) {
			return errAt(at(p, k), "%s: a %s workload does not read %q (it reads %s)", who, w.Type, k, strings.Join(allowed[1:], ", "))
		}
	}
	for _, x := range []struct {
		key string
		v   Duration
	}{{"exec", w.Exec}, {"exec_min", w.ExecMin}, {"segment", w.Segment}, {"deadline", w.Deadline}, {"period", w.Period}, {"offset", w.Offset}, {"jitter", w.Jitter}, {"on_mean", w.OnMean}, {"off_mean", w.OffMean}} {
		if err := nonNegative(at(p, x.key), who+": "+x.key, x.v); err != nil {
			return err
		}
	}
	if w.Exec <= 0 {
		return errAt(at(p, "exec"), "%s: a workload needs a positive exec (each job's execution time)", who)
	}
	if w.ExecMin > w.Exec {
		return errAt(at(p, "exec_min"), "%s: exec_min %v exceeds exec %v", who, time.Duration(w.ExecMin), time.Duration(w.Exec))
	}
	switch w.Type {
	case "periodic":
		if w.Period <= 0 {
			return errAt(at(p, "period"), "%s: a periodic workload needs a positive period", who)
		}
		if w.Jitter >= w.Period {
			return errAt(at(p, "jitter"), "%s: jitter %v must be shorter than the period %v", who, time.Duration(w.Jitter), time.Duration(w.Period))
		}
	case "poisson", "on_off":
		if !(w.Rate > 0) || w.Rate > maxRate {
			return errAt(at(p, "rate"), "%s: rate %v must be in (0, %g] jobs per second", who, w.Rate, float64(maxRate))
		}
		if w.Type == "on_off" && (w.OnMean <= 0 || w.OffMean <= 0) {
			return errAt(p, "%s: an on_off workload needs positive on_mean and off_mean (got %v and %v)", who, time.Duration(w.OnMean), time.Duration(w.OffMean))
		}
	}
	return nil
}

func (ts *taskSetFile) validate(p []any) error {
	who := fmt.Sprintf("task set %q", ts.Name)
	if ts.Tasks < 1 || ts.Tasks > maxTasks {
		return errAt(at(p, "tasks"), "%s: tasks %d must be in [1, %d]", who, ts.Tasks, maxTasks)
	}
	// At most 1: a set above it cannot be scheduled on one device, and
	// UUniFast-Discard's draw loops ever longer as the total nears tasks.
	if !(ts.Utilization > 0) || ts.Utilization > 1 {
		return errAt(at(p, "utilization"), "%s: utilization %v must be in (0, 1]: the set shares one device", who, ts.Utilization)
	}
	for _, x := range []struct {
		key string
		v   Duration
	}{{"period_min", ts.PeriodMin}, {"period_max", ts.PeriodMax}, {"granularity", ts.Granularity}, {"segment", ts.Segment}} {
		if err := nonNegative(at(p, x.key), who+": "+x.key, x.v); err != nil {
			return err
		}
	}
	if ts.PeriodMin <= 0 || ts.PeriodMax < ts.PeriodMin {
		return errAt(at(p, "period_min"), "%s: periods [%v, %v] must be positive and in order", who, time.Duration(ts.PeriodMin), time.Duration(ts.PeriodMax))
	}
	if ts.Granularity > ts.PeriodMin {
		return errAt(at(p, "granularity"), "%s: granularity %v exceeds period_min %v", who, time.Duration(ts.Granularity), time.Duration(ts.PeriodMin))
	}
	if ts.Weight > maxWeight {
		return errAt(at(p, "weight"), "%s: weight %d is above %d", who, ts.Weight, maxWeight)
	}
	return nil
}

func taskName(set string, k int) string { return fmt.Sprintf("%s-%d", set, k) }

// Build returns the simulator scenario for a run of the given horizon
// (0: the scenario's) and seed. Random task sets are drawn here, from a
// stream keyed by the seed and the set's name, so every policy of a
// shoot-out sees the same set.
func (s *Scenario) Build(horizon time.Duration, seed uint64, trace bool) (simulator.Scenario, error) {
	if horizon == 0 {
		horizon = s.Horizon
	}
	if err := checkHorizon(nil, horizon); err != nil {
		return simulator.Scenario{}, fmt.Errorf("bench: %w", err)
	}
	f := &s.file
	out := simulator.Scenario{Horizon: horizon, RecordTrace: trace}
	for _, d := range f.Devices {
		out.Devices = append(out.Devices, simulator.Device{
			Name:             d.Name,
			Costs:            scheduler.Costs{SwitchCost: time.Duration(d.SwitchCost), MaxNonPreemptible: time.Duration(d.MaxNonPreemptible)},
			NoWakePreemption: d.NoWakePreemption,
		})
	}
	for _, d := range f.Domains {
		start := d.Start.resolve(horizon)
		var stop time.Duration
		if d.Stop != nil {
			stop = d.Stop.resolve(horizon)
			if stop <= start {
				return simulator.Scenario{}, fmt.Errorf("bench: domain %q: with horizon %v, stop %v is not after start %v", d.Name, horizon, stop, start)
			}
		}
		params := scheduler.Params{Weight: d.Weight, Priority: d.Priority, Share: d.Share}
		if r := d.Reservation; r != nil {
			params.Budget, params.Period, params.Deadline = time.Duration(r.Budget), time.Duration(r.Period), time.Duration(r.Deadline)
		}
		out.VCoprocs = append(out.VCoprocs, simulator.VCoproc{
			Name: d.Name, Device: d.Device, Params: params,
			Workload: d.Workload.build(), Start: start, Stop: stop,
		})
	}
	for _, ts := range f.TaskSets {
		h := fnv.New64a()
		h.Write([]byte(ts.Name))
		rng := rand.New(rand.NewPCG(seed, h.Sum64()))
		tasks, err := simulator.RandomTaskSet(rng, simulator.TaskSetSpec{
			Tasks: ts.Tasks, Utilization: ts.Utilization,
			PeriodMin: time.Duration(ts.PeriodMin), PeriodMax: time.Duration(ts.PeriodMax), PeriodGranularity: time.Duration(ts.Granularity),
			Segment: time.Duration(ts.Segment), Device: ts.Device,
		})
		if err != nil {
			return simulator.Scenario{}, fmt.Errorf("bench: task set %q: %w", ts.Name, err)
		}
		// Rate-monotonic priorities above the set's base: the shortest
		// period runs first, the optimal fixed-priority order for
		// implicit deadlines.
		order := make([]int, len(tasks))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return tasks[order[a]].Params.Period > tasks[order[b]].Params.Period })
		for rank, i := range order {
			tasks[i].Params.Priority = ts.Priority + rank
		}
		for i := range tasks {
			tasks[i].Name = taskName(ts.Name, i)
			tasks[i].Params.Weight = ts.Weight
		}
		out.VCoprocs = append(out.VCoprocs, tasks...)
	}
	return out, nil
}

func (w *workloadFile) build() simulator.Workload {
	j := simulator.JobSpec{Exec: time.Duration(w.Exec), ExecMin: time.Duration(w.ExecMin), Segment: time.Duration(w.Segment), Deadline: time.Duration(w.Deadline)}
	switch w.Type {
	case "periodic":
		return simulator.Periodic{JobSpec: j, Period: time.Duration(w.Period), Offset: time.Duration(w.Offset), ReleaseJitter: time.Duration(w.Jitter)}
	case "poisson":
		return simulator.Poisson{JobSpec: j, Rate: w.Rate}
	case "on_off":
		return simulator.OnOff{JobSpec: j, Rate: w.Rate, OnMean: time.Duration(w.OnMean), OffMean: time.Duration(w.OffMean)}
	default:
		return simulator.Saturating{JobSpec: j}
	}
}

// Domains lists the scenario's domain names in simulator order (declared
// domains, then task-set tasks), with their device.
func (s *Scenario) Domains() []string {
	var out []string
	for _, d := range s.file.Domains {
		out = append(out, d.Name)
	}
	for _, ts := range s.file.TaskSets {
		for k := 0; k < ts.Tasks; k++ {
			out = append(out, taskName(ts.Name, k))
		}
	}
	return out
}

// domainsOn counts the domains on a device, for NVIDIA's fixed-share slot
// count.
func (s *Scenario) domainsOn(device string) int {
	n := 0
	one := len(s.file.Devices) == 1
	for _, d := range s.file.Domains {
		if d.Device == device || (one && d.Device == "") {
			n++
		}
	}
	for _, ts := range s.file.TaskSets {
		if ts.Device == device || (one && ts.Device == "") {
			n += ts.Tasks
		}
	}
	return n
}

// deviceClass is the class a device is declared with: gpu, fpga or dsp.
func (s *Scenario) deviceClass(name string) string {
	for _, d := range s.file.Devices {
		if d.Name == name && d.Class != "" {
			return d.Class
		}
	}
	return "gpu"
}
