package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/vfiouser"
)

// vfioExposure is one vcoproc served on a vfio-user socket.
type vfioExposure struct {
	socket string
	srv    *vfiouser.Server
	done   chan error
}

// vfioSocket is where a vcoproc's vfio-user socket lives.
func (d *Daemon) vfioSocket(domain, device string) string {
	return filepath.Join(d.cfg.RuntimeDir, "vfio-user", domain+"-"+device+".sock")
}

// exposeVFIOUser serves a vcoproc on its vfio-user socket. A reset from the
// VMM resets the vcoproc; a VMM that disconnects leaves it as it was, for a
// reconnect (as the protocol asks).
func (d *Daemon) exposeVFIOUser(domain, device string) error {
	key := domain + "/" + device
	if _, ok := d.vfio[key]; ok {
		return nil
	}
	dom, ok := d.m.Domain(domain)
	if !ok {
		return fmt.Errorf("no domain %q", domain)
	}
	var vc *mediator.VCoproc
	for _, v := range dom.VCoprocs() {
		if v.Device() == device {
			vc = v
		}
	}
	if vc == nil {
		return fmt.Errorf("domain %q has no vcoproc on %q", domain, device)
	}
	sock := d.vfioSocket(domain, device)
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		return fmt.Errorf("vfio-user socket directory: %w", err)
	}
	l, err := listenUnix(sock, 0o600)
	if err != nil {
		return fmt.Errorf("vfio-user for %s: %w", key, err)
	}
	srv, err := vfiouser.NewServer(vfiouser.Target{Domain: dom, VCoproc: vc, Spec: vc.Spec()},
		vfiouser.Options{Logger: d.log.With("vfio-user", key), OnReset: vc.Reset})
	if err != nil {
		l.Close()
		return fmt.Errorf("vfio-user for %s: %w", key, err)
	}
	e := &vfioExposure{socket: sock, srv: srv, done: make(chan error, 1)}
	go func() { e.done <- srv.Serve(l) }()
	d.vfio[key] = e
	d.log.Info("vcoproc exposed over vfio-user", "vcoproc", key, "socket", sock)
	return nil
}

// unexposeVFIOUser stops a vcoproc's vfio-user server, if it has one.
func (d *Daemon) unexposeVFIOUser(key string) error {
	e, ok := d.vfio[key]
	if !ok {
		return nil
	}
	delete(d.vfio, key)
	err := e.srv.Close()
	if serr := <-e.done; serr != nil && err == nil {
		err = serr
	}
	os.Remove(e.socket)
	return err
}

// exposeConfigured opens every domain's paravirtual socket and starts the
// vfio-user servers the domains ask for.
func (d *Daemon) exposeConfigured() error {
	var errs []error
	for name, ds := range d.domains {
		errs = append(errs, d.servePV(name))
		for _, v := range ds.spec.VCoprocs {
			if v.VFIOUser {
				errs = append(errs, d.exposeVFIOUser(name, v.Device))
			}
		}
	}
	return errors.Join(errs...)
}

// closeEndpoints closes every guest-facing endpoint: paravirtual sockets and
// vfio-user servers.
func (d *Daemon) closeEndpoints() error {
	for name := range d.pv {
		d.stopPV(name)
	}
	var errs []error
	for key := range d.vfio {
		errs = append(errs, d.unexposeVFIOUser(key))
	}
	return errors.Join(errs...)
}
