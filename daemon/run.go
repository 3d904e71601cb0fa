package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sys/unix"
)

// Run serves until ctx ends or SIGTERM/SIGINT arrives, then shuts down:
// stop accepting, let running jobs finish within the grace period, write
// the state, return nil. SIGHUP re-reads the configuration file (reload).
func (d *Daemon) Run(ctx context.Context, reload func() (*Config, error)) error {
	if err := os.MkdirAll(d.cfg.RuntimeDir, 0o755); err != nil {
		return fmt.Errorf("runtime directory: %w", err)
	}
	unlock, err := lockRuntimeDir(d.cfg.RuntimeDir)
	if err != nil {
		return err
	}
	defer unlock()
	// Guests' and VMs' sockets first: once the control socket answers,
	// everything the configuration promises is there.
	d.mu.Lock()
	d.running = true
	err = d.exposeConfigured()
	if err != nil {
		_ = d.closeEndpoints()
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	ctl, err := listenUnix(d.cfg.Control.Socket, os.FileMode(d.cfg.Control.Mode))
	if err != nil {
		d.mu.Lock()
		_ = d.closeEndpoints()
		d.mu.Unlock()
		return err
	}
	listeners := []net.Listener{ctl}
	if d.cfg.Control.TCP != "" {
		tl, err := net.Listen("tcp", d.cfg.Control.TCP)
		if err != nil {
			ctl.Close()
			d.mu.Lock()
			_ = d.closeEndpoints()
			d.mu.Unlock()
			return fmt.Errorf("control API on %s: %w", d.cfg.Control.TCP, err)
		}
		listeners = append(listeners, tl)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := d.handler(reg)

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	devCtx, stopDevices := context.WithCancel(context.Background())
	waitDevices := d.runDevices(devCtx)
	go d.watchFilters(devCtx)
	accounted := make(chan struct{})
	if d.gpuAcct != nil {
		go func() { defer close(accounted); d.accountGPUs(devCtx) }()
	} else {
		close(accounted)
	}

	d.mu.Lock()
	// Record the MIG instances now, not only at shutdown: after a crash
	// the next start adopts them instead of leaking them.
	if d.savedGPUInstances() != nil {
		if err := d.saveState(); err != nil {
			d.log.Warn("MIG instances not recorded in the state file: a crash now would leave them unowned", "err", err)
		}
	}
	d.log.Info("coprocd running", "control", d.cfg.Control.Socket, "devices", len(d.devices), "domains", len(d.domains), "state", d.state.path())
	d.mu.Unlock()
	serveErr := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { serveErr <- serveHTTP(ctx, l, h, time.Duration(d.cfg.Grace)) }()
	}

	var runErr error
	pending := len(listeners)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-serveErr:
			// A listener that ended on its own. Its nil is a graceful end
			// racing ctx's (select picks either when both are ready), not
			// an error.
			pending--
			if err != nil {
				runErr = fmt.Errorf("control API: %w", err)
			}
			stop()
			break loop
		case <-hup:
			if reload == nil {
				continue
			}
			cfg, err := reload()
			if err != nil {
				d.log.Error("configuration not reloaded", "err", err)
				continue
			}
			d.mu.Lock()
			d.applyReload(cfg)
			d.mu.Unlock()
		}
	}
	d.log.Info("shutting down", "grace", time.Duration(d.cfg.Grace))
	for ; pending > 0; pending-- {
		if err := <-serveErr; err != nil && runErr == nil {
			runErr = fmt.Errorf("control API: %w", err)
		}
	}
	d.mu.Lock()
	if err := d.closeEndpoints(); err != nil {
		d.log.Warn("stopping vfio-user servers", "err", err)
	}
	d.mu.Unlock()
	d.drain(time.Duration(d.cfg.Grace))
	stopDevices()
	if err := waitDevices(); err != nil && runErr == nil {
		runErr = err
	}
	<-accounted // no throttle after the thaw below
	d.mu.Lock()
	if err := d.saveState(); err != nil && runErr == nil {
		runErr = err
	}
	d.thawAll() // a daemon that stops leaves no tenant frozen
	d.releaseFilters()
	d.mu.Unlock()
	os.Remove(d.cfg.Control.Socket)
	return runErr
}

// drain waits up to grace for queued jobs to finish.
func (d *Daemon) drain(grace time.Duration) {
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		busy := false
		for _, dom := range d.m.Devices() {
			for _, vc := range dom.VCoprocs() {
				s := vc.Stats()
				if s.Jobs > s.JobsDone+s.JobsFailed+s.Timeouts {
					busy = true
				}
			}
		}
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.log.Warn("grace period over with jobs still queued; they are cancelled")
}

// applyReload applies what can change while running: new profiles, new
// domains, device policies. What cannot (devices, sockets) is logged.
func (d *Daemon) applyReload(cfg *Config) {
	for _, p := range cfg.Profiles {
		d.profiles[p.Name] = p
	}
	for _, dc := range cfg.Devices {
		dev, ok := d.devices[dc.Name]
		if !ok {
			d.log.Warn("reload: new devices need a restart", "device", dc.Name)
			continue
		}
		if dc.Policy != dev.cfg.Policy {
			if err := d.setPolicy(dev, dc.Policy); err != nil {
				d.log.Error("reload: policy not changed", "device", dc.Name, "err", err)
				continue
			}
			dev.cfg.Policy = dc.Policy
		}
	}
	for _, spec := range cfg.Domains {
		if _, ok := d.domains[spec.Name]; ok {
			continue
		}
		if err := d.createDomain(spec, "config"); err != nil {
			d.log.Error("reload: domain not created", "domain", spec.Name, "err", err)
		}
	}
	d.cfg.Profiles, d.cfg.Domains = cfg.Profiles, cfg.Domains
	d.log.Info("configuration reloaded")
}

// lockRuntimeDir takes an exclusive lock so that a second daemon on the
// same sockets fails at once with a clear error instead of stealing them.
func lockRuntimeDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "coprocd.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another coprocd is running with runtime directory %s (it holds %s)", dir, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// listenUnix listens on a UNIX socket, replacing a stale socket file left
// by a crashed daemon but never one that still answers.
func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s is in use by a running process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("setting mode %04o on %s: %w", mode, path, err)
	}
	return l, nil
}
