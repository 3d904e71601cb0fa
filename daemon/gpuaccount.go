package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/backends/gpu/nvml"
)

// NVIDIA GPU accounting and quotas. Every accounting period the daemon
// samples the GPUs' compute processes through NVML (memory, SM share),
// finds each process's domain by its cgroup, keeps the per-domain sums for
// the metrics and the control API, and hands them to nvml.Enforcer, whose
// hooks are here: warn (log and count), throttle (freeze the domain's
// cgroup for part of the next period) and stop (kill the domain's GPU
// processes). NVML is read outside the daemon's lock, since a driver call
// can take milliseconds; deciding and acting happen under it, so that a
// domain being destroyed is never acted on half-way.

// gpuAccounting is the daemon's state for the above; nil without NVML.
type gpuAccounting struct {
	enforcer *nvml.Enforcer
	period   time.Duration
	usage    []nvml.DomainUsage // latest sample, by domain
	// violations counts violations by domain, GPU, resource and the
	// action applied, for coprocd_nvml_quota_violations_total.
	violations map[violationKey]uint64
	// frozen holds the thaw timer of each cgroup a throttle froze; a nil
	// timer marks a thaw that failed, owed and tried again every period.
	frozen map[string]*time.Timer
}

type violationKey struct {
	domain, gpu string
	resource    nvml.Resource
	action      nvml.Action
}

// setupGPUAccounting builds the enforcer with the daemon's hooks.
func (d *Daemon) setupGPUAccounting() error {
	acct := &gpuAccounting{period: time.Duration(d.cfg.NVML.AccountingPeriod), violations: map[violationKey]uint64{}, frozen: map[string]*time.Timer{}}
	e, err := nvml.NewEnforcer(nvml.Hooks{Warn: d.warnGPUQuota, Throttle: d.throttleGPUQuota, Stop: d.stopGPUQuota})
	if err != nil {
		return err
	}
	acct.enforcer = e
	d.gpuAcct = acct
	return nil
}

// setGPUQuotas registers a domain's GPU quotas once its GPUs are
// allocated; called with d.mu held.
func (d *Daemon) setGPUQuotas(domain, cgroup string, spec GPUSpec, uuid string) error {
	if spec.Quota == nil {
		return nil
	}
	if err := spec.checkQuota(cgroup); err != nil {
		return fmt.Errorf("domain %q: GPU %s: %w", domain, spec.GPU, err)
	}
	q, _ := spec.Quota.quota() // validated by checkQuota
	return d.gpuAcct.enforcer.SetQuota(domain, uuid, q)
}

// clearGPUQuotas forgets a domain's quotas and thaws its cgroup if a
// throttle left it frozen; called with d.mu held.
func (d *Daemon) clearGPUQuotas(domain, cgroup string, uuids []string) {
	if d.gpuAcct == nil {
		return
	}
	for _, uuid := range uuids {
		_ = d.gpuAcct.enforcer.SetQuota(domain, uuid, nvml.Quota{})
	}
	for k := range d.gpuAcct.violations {
		if k.domain == domain {
			delete(d.gpuAcct.violations, k) // a destroyed domain's series end
		}
	}
	if cgroup != "" {
		d.thaw(cgroup)
	}
}

// accountGPUs samples every period until ctx ends. Run waits for it and
// then thaws whatever a throttle left frozen (thawAll).
func (d *Daemon) accountGPUs(ctx context.Context) {
	t := time.NewTicker(d.gpuAcct.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.sampleGPUs(); err != nil {
				d.log.Warn("GPU accounting", "err", err)
			}
		}
	}
}

// sampleGPUs takes one sample, attributes it and enforces the quotas.
func (d *Daemon) sampleGPUs() error {
	procs, err := d.nvml.Sample()
	if err != nil {
		return err
	}
	d.mu.Lock()
	cgroups := map[string]string{} // domain → cgroup
	for name, ds := range d.domains {
		if ds.spec.Cgroup != "" {
			cgroups[name] = ds.spec.Cgroup
		}
	}
	d.mu.Unlock()
	owners, err := cgroupOwners(cgroups)
	usage := nvml.Aggregate(procs, func(pid uint32) (string, bool) {
		domain, ok := owners[pid]
		return domain, ok
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	for cgroup, t := range d.gpuAcct.frozen {
		if t == nil {
			d.thaw(cgroup) // a thaw that failed: try again
		}
	}
	d.gpuAcct.usage = usage
	// A domain destroyed since the owners were read has no quota left, so
	// the enforcer finds nothing to do for it.
	if applyErr := d.gpuAcct.enforcer.Apply(d.gpuAcct.enforcer.Evaluate(usage)); applyErr != nil {
		err = errors.Join(err, applyErr)
	}
	return err
}

// cgroupOwners maps every process in each domain's cgroup (and the
// cgroups below it) to the domain. A cgroup that cannot be read is an
// error naming it; the other domains are still mapped.
func cgroupOwners(cgroups map[string]string) (map[uint32]string, error) {
	owners := map[uint32]string{}
	var errs []error
	for domain, dir := range cgroups {
		pids, err := cgroupPIDs(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("domain %q: %w", domain, err))
		}
		for _, pid := range pids {
			owners[pid] = domain
		}
	}
	return owners, errors.Join(errs...)
}

// cgroupPIDs lists the processes of a cgroup v2 directory and its
// descendants, from their cgroup.procs files.
func cgroupPIDs(dir string) ([]uint32, error) {
	var pids []uint32
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != dir {
				return nil // a child cgroup removed while walking
			}
			return err
		}
		if e.IsDir() || e.Name() != "cgroup.procs" {
			return nil
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return fmt.Errorf("%s: %q is not a process ID", path, f)
			}
			pids = append(pids, uint32(pid))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the processes of cgroup %s: %w", dir, err)
	}
	slices.Sort(pids)
	return pids, nil
}

// warnGPUQuota logs and counts every violation (the enforcer calls it for
// each, whatever else applies).
func (d *Daemon) warnGPUQuota(v nvml.Violation) {
	d.gpuAcct.violations[violationKey{v.Domain, v.GPU, v.Resource, v.Action}]++
	d.log.Warn("GPU quota exceeded", "domain", v.Domain, "gpu", v.GPU, "resource", string(v.Resource),
		"used", v.Used, "limit", v.Limit, "samples_in_a_row", v.Consecutive, "action", v.Action.String(), "pids", v.PIDs)
}

// throttleGPUQuota freezes the domain's cgroup for PauseFraction of the
// next period (cgroup v2's cgroup.freeze): its processes submit no new
// work while frozen, and the kernels they queued drain.
func (d *Daemon) throttleGPUQuota(v nvml.Violation) error {
	ds, ok := d.domains[v.Domain]
	if !ok || ds.spec.Cgroup == "" {
		return fmt.Errorf("domain %q has no cgroup to freeze", v.Domain)
	}
	pause := time.Duration(v.PauseFraction * float64(d.gpuAcct.period))
	if pause <= 0 {
		return nil
	}
	cgroup := ds.spec.Cgroup
	if err := writeFreeze(cgroup, true); err != nil {
		return err
	}
	if t := d.gpuAcct.frozen[cgroup]; t != nil {
		t.Stop()
	}
	// The timer thaws only if it is still this freeze's: one that fired
	// while a newer throttle held d.mu must not end the newer freeze.
	var t *time.Timer
	t = time.AfterFunc(pause, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gpuAcct.frozen[cgroup] == t {
			d.thaw(cgroup)
		}
	})
	d.gpuAcct.frozen[cgroup] = t
	return nil
}

// thaw unfreezes a cgroup a throttle froze; called with d.mu held. A write
// that fails leaves the thaw owed (a nil timer), tried again every period
// and at shutdown.
func (d *Daemon) thaw(cgroup string) {
	t, ok := d.gpuAcct.frozen[cgroup]
	if !ok {
		return
	}
	if t != nil {
		t.Stop()
	}
	if err := writeFreeze(cgroup, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.gpuAcct.frozen[cgroup] = nil
		d.log.Error("thawing a throttled domain: will try again", "cgroup", cgroup, "err", err)
		return
	}
	delete(d.gpuAcct.frozen, cgroup)
}

// thawAll thaws every cgroup a throttle froze, when the daemon stops;
// called with d.mu held, after accountGPUs has ended.
func (d *Daemon) thawAll() {
	if d.gpuAcct == nil {
		return
	}
	for cgroup := range d.gpuAcct.frozen {
		d.thaw(cgroup)
	}
}

func writeFreeze(cgroup string, frozen bool) error {
	v := "0"
	if frozen {
		v = "1"
	}
	if err := os.WriteFile(filepath.Join(cgroup, "cgroup.freeze"), []byte(v), 0); err != nil {
		return fmt.Errorf("cgroup.freeze=%s on %s: %w", v, cgroup, err)
	}
	return nil
}

// stopGPUQuota kills the domain's GPU processes: NVML cannot preempt a
// CUDA context, so ending the process is the only way to take its memory
// and engine time back. Each process is pinned with a pidfd and checked
// to be still in the domain's cgroup before the signal, so a pid reused
// since the sample is never hit.
func (d *Daemon) stopGPUQuota(v nvml.Violation) error {
	ds, ok := d.domains[v.Domain]
	if !ok || ds.spec.Cgroup == "" {
		return fmt.Errorf("domain %q has no cgroup: its processes cannot be told apart from others", v.Domain)
	}
	// Pin every process first, then read the cgroup once: a pid that
	// left it, or was reused by a process outside it, is not in the list.
	var errs []error
	pinned := map[uint32]int{}
	for _, pid := range v.PIDs {
		fd, err := unix.PidfdOpen(int(pid), 0)
		switch {
		case errors.Is(err, unix.ESRCH): // gone already
		case err != nil:
			errs = append(errs, fmt.Errorf("pidfd_open(%d): %w", pid, err))
		default:
			pinned[pid] = fd
		}
	}
	defer func() {
		for _, fd := range pinned {
			unix.Close(fd)
		}
	}()
	members, err := cgroupPIDs(ds.spec.Cgroup)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for pid, fd := range pinned {
		if _, in := slices.BinarySearch(members, pid); !in {
			continue
		}
		if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("killing pid %d: %w", pid, err))
			continue
		}
		d.log.Warn("GPU process stopped over quota", "domain", v.Domain, "pid", pid, "resource", string(v.Resource))
	}
	return errors.Join(errs...)
}
