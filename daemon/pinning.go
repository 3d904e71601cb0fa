package daemon

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/coprocd/coprocd/isolation/cgroupdev"
)

// Device filters outlive the daemon: each domain's filter is pinned in a
// BPF filesystem (isolation.pin_dir), released rather than detached when
// the daemon stops, and taken over, program swapped atomically, when it
// starts again. Without that, every restart would leave the domains'
// cgroups unfiltered until the daemon is back, and a container could open
// any device node in that window. A pin whose domain is gone when the
// daemon starts (removed from the configuration meanwhile) is removed.

// setupPinning makes the pin directory, or says why filters will end with
// the daemon. Called once, with d.mu held, when isolation is available.
func (d *Daemon) setupPinning() {
	dir := d.cfg.Isolation.PinDir
	if dir == "off" {
		d.log.Warn("device filters are not pinned (isolation.pin_dir: off): they end with the daemon, and a restart leaves domains unfiltered until it is back")
		return
	}
	if err := cgroupdev.EnsurePinDir(dir); err != nil {
		d.log.Warn("device filters cannot be pinned: they end with the daemon", "pin_dir", dir, "err", err)
		return
	}
	d.pinDir = dir
}

// pinPath is where a domain's filter is pinned, or "" when filters are
// not pinned.
func (d *Daemon) pinPath(domain string) string {
	if d.pinDir == "" {
		return ""
	}
	return filepath.Join(d.pinDir, domain)
}

// removeStalePins removes the filters pinned for domains that no longer
// exist or no longer have a cgroup. Called with d.mu held once the domains
// are restored.
func (d *Daemon) removeStalePins() {
	dir := d.cfg.Isolation.PinDir
	if dir == "off" {
		return
	}
	// Even with no domain left to filter (so pinning was never set up),
	// an earlier run's pins may be there.
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		d.log.Warn("listing pinned device filters", "pin_dir", dir, "err", err)
		return
	}
	for _, e := range entries {
		if ds, ok := d.domains[e.Name()]; ok && ds.spec.Cgroup != "" {
			continue
		}
		if err := cgroupdev.RemovePinned(filepath.Join(dir, e.Name())); err != nil {
			d.log.Warn("removing a stale device filter", "pin", e.Name(), "err", err)
			continue
		}
		d.log.Info("device filter of a domain that is gone removed", "domain", e.Name())
	}
}

// releaseFilters lets go of every domain's filter at shutdown, leaving
// pinned ones in force. Called with d.mu held.
func (d *Daemon) releaseFilters() {
	for name, ds := range d.domains {
		if ds.iso == nil || ds.iso.filter == nil {
			continue
		}
		if err := ds.iso.filter.Release(); err != nil {
			d.log.Warn("releasing a device filter", "domain", name, "err", err)
		}
	}
}
