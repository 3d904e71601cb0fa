// Package daemon is coprocd the program: it builds the mediator, its
// devices and its domains from a configuration, drives every device under
// the real clock, serves the control API and the Prometheus metrics, keeps
// what must survive a restart in its state directory, and shuts down
// cleanly.
//
// The libraries below it (mediator, scheduler, backends) hold no I/O of
// their own; this package is the edge where sockets, files, signals and the
// wall clock live.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	dspsim "github.com/coprocd/coprocd/backends/dsp/sim"
	fpgasim "github.com/coprocd/coprocd/backends/fpga/sim"
	"github.com/coprocd/coprocd/backends/gpu/nvml"
	gpusim "github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/scheduler"
)

// Daemon is one running coprocd.
type Daemon struct {
	log *slog.Logger
	m   *mediator.Mediator

	mu       sync.Mutex // guards everything below
	cfg      *Config
	devices  map[string]*device
	profiles map[string]Profile
	domains  map[string]*domainState
	state    *stateStore
	vfio     map[string]*vfioExposure // by "domain/device"
	pv       map[string]*pvEndpoint   // by domain
	running  bool                     // Run has made the runtime directory

	nvml    *nvml.Manager  // nil unless nvml.enabled
	gpuAcct *gpuAccounting // nil unless nvml.enabled
	// savedInstances are the MIG instances the state file lists, by
	// domain, to adopt while the domains are restored.
	savedInstances map[string][]savedGPUInstance
	pinDir         string // where filters are pinned; "" when they are not
	// starting is set while New creates the domains: a failure then ends
	// the start, and release keeps what outlives the daemon (see there).
	starting     bool
	probed       bool  // probeIsolation has run
	isolationErr error // why device filters cannot be used here
}

type device struct {
	cfg     DeviceConfig
	backend coproc.Backend
	dev     *mediator.Device
	policy  PolicyConfig
}

type domainState struct {
	spec   DomainSpec
	source string // "config" or "api"
	iso    *isolation
}

// New builds a daemon from a configuration: devices, policies, profiles,
// and the domains of the configuration and of the saved state.
func New(cfg *Config, log *slog.Logger) (*Daemon, error) {
	if log == nil {
		log = slog.Default()
	}
	m, err := mediator.New(mediator.Config{Clock: clock.NewReal(), Logger: log, WatchdogLimit: time.Duration(cfg.Watchdog)})
	if err != nil {
		return nil, err
	}
	d := &Daemon{log: log, m: m, cfg: cfg, devices: map[string]*device{}, profiles: map[string]Profile{}, domains: map[string]*domainState{},
		vfio: map[string]*vfioExposure{}, pv: map[string]*pvEndpoint{}}
	for _, dc := range cfg.Devices {
		if err := d.addDevice(dc); err != nil {
			return nil, err
		}
	}
	for _, p := range cfg.Profiles {
		d.profiles[p.Name] = p
	}
	if err := d.setupNVML(); err != nil {
		return nil, err
	}
	for _, ds := range cfg.Domains {
		if ds.Cgroup != "" {
			d.probeIsolationOnce()
		}
	}
	d.state = newStateStore(cfg.StateDir)
	saved, err := d.state.load()
	if err != nil {
		return nil, err
	}
	d.savedInstances = saved.GPUInstances
	d.starting = true
	for _, spec := range cfg.Domains {
		if err := d.createDomain(spec, "config"); err != nil {
			return nil, fmt.Errorf("domain %q from the configuration: %w", spec.Name, err)
		}
	}
	for _, spec := range saved.Domains {
		if _, clash := d.domains[spec.Name]; clash {
			log.Warn("saved domain shadowed by the configuration", "domain", spec.Name)
			continue
		}
		if err := d.createDomain(spec, "api"); err != nil {
			return nil, fmt.Errorf("restoring domain %q from %s: %w", spec.Name, d.state.path(), err)
		}
		log.Info("domain restored", "domain", spec.Name)
	}
	d.savedInstances = nil
	d.starting = false
	d.reportUnowned()
	d.removeStalePins()
	for name, pc := range saved.Policies {
		if dev, ok := d.devices[name]; ok {
			if err := d.setPolicy(dev, pc); err != nil {
				log.Warn("saved policy not applied", "device", name, "err", err)
			}
		}
	}
	return d, nil
}

// Mediator is the daemon's mediator, for transports that serve guests.
func (d *Daemon) Mediator() *mediator.Mediator { return d.m }

// RefGPUCostModel is the cost model of a reference GPU whose switch_cost
// is switchCost (0: the model's default).
func RefGPUCostModel(switchCost time.Duration) gpusim.CostModel {
	m := gpusim.DefaultCostModel()
	if switchCost > 0 {
		// Cycles at the model's clock, at least one (a zero would mean
		// the default again).
		m.SwitchCycles = max(1, uint64(switchCost.Seconds()*float64(m.ClockHz)+0.5))
	}
	return m
}

func (d *Daemon) addDevice(dc DeviceConfig) error {
	var b coproc.Backend
	switch dc.Backend {
	case "refgpu":
		pre := coproc.Workgroup
		if dc.Preemption == "command" {
			pre = coproc.CommandBoundary
		}
		g, err := gpusim.New(gpusim.Config{Name: dc.Name, VRAMBytes: uint64(dc.VRAM), Preemption: pre, Cost: RefGPUCostModel(time.Duration(dc.SwitchCost))})
		if err != nil {
			return fmt.Errorf("device %q: %w", dc.Name, err)
		}
		b = g
	case "reffpga":
		f, err := fpgasim.New(fpgasim.Config{Name: dc.Name, Regions: dc.Regions, DDRBytes: uint64(dc.VRAM)})
		if err != nil {
			return fmt.Errorf("device %q: %w", dc.Name, err)
		}
		b = f
	case "refdsp":
		p, err := dspsim.New(dspsim.Config{Name: dc.Name, CallBudget: time.Duration(dc.CallBudget)})
		if err != nil {
			return fmt.Errorf("device %q: %w", dc.Name, err)
		}
		b = p
	default:
		return fmt.Errorf("device %q: unknown backend %q", dc.Name, dc.Backend)
	}
	p, err := buildPolicy(dc.Name, dc.Policy, b.Caps())
	if err != nil {
		return fmt.Errorf("device %q: %w", dc.Name, err)
	}
	md, err := d.m.AddDevice(dc.Name, b, p)
	if err != nil {
		return err
	}
	d.devices[dc.Name] = &device{cfg: dc, backend: b, dev: md, policy: dc.Policy}
	return nil
}

// buildPolicy makes a device's policy from its configuration; device names
// the device in admission errors.
func buildPolicy(device string, pc PolicyConfig, caps coproc.Caps) (scheduler.Policy, error) {
	if err := pc.check(); err != nil {
		return nil, err
	}
	costs := scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible}
	slice := time.Duration(pc.Slice)
	rc := scheduler.ReservationConfig{Costs: costs, Label: device, Quantum: slice}
	nv := func(mode scheduler.NVIDIAMode) (scheduler.Policy, error) {
		n := pc.MaxVGPUs
		if n == 0 {
			n = 8
		}
		return scheduler.NewNVIDIAShare(scheduler.NVIDIAConfig{Mode: mode, MaxVGPUs: n, Slice: slice, Costs: costs})
	}
	switch pc.Name {
	case "rrobin":
		return scheduler.NewRoundRobin(slice, costs)
	case "wfq":
		return scheduler.NewWeightedFair(slice, costs)
	case "equal":
		return scheduler.NewEqualShare(slice, costs)
	case "fixed-share":
		return scheduler.NewFixedShare(scheduler.FixedShareConfig{Frame: slice, Costs: costs, Label: device})
	case "edf":
		return scheduler.NewEDF(rc), nil
	case "fp":
		return scheduler.NewFixedPriority(rc), nil
	case "realtime":
		be, err := scheduler.NewWeightedFair(slice, costs)
		if err != nil {
			return nil, err
		}
		return scheduler.NewHierarchical(scheduler.NewEDF(rc), be)
	case "gvtg":
		return scheduler.NewGVTg(), nil
	case "nvidia-best-effort":
		return nv(scheduler.NVIDIABestEffort)
	case "nvidia-equal":
		return nv(scheduler.NVIDIAEqualShare)
	case "nvidia-fixed":
		return nv(scheduler.NVIDIAFixedShare)
	case "amd-gim":
		return scheduler.NewAMDGIM(costs), nil
	}
	return nil, fmt.Errorf("unknown policy %q", pc.Name)
}

// params turns a configured share into the scheduler's parameters.
func params(weight uint32, r Reservation) scheduler.Params {
	return scheduler.Params{Weight: weight, Share: r.Share, Priority: r.Priority,
		Budget: time.Duration(r.Budget), Period: time.Duration(r.Period), Deadline: time.Duration(r.Deadline)}
}

// setPolicy replaces a device's policy while it runs.
func (d *Daemon) setPolicy(dev *device, pc PolicyConfig) error {
	if pc.Slice == 0 {
		pc.Slice = DefaultSlice
	}
	p, err := buildPolicy(dev.cfg.Name, pc, dev.backend.Caps())
	if err != nil {
		return err
	}
	if err := dev.dev.SetPolicy(p); err != nil {
		return err
	}
	dev.policy = pc
	return nil
}

// cgroupOverlap names a domain whose cgroup is cgroup, or above or below
// it: processes are attributed, throttled and stopped by cgroup subtree,
// so two such domains would act on each other's processes.
func (d *Daemon) cgroupOverlap(cgroup string) (string, bool) {
	within := func(dir, parent string) bool {
		return dir == parent || strings.HasPrefix(dir, parent+string(filepath.Separator))
	}
	c := filepath.Clean(cgroup)
	for name, ds := range d.domains {
		if o := ds.spec.Cgroup; o != "" && (within(c, filepath.Clean(o)) || within(filepath.Clean(o), c)) {
			return name, true
		}
	}
	return "", false
}

// createDomain creates a domain and its vcoprocs, taking profile instances;
// on any failure nothing of it remains.
func (d *Daemon) createDomain(spec DomainSpec, source string) (err error) {
	if err := checkName(spec.Name); err != nil {
		return fmt.Errorf("domain %w", err)
	}
	if _, dup := d.domains[spec.Name]; dup {
		return fmt.Errorf("domain %q exists", spec.Name)
	}
	if spec.Cgroup != "" {
		if other, ok := d.cgroupOverlap(spec.Cgroup); ok {
			return fmt.Errorf("domain %q: cgroup %s overlaps domain %q's (%s): a process there would be counted, throttled and stopped as both", spec.Name, spec.Cgroup, other, d.domains[other].spec.Cgroup)
		}
		d.probeIsolationOnce()
	}
	if _, err := d.m.CreateDomain(spec.Name); err != nil {
		return err
	}
	var iso *isolation
	defer func() {
		if err != nil {
			d.release(iso)
			_ = d.m.DestroyDomain(spec.Name)
		}
	}()
	iso, err = d.isolate(spec)
	if err != nil {
		return err
	}
	for _, v := range spec.VCoprocs {
		if err := d.attach(spec.Name, v); err != nil {
			return err
		}
	}
	d.domains[spec.Name] = &domainState{spec: spec, source: source, iso: iso}
	if d.running {
		if err := d.servePV(spec.Name); err != nil {
			delete(d.domains, spec.Name)
			return err
		}
		for _, v := range spec.VCoprocs {
			if v.VFIOUser {
				if err := d.exposeVFIOUser(spec.Name, v.Device); err != nil {
					for _, w := range spec.VCoprocs {
						_ = d.unexposeVFIOUser(spec.Name + "/" + w.Device)
					}
					d.stopPV(spec.Name)
					delete(d.domains, spec.Name)
					return err
				}
			}
		}
	}
	return nil
}

// attach gives a domain a vcoproc, with a profile's share or its own.
func (d *Daemon) attach(domain string, v VCoprocSpec) error {
	if _, ok := d.devices[v.Device]; !ok {
		return fmt.Errorf("no device %q", v.Device)
	}
	prm := params(v.Weight, v.Reservation)
	quota := uint64(v.Memory)
	if v.Profile != "" {
		p, ok := d.profiles[v.Profile]
		if !ok {
			return fmt.Errorf("no profile %q", v.Profile)
		}
		if p.Device != v.Device {
			return fmt.Errorf("profile %q is for device %q, not %q", v.Profile, p.Device, v.Device)
		}
		if used := d.profileInUse(p.Name); used >= p.Instances {
			return fmt.Errorf("profile %q has no available instances (%d of %d in use)", p.Name, used, p.Instances)
		}
		prm, quota = params(p.Weight, p.Reservation), uint64(p.Memory)
	}
	_, err := d.m.Attach(domain, v.Device, mediator.VCoprocConfig{Params: prm, MemoryQuota: quota})
	return err
}

// profileInUse counts the vcoprocs of existing domains that use a profile.
// It is derived, never kept: a domain being created is not counted until
// it exists, and it cannot use one profile twice (a profile is one device's,
// and a domain has one vcoproc per device).
func (d *Daemon) profileInUse(name string) int {
	n := 0
	for _, ds := range d.domains {
		for _, v := range ds.spec.VCoprocs {
			if v.Profile == name {
				n++
			}
		}
	}
	return n
}

func (d *Daemon) destroyDomain(name string) error {
	ds, ok := d.domains[name]
	if !ok {
		return fmt.Errorf("no domain %q", name)
	}
	d.stopPV(name)
	for _, v := range ds.spec.VCoprocs {
		if err := d.unexposeVFIOUser(name + "/" + v.Device); err != nil {
			d.log.Warn("stopping vfio-user", "vcoproc", name+"/"+v.Device, "err", err)
		}
	}
	if err := d.m.DestroyDomain(name); err != nil {
		return err
	}
	d.release(ds.iso)
	delete(d.domains, name)
	return nil
}

// saveState writes the API-created domains and policy changes atomically.
func (d *Daemon) saveState() error {
	s := savedState{Version: stateVersion, Policies: map[string]PolicyConfig{}}
	for _, ds := range d.domains {
		if ds.source == "api" {
			s.Domains = append(s.Domains, ds.spec)
		}
	}
	sort.Slice(s.Domains, func(i, j int) bool { return s.Domains[i].Name < s.Domains[j].Name })
	s.GPUInstances = d.savedGPUInstances()
	for name, dev := range d.devices {
		if dev.policy != dev.cfg.Policy {
			s.Policies[name] = dev.policy
		}
	}
	return d.state.save(s)
}

// runDevices drives every device until ctx ends.
func (d *Daemon) runDevices(ctx context.Context) (wait func() error) {
	var wg sync.WaitGroup
	errs := make(chan error, len(d.devices))
	for _, dev := range d.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := dev.dev.Run(ctx); err != nil {
				errs <- fmt.Errorf("device %q: %w", dev.cfg.Name, err)
			}
		}()
	}
	return func() error {
		wg.Wait()
		close(errs)
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		return errors.Join(all...)
	}
}
