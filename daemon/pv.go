package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/pvhost"
)

// pvEndpoint serves one domain's paravirtual socket.
type pvEndpoint struct {
	socket string
	srv    *pvhost.Server
	cancel context.CancelFunc
	done   chan error
	// spec is the domain as the resolver sees it. It is a copy, kept
	// current by the daemon, so that resolving a peer never waits for the
	// daemon's lock (which is held while endpoints are stopped).
	spec atomic.Pointer[DomainSpec]
}

// pvSocket is where a domain's guests connect.
func (d *Daemon) pvSocket(domain string) string {
	return filepath.Join(d.cfg.RuntimeDir, "pv", domain+".sock")
}

// servePV opens a domain's paravirtual socket. Each domain has its own, so
// a guest never has to say which domain it is: the socket it reaches and
// the credentials the kernel reports decide. A domain without uid/gid is
// reachable by root and the daemon's user only (socket mode 0600); one
// with them is reachable by anyone the file mode lets in (0666) and the
// credentials must match.
func (d *Daemon) servePV(name string) error {
	if _, ok := d.pv[name]; ok {
		return nil
	}
	ds := d.domains[name]
	if ds == nil {
		return fmt.Errorf("no domain %q", name)
	}
	sock := d.pvSocket(name)
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		return fmt.Errorf("paravirtual socket directory: %w", err)
	}
	if _, err := os.Lstat(sock); err == nil {
		if err := os.Remove(sock); err != nil {
			return fmt.Errorf("removing stale socket %s: %w", sock, err)
		}
	}
	l, err := pvhost.Listen(sock)
	if err != nil {
		return fmt.Errorf("domain %q: %w", name, err)
	}
	mode := os.FileMode(0o600)
	if ds.spec.UID != nil || ds.spec.GID != nil {
		mode = 0o666
	}
	if err := os.Chmod(sock, mode); err != nil {
		l.Close()
		return err
	}
	e := &pvEndpoint{socket: sock, done: make(chan error, 1)}
	spec := ds.spec
	e.spec.Store(&spec)
	srv, err := pvhost.New(pvhost.Config{Mediator: d.m, Listener: l, Resolve: e.resolve, Logger: d.log.With("pv", name)})
	if err != nil {
		l.Close()
		return fmt.Errorf("domain %q: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.srv, e.cancel = srv, cancel
	go func() { e.done <- srv.Serve(ctx) }()
	d.pv[name] = e
	return nil
}

// resolve admits peers whose kernel-reported credentials match the
// domain's configured uid and gid (any, where unset; root always) and hands
// them the domain's vcoprocs, which the daemon has already attached.
func (e *pvEndpoint) resolve(c pvhost.Cred) (pvhost.DomainConfig, error) {
	spec := e.spec.Load()
	if spec.UID != nil && *spec.UID != c.UID && c.UID != 0 {
		return pvhost.DomainConfig{}, fmt.Errorf("domain %q belongs to uid %d, not %d", spec.Name, *spec.UID, c.UID)
	}
	if spec.GID != nil && *spec.GID != c.GID && c.UID != 0 {
		return pvhost.DomainConfig{}, fmt.Errorf("domain %q belongs to gid %d, not %d", spec.Name, *spec.GID, c.GID)
	}
	cfg := pvhost.DomainConfig{Name: spec.Name, PredictivePoll: spec.PredictivePoll}
	for _, v := range spec.VCoprocs {
		// One door per vcoproc: one exposed over vfio-user is the virtual
		// machine's, whose server drains its events and raises its
		// interrupts; a paravirtual guest driving it too would take the
		// events from under the VM's driver (and its from under it).
		if v.VFIOUser {
			continue
		}
		cfg.Devices = append(cfg.Devices, pvhost.DeviceConfig{Device: v.Device, VCoproc: mediator.VCoprocConfig{}})
	}
	if len(cfg.Devices) == 0 {
		return pvhost.DomainConfig{}, fmt.Errorf("domain %q has no vcoproc for a paravirtual guest: every one is exposed over vfio-user", spec.Name)
	}
	return cfg, nil
}

// refreshPV tells a domain's endpoint about a change of its vcoprocs.
func (d *Daemon) refreshPV(name string) {
	if e, ok := d.pv[name]; ok {
		spec := d.domains[name].spec
		spec.VCoprocs = append([]VCoprocSpec(nil), spec.VCoprocs...)
		e.spec.Store(&spec)
	}
}

// stopPV closes a domain's socket and ends its sessions (each cleans up
// what it mapped and allocated).
func (d *Daemon) stopPV(name string) {
	e, ok := d.pv[name]
	if !ok {
		return
	}
	delete(d.pv, name)
	e.cancel()
	if err := e.srv.Close(); err != nil {
		d.log.Warn("closing the paravirtual socket", "domain", name, "err", err)
	}
	<-e.done
	os.Remove(e.socket)
}
