package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/internal/monotonic"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/scheduler"
)

// handler builds the control API's routes (see package api).
func (d *Daemon) handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/devices", d.getDevices)
	mux.HandleFunc("GET /v1/devices/{device}/policy", d.getPolicy)
	mux.HandleFunc("PUT /v1/devices/{device}/policy", d.putPolicy)
	mux.HandleFunc("GET /v1/devices/{device}/trace", d.getTrace)
	mux.HandleFunc("GET /v1/profiles", d.getProfiles)
	mux.HandleFunc("GET /v1/domains", d.getDomains)
	mux.HandleFunc("POST /v1/domains", d.postDomain)
	mux.HandleFunc("DELETE /v1/domains/{domain}", d.deleteDomain)
	mux.HandleFunc("POST /v1/domains/{domain}/vcoprocs", d.postVCoproc)
	mux.HandleFunc("DELETE /v1/domains/{domain}/vcoprocs/{device}", d.deleteVCoproc)
	mux.HandleFunc("GET /v1/stats", d.getStats)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil}))
	return d.authorize(mux)
}

type peerKey struct{}

// authorize lets through only peers the kernel vouches for: root, the
// daemon's own user and the configured uids (UNIX socket), or anyone on
// the loopback TCP listener the operator asked for.
func (d *Daemon) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cred, ok := r.Context().Value(peerKey{}).(*unix.Ucred); ok && !d.allowedUID(cred.Uid) {
			writeError(w, http.StatusForbidden, fmt.Errorf("uid %d may not use the control API (allowed: root, %d, control.allow_uids)", cred.Uid, unix.Geteuid()))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (d *Daemon) allowedUID(uid uint32) bool {
	if uid == 0 || int(uid) == unix.Geteuid() {
		return true
	}
	for _, u := range d.cfg.Control.AllowUIDs {
		if u == uid {
			return true
		}
	}
	return false
}

// connContext records the peer's credentials of a UNIX-socket connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cred == nil {
		// Without credentials nobody is let in: an impossible uid.
		cred = &unix.Ucred{Uid: ^uint32(0)}
	}
	return context.WithValue(ctx, peerKey{}, cred)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, api.Error{Error: err.Error()})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return false
	}
	return true
}

func (d *Daemon) getDevices(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	writeJSON(w, http.StatusOK, d.deviceList())
}

func (d *Daemon) deviceList() []api.Device {
	uptime := d.m.Now()
	out := []api.Device{}
	for _, name := range sortedKeys(d.devices) {
		dev := d.devices[name]
		s := dev.dev.Stats()
		a := api.Device{
			Name: name, Class: string(dev.backend.Spec().Class), Model: dev.backend.Spec().Model, Backend: dev.cfg.Backend,
			Policy: apiPolicy(dev.policy), Active: dev.dev.Active(), VCoprocs: []string{},
			Stats: api.DeviceStats{Switches: s.Switches, SwitchTimeNs: int64(s.SwitchTime), BusyNs: int64(s.Busy),
				Retries: s.Retries, Timeouts: s.Timeouts, UptimeNs: int64(uptime)},
		}
		if uptime > 0 {
			a.Stats.Utilization = float64(s.Busy) / float64(uptime)
		}
		if dm := dev.backend.DeviceMemory(); dm != nil {
			a.Memory = dm.Size()
		}
		for _, vc := range dev.dev.VCoprocs() {
			a.VCoprocs = append(a.VCoprocs, vc.Name())
		}
		out = append(out, a)
	}
	if d.nvml != nil {
		for _, g := range d.nvml.GPUs() {
			out = append(out, api.Device{Name: fmt.Sprintf("nvidia%d", g.Index), Class: "gpu", Model: g.Name, Backend: "nvml",
				Memory: g.MemoryBytes, VCoprocs: []string{}, Stats: api.DeviceStats{UptimeNs: int64(uptime)}})
		}
	}
	return out
}

func apiPolicy(p PolicyConfig) api.Policy {
	return api.Policy{Name: p.Name, SliceNs: int64(p.Slice), MaxVGPUs: p.MaxVGPUs}
}

func (d *Daemon) device(w http.ResponseWriter, r *http.Request) (*device, bool) {
	dev, ok := d.devices[r.PathValue("device")]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no device %q", r.PathValue("device")))
	}
	return dev, ok
}

func (d *Daemon) getPolicy(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dev, ok := d.device(w, r); ok {
		writeJSON(w, http.StatusOK, apiPolicy(dev.policy))
	}
}

func (d *Daemon) putPolicy(w http.ResponseWriter, r *http.Request) {
	var p api.Policy
	if !decode(w, r, &p) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	dev, ok := d.device(w, r)
	if !ok {
		return
	}
	old := dev.policy
	if err := d.setPolicy(dev, PolicyConfig{Name: p.Name, Slice: Duration(p.SliceNs), MaxVGPUs: p.MaxVGPUs}); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("device %q: %w", dev.cfg.Name, err))
		return
	}
	if err := d.saveState(); err != nil {
		_ = d.setPolicy(dev, old)
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, apiPolicy(dev.policy))
}

func (d *Daemon) getTrace(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	dev, ok := d.device(w, r)
	d.mu.Unlock()
	if !ok {
		return
	}
	out := []api.Switch{}
	for _, s := range dev.dev.Trace() {
		out = append(out, api.Switch{AtNs: int64(s.At), From: s.From, To: s.To, CostNs: int64(s.Cost), Retries: s.Retries})
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) getProfiles(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []api.Profile{}
	for _, name := range sortedKeys(d.profiles) {
		p := d.profiles[name]
		out = append(out, api.Profile{Name: p.Name, Device: p.Device, Weight: p.Weight, Memory: uint64(p.Memory),
			Instances: p.Instances, Available: p.Instances - d.profileInUse(p.Name)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) getDomains(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	writeJSON(w, http.StatusOK, d.domainList())
}

func (d *Daemon) domainList() []api.Domain {
	out := []api.Domain{}
	for _, name := range sortedKeys(d.domains) {
		out = append(out, d.apiDomain(name))
	}
	return out
}

func (d *Daemon) apiDomain(name string) api.Domain {
	ds := d.domains[name]
	a := api.Domain{Name: name, Source: ds.source, UID: ds.spec.UID, GID: ds.spec.GID, VCoprocs: []api.VCoproc{},
		Cgroup: ds.spec.Cgroup, Isolation: ds.iso.status(ds.spec.Cgroup), PredictivePoll: ds.spec.PredictivePoll}
	if e, ok := d.pv[name]; ok {
		a.Socket = e.socket
		sessions := e.srv.Sessions()
		a.Sessions = len(sessions)
		for _, s := range sessions {
			a.PredictedSleeps += s.PredictedSleeps
			a.PredictedHits += s.PredictedHits
		}
	}
	if ds.iso != nil {
		for _, r := range ds.iso.rules {
			a.Nodes = append(a.Nodes, r.String())
		}
		for _, g := range ds.iso.gpus {
			a.GPUs = append(a.GPUs, d.apiGPU(name, g))
		}
	}
	dom, ok := d.m.Domain(name)
	if !ok {
		return a
	}
	profileOf := map[string]string{}
	for _, v := range ds.spec.VCoprocs {
		profileOf[v.Device] = v.Profile
	}
	for _, vc := range dom.VCoprocs() {
		s := vc.Stats()
		a.VCoprocs = append(a.VCoprocs, api.VCoproc{
			Name: vc.Name(), Device: vc.Device(), Profile: profileOf[vc.Device()], Weight: vc.Params().Weight,
			BudgetNs: int64(vc.Params().Budget), PeriodNs: int64(vc.Params().Period),
			Memory: d.quotaOf(ds.spec, vc.Device()), State: vc.State().String(), VFIOUser: d.vfioSocketOf(vc.Name()),
			Stats: api.VCoprocStats{Jobs: s.Jobs, JobsDone: s.JobsDone, JobsFailed: s.JobsFailed, Timeouts: s.Timeouts,
				Refused: s.Refused, Denied: s.Denied, AccessErrors: s.AccessErrors, Faults: s.Faults,
				SwitchesIn: s.SwitchesIn, BusyNs: int64(s.Busy), MemoryUsed: vc.MemoryUsed(),
				DeadlineMisses: s.DeadlineMisses, LatencyMeanNs: meanNs(s.Latency), LatencyMaxNs: int64(s.Latency.Max)},
		})
	}
	return a
}

func (d *Daemon) quotaOf(spec DomainSpec, device string) uint64 {
	for _, v := range spec.VCoprocs {
		if v.Device != device {
			continue
		}
		if p, ok := d.profiles[v.Profile]; ok {
			return uint64(p.Memory)
		}
		return uint64(v.Memory)
	}
	return 0
}

func specOf(req api.VCoprocRequest) VCoprocSpec {
	return VCoprocSpec{Device: req.Device, Profile: req.Profile, Weight: req.Weight, Memory: Size(req.Memory), VFIOUser: req.VFIOUser,
		Reservation: Reservation{Budget: Duration(req.BudgetNs), Period: Duration(req.PeriodNs), Deadline: Duration(req.DeadlineNs),
			Share: req.Share, Priority: req.Priority}}
}

func (d *Daemon) postDomain(w http.ResponseWriter, r *http.Request) {
	var req api.DomainRequest
	if !decode(w, r, &req) {
		return
	}
	spec := DomainSpec{Name: req.Name, UID: req.UID, GID: req.GID, Cgroup: req.Cgroup, DeviceNodes: req.DeviceNodes}
	for _, g := range req.GPUs {
		gs := GPUSpec{GPU: g.GPU, Profile: g.Profile}
		if q := g.Quota; q != nil {
			gs.Quota = &GPUQuota{Memory: Size(q.MemoryBytes), MemoryAction: q.MemoryAction, SMPercent: q.SMPercent, SMAction: q.SMAction, Grace: q.Grace}
		}
		spec.GPUs = append(spec.GPUs, gs)
	}
	for _, v := range req.VCoprocs {
		spec.VCoprocs = append(spec.VCoprocs, specOf(v))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.createDomain(spec, "api"); err != nil {
		writeError(w, refusalStatus(err), err)
		return
	}
	if err := d.saveState(); err != nil {
		_ = d.destroyDomain(spec.Name)
		writeError(w, http.StatusInternalServerError, fmt.Errorf("domain %q not created: %w", spec.Name, err))
		return
	}
	d.log.Info("domain created through the control API", "domain", spec.Name)
	writeJSON(w, http.StatusCreated, d.apiDomain(spec.Name))
}

// refusalStatus is the status of a domain or vcoproc the daemon did not
// create: 409 Conflict when the device's policy refused to admit a vcoproc
// (its guarantee cannot be kept beside the admitted ones', or its
// parameters do not fit the policy the device runs now: both answers
// depend on the device's state, not on the request alone, so a client
// such as the benchmark can tell a refusal from a malformed request); 400
// for anything else wrong with the request.
func refusalStatus(err error) int {
	var admission *scheduler.AdmissionError
	var param *scheduler.ParamError
	if errors.As(err, &admission) || errors.As(err, &param) {
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

func (d *Daemon) deleteDomain(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("domain")
	d.mu.Lock()
	defer d.mu.Unlock()
	ds, ok := d.domains[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no domain %q", name))
		return
	}
	if err := d.destroyDomain(name); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if err := d.saveState(); err != nil {
		// The domain is gone from the running daemon; say that the state
		// file still lists it (it comes back on restart unless retried).
		writeError(w, http.StatusInternalServerError, fmt.Errorf("domain %q destroyed, but %w", name, err))
		return
	}
	_ = ds
	w.WriteHeader(http.StatusNoContent)
}

func (d *Daemon) postVCoproc(w http.ResponseWriter, r *http.Request) {
	var req api.VCoprocRequest
	if !decode(w, r, &req) {
		return
	}
	name := r.PathValue("domain")
	d.mu.Lock()
	defer d.mu.Unlock()
	ds, ok := d.domains[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no domain %q", name))
		return
	}
	v := specOf(req)
	if err := d.attach(name, v); err != nil {
		writeError(w, refusalStatus(err), fmt.Errorf("domain %q: %w", name, err))
		return
	}
	if v.VFIOUser {
		if err := d.exposeVFIOUser(name, v.Device); err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Errorf("domain %q: vcoproc on %q attached but not exposed: %w", name, v.Device, err))
			return
		}
	}
	ds.spec.VCoprocs = append(ds.spec.VCoprocs, v)
	d.refreshPV(name)
	if ds.source == "api" {
		if err := d.saveState(); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, d.apiDomain(name))
}

func (d *Daemon) deleteVCoproc(w http.ResponseWriter, r *http.Request) {
	name, device := r.PathValue("domain"), r.PathValue("device")
	d.mu.Lock()
	defer d.mu.Unlock()
	ds, ok := d.domains[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no domain %q", name))
		return
	}
	dom, _ := d.m.Domain(name)
	for i, v := range ds.spec.VCoprocs {
		if v.Device != device {
			continue
		}
		if err := d.unexposeVFIOUser(name + "/" + device); err != nil {
			d.log.Warn("stopping vfio-user", "vcoproc", name+"/"+device, "err", err)
		}
		for _, vc := range dom.VCoprocs() {
			if vc.Device() == device {
				if err := vc.Detach(); err != nil {
					writeError(w, http.StatusInternalServerError, err)
					return
				}
			}
		}
		ds.spec.VCoprocs = append(ds.spec.VCoprocs[:i], ds.spec.VCoprocs[i+1:]...)
		d.refreshPV(name)
		if ds.source == "api" {
			if err := d.saveState(); err != nil {
				writeError(w, http.StatusInternalServerError, err)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeError(w, http.StatusNotFound, fmt.Errorf("domain %q has no vcoproc on %q", name, device))
}

func (d *Daemon) getStats(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	uptime, mono := d.m.Now(), monotonic.Host()
	writeJSON(w, http.StatusOK, api.Stats{UptimeNs: int64(uptime), MonotonicNs: mono, Devices: d.deviceList(), Domains: d.domainList()})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkLoopback refuses a TCP address that is not on the loopback
// interface: the control API has no authentication beyond the kernel's
// peer credentials, which TCP does not carry.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("control.tcp %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("control.tcp %q: only loopback addresses (127.0.0.1, ::1) are allowed", addr)
	}
	return nil
}

// serveHTTP serves h on l until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, l net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{Handler: h, ConnContext: connContext, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute} // a peer that stalls cannot hold a connection for ever
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

func meanNs(l mediator.Latency) int64 {
	if n := l.Count(); n > 0 {
		return int64(l.Sum) / int64(n)
	}
	return 0
}

func (d *Daemon) vfioSocketOf(vcoproc string) string {
	if e, ok := d.vfio[vcoproc]; ok {
		return e.socket
	}
	return ""
}
