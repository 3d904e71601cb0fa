package daemon

import (
	"context"
	"fmt"
	"strconv"
	"time"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/coprocd/coprocd/backends/gpu/nvml"
	"github.com/coprocd/coprocd/isolation/cgroupdev"
)

// openNVML opens the NVIDIA management library; tests replace it with one
// over go-nvml's mock servers.
var openNVML = func(opts nvml.Options) (*nvml.Manager, error) {
	return nvml.Open(gonvml.New(), opts)
}

// probeIsolation checks that device filters can be loaded here; tests may
// replace it.
var probeIsolation = cgroupdev.Probe

// isolation is what the daemon did to keep a domain to its device nodes.
type isolation struct {
	filter *cgroupdev.Filter
	rules  []cgroupdev.Rule
	gpus   []*nvml.Allocation
	// domain and cgroup are the domain's, for undoing its GPU quotas.
	domain, cgroup string
	// off says why the domain's cgroup is not filtered, when it is not.
	off string
}

// status is the domain's isolation as the API reports it.
func (iso *isolation) status(cgroup string) string {
	switch {
	case cgroup == "":
		return ""
	case iso == nil || iso.off != "":
		reason := "not attached"
		if iso != nil {
			reason = iso.off
		}
		return "off: " + reason
	default:
		return "enforced"
	}
}

// setupNVML opens NVML when the configuration asks for it. Failing to is
// an error that stops the daemon: the operator asked for GPUs it cannot have.
func (d *Daemon) setupNVML() error {
	if !d.cfg.NVML.Enabled {
		return nil
	}
	m, err := openNVML(nvml.Options{ProcRoot: d.cfg.NVML.ProcRoot, DevRoot: d.cfg.NVML.DevRoot})
	if err != nil {
		return fmt.Errorf("nvml.enabled is true but NVML cannot be used: %w", err)
	}
	d.nvml = m
	if err := d.setupGPUAccounting(); err != nil {
		return err
	}
	for _, g := range m.GPUs() {
		d.log.Info("NVIDIA GPU", "index", g.Index, "uuid", g.UUID, "name", g.Name, "memory", g.MemoryBytes, "mig", g.MIG.Enabled, "profiles", len(g.Profiles))
	}
	return nil
}

// probeIsolationOnce checks, the first time a domain has a cgroup, that
// device filters can be loaded here. Without them the daemon runs with
// isolation marked off for those domains and says so in the log and the
// API, never silently.
func (d *Daemon) probeIsolationOnce() {
	if d.probed {
		return
	}
	d.probed = true
	if err := probeIsolation(); err != nil {
		d.isolationErr = err
		d.log.Error("device-node isolation is OFF: domains with a cgroup can open any device node", "reason", err)
		return
	}
	d.setupPinning()
}

// gpuUUID resolves a GPU named by UUID or index.
func (d *Daemon) gpuUUID(name string) (string, error) {
	gpus := d.nvml.GPUs()
	for _, g := range gpus {
		if g.UUID == name {
			return g.UUID, nil
		}
	}
	if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < len(gpus) {
		return gpus[i].UUID, nil
	}
	return "", fmt.Errorf("no NVIDIA GPU %q (%d GPUs: give a UUID or an index)", name, len(gpus))
}

// isolate gives a domain its GPUs and fences its cgroup to its nodes. On
// error nothing is left allocated or attached.
func (d *Daemon) isolate(spec DomainSpec) (_ *isolation, err error) {
	// Not the named result: a failing return sets that to nil before the
	// deferred release runs, which then released nothing and leaked every
	// GPU share allocated so far.
	iso := &isolation{domain: spec.Name, cgroup: spec.Cgroup}
	defer func() {
		if err != nil {
			d.release(iso)
		}
	}()
	shares := map[string]int{} // by GPU UUID
	for j, g := range spec.GPUs {
		if d.nvml == nil {
			return nil, fmt.Errorf("domain %q asks for NVIDIA GPUs but NVML is not enabled", spec.Name)
		}
		uuid, err := d.gpuUUID(g.GPU)
		if err != nil {
			return nil, err
		}
		shares[uuid]++
		a, err := d.allocateGPU(spec.Name, j, uuid, g.Profile)
		if err != nil {
			return nil, err
		}
		iso.gpus = append(iso.gpus, a)
		if err := d.setGPUQuotas(spec.Name, spec.Cgroup, g, uuid); err != nil {
			return nil, err
		}
		for _, n := range a.Nodes {
			r, err := cgroupdev.ParseRule(fmt.Sprintf("c %d:%d %s", n.Major, n.Minor, n.Access))
			if err != nil {
				return nil, fmt.Errorf("GPU node %s: %w", n, err)
			}
			iso.rules = append(iso.rules, r)
		}
	}
	// Usage is measured per domain and GPU, so a quota cannot tell two
	// shares of one GPU apart: one quota would silently replace the other.
	for _, g := range spec.GPUs {
		if uuid, _ := d.gpuUUID(g.GPU); g.Quota != nil && shares[uuid] > 1 {
			return nil, fmt.Errorf("domain %q: a quota on GPU %s, where the domain has %d shares: quotas are per domain and GPU; give the domain one share of that GPU", spec.Name, g.GPU, shares[uuid])
		}
	}
	for _, s := range spec.DeviceNodes {
		r, err := cgroupdev.ParseRule(s)
		if err != nil {
			return nil, fmt.Errorf("device node %q: %w", s, err)
		}
		iso.rules = append(iso.rules, r)
	}
	if spec.Cgroup == "" {
		return iso, nil
	}
	if d.isolationErr != nil {
		iso.off = d.isolationErr.Error()
		d.log.Warn("domain's cgroup is NOT fenced", "domain", spec.Name, "cgroup", spec.Cgroup, "reason", iso.off)
		return iso, nil
	}
	f, err := cgroupdev.Attach(spec.Cgroup, iso.rules, cgroupdev.Options{PinPath: d.pinPath(spec.Name)})
	if err != nil {
		return nil, fmt.Errorf("domain %q: fencing cgroup %s: %w", spec.Name, spec.Cgroup, err)
	}
	iso.filter = f
	d.log.Info("device filter attached", "domain", spec.Name, "cgroup", spec.Cgroup, "nodes", len(iso.rules))
	return iso, nil
}

// release undoes isolate. While the daemon starts (New) a failure ends
// the start, so what a previous run left for this one stays for the next:
// the filter is released, pinned and in force, not detached (the
// container would be unfenced while coprocd is down), and MIG instances
// are not destroyed (the state file still lists them for adoption).
func (d *Daemon) release(iso *isolation) {
	if iso == nil {
		return
	}
	if iso.filter != nil {
		detach := iso.filter.Close
		if d.starting {
			detach = iso.filter.Release
		}
		if err := detach(); err != nil {
			d.log.Warn("letting go of a device filter", "cgroup", iso.filter.Path(), "err", err)
		}
	}
	uuids := make([]string, 0, len(iso.gpus))
	for _, a := range iso.gpus {
		uuids = append(uuids, a.GPU)
	}
	d.clearGPUQuotas(iso.domain, iso.cgroup, uuids)
	for _, a := range iso.gpus {
		if d.starting && a.Kind == nvml.MIG {
			continue
		}
		if err := d.nvml.Release(a.ID); err != nil {
			d.log.Warn("releasing a GPU share", "allocation", a.ID, "err", err)
		}
	}
}

// watchFilters re-attaches filters that another agent (a container runtime
// re-applying its own device rules) detached, until ctx ends.
func (d *Daemon) watchFilters(ctx context.Context) {
	cgroupdev.Watch(ctx, time.Second, func() []*cgroupdev.Filter {
		d.mu.Lock()
		defer d.mu.Unlock()
		var fs []*cgroupdev.Filter
		for _, ds := range d.domains {
			if ds.iso != nil && ds.iso.filter != nil {
				fs = append(fs, ds.iso.filter)
			}
		}
		return fs
	}, func(e cgroupdev.WatchEvent) {
		d.log.Warn("device filter", "event", fmt.Sprintf("%+v", e))
	})
}
