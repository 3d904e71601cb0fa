package mediator

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// Device is one physical coprocessor under mediation: its backend, its
// scheduling policy, the vcoprocs that share it and which of them owns it.
type Device struct {
	m       *Mediator
	name    string
	backend coproc.Backend
	spec    *spec.Device
	caps    coproc.Caps
	policy  scheduler.Policy

	vcs    map[scheduler.ID]*VCoproc
	active *VCoproc
	// lease is the policy's last decision still being carried out: its
	// vcoproc and the part of its slice not yet run (see Step).
	lease lease
	// woke is set when a vcoproc became runnable since the last decision,
	// so that the policy decides again (a reservation preempts on wake).
	woke bool
	// runnerIdle is set while Run sleeps with nothing to do: a submission
	// then steps the device itself (inline.go). holdWake and heldWake
	// defer the runner's wake-up while a submission decides that.
	runnerIdle, holdWake, heldWake bool
	// inlineErr is a Step error met by an inline step, for Run to return.
	inlineErr error
	// pace keeps device time from running ahead of the real clock
	// (pace.go), for Run and inline steps; paceMu guards it, taken inside
	// the mediator's lock or on its own.
	paceMu sync.Mutex
	pace   pacer
	// passThrough lists the register indexes saved and restored on a switch.
	passThrough []int
	// role maps a spec.Role to a register index, -1 when the device has none.
	role [spec.RoleErrorAddr + 1]int

	trace traceRing
	stats DeviceStats
	// wake receives a value when work arrives, for a runner that sleeps.
	wake chan struct{}
}

// DeviceStats are a device's counters.
type DeviceStats struct {
	Switches   uint64
	SwitchTime time.Duration // device time spent switching
	Busy       time.Duration // device time spent running jobs
	Retries    uint64        // switch-outs the backend asked to retry
	Timeouts   uint64        // jobs the watchdog aborted
	// Reconfig is the part of SwitchTime a backend spent reconfiguring
	// inside runs (see coproc.Result.Reconfig).
	Reconfig time.Duration
}

func newDevice(m *Mediator, name string, b coproc.Backend, p scheduler.Policy) (*Device, error) {
	s := b.Spec()
	if s == nil {
		return nil, fmt.Errorf("mediator: device %q: backend has no spec", name)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("mediator: device %q: %w", name, err)
	}
	d := &Device{m: m, name: name, backend: b, spec: s, caps: b.Caps(), policy: p,
		vcs: map[scheduler.ID]*VCoproc{}, trace: newTraceRing(m.cfg.TraceCapacity), wake: make(chan struct{}, 1)}
	for i := range d.role {
		d.role[i] = -1
	}
	for i, r := range s.Registers.Registers() {
		if r.Class == spec.PassThrough {
			d.passThrough = append(d.passThrough, i)
		}
		if int(r.Role) < len(d.role) && r.Role != spec.RoleNone && d.role[r.Role] < 0 {
			d.role[r.Role] = i
		}
	}
	return d, nil
}

// Name is the device's name.
func (d *Device) Name() string { return d.name }

// Spec is the device's guest-visible description.
func (d *Device) Spec() *spec.Device { return d.spec }

// Policy is the device's current scheduling policy.
func (d *Device) Policy() scheduler.Policy {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return d.policy
}

// Stats returns a copy of the device's counters.
func (d *Device) Stats() DeviceStats {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return d.stats
}

// Trace returns the remembered context switches, oldest first.
func (d *Device) Trace() []Switch {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return d.trace.list()
}

// Active names the vcoproc that owns the device, "" when none.
func (d *Device) Active() string {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	if d.active == nil {
		return ""
	}
	return d.active.name
}

func (d *Device) attach(dom *Domain, id scheduler.ID, cfg VCoprocConfig) (*VCoproc, error) {
	now := d.m.cfg.Clock.Now()
	name := dom.name + "/" + d.name
	if err := d.policy.Admit(id, cfg.Params, now); err != nil {
		return nil, fmt.Errorf("mediator: vcoproc %q: %w", name, err)
	}
	if dm := d.backend.DeviceMemory(); dm != nil {
		dm.SetQuota(dom.name, cfg.MemoryQuota)
	}
	ctx, err := d.backend.Init(dom.name)
	if err != nil {
		d.policy.Remove(id, now)
		return nil, fmt.Errorf("mediator: vcoproc %q: init: %w", name, err)
	}
	vc := &VCoproc{id: id, name: name, domain: dom, dev: d, ctx: ctx, params: cfg.Params,
		vregs: make([]uint64, d.spec.Registers.Len()), state: Sleeping,
		devmem: map[uint64]*iommu.Allocation{}, notify: make(chan struct{}, 1)}
	for i, r := range d.spec.Registers.Registers() {
		vc.vregs[i] = r.Reset
	}
	d.vcs[id] = vc
	dom.vcoprocs[d.name] = vc
	d.m.log.Info("vcoproc attached", "vcoproc", name, "weight", cfg.Params.Weight, "quota", cfg.MemoryQuota)
	return vc, nil
}

// Detach removes a vcoproc from its device: its running job is aborted,
// its queue dropped, its device memory scrubbed and freed. The domain and
// its other vcoprocs remain.
func (v *VCoproc) Detach() error {
	m := v.dev.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if v.detached {
		return fmt.Errorf("vcoproc %q: %w", v.name, ErrDetached)
	}
	v.dev.detach(v)
	return nil
}

func (d *Device) detach(vc *VCoproc) {
	now := d.m.cfg.Clock.Now()
	if d.active == vc {
		d.backend.Reset(vc.ctx)
		d.switchOut(now)
	}
	d.backend.Deinit(vc.ctx)
	d.policy.Remove(vc.id, now)
	for iova, a := range vc.devmem {
		if err := vc.freeDeviceMemory(iova, a); err != nil {
			d.m.log.Error("freeing device memory on detach", "vcoproc", vc.name, "err", err)
		}
	}
	if dm := d.backend.DeviceMemory(); dm != nil {
		dm.FreeAll(vc.domain.name)
	}
	vc.detached = true
	vc.state = Sleeping
	delete(d.vcs, vc.id)
	if d.lease.vc == vc {
		d.lease = lease{}
	}
	delete(vc.domain.vcoprocs, d.name)
	d.m.log.Info("vcoproc detached", "vcoproc", vc.name)
}

func (d *Device) hasWork(vc *VCoproc) bool {
	return vc.pendingKicks > 0 || d.backend.Pending(vc.ctx) > 0
}

// wakeVC tells the policy that vc has work and wakes a sleeping runner.
func (d *Device) wakeVC(vc *VCoproc, now time.Duration) {
	if vc.blocked {
		return // the poll timer will look at it again
	}
	d.policy.Wake(vc.id, now)
	if vc.state == Sleeping {
		vc.state = Waiting
		d.woke = true
	}
	if d.holdWake {
		d.heldWake = true
		return
	}
	d.signal()
}

// signal wakes the runner if it sleeps.
func (d *Device) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Device) submit(vc *VCoproc, words []uint64) (uint64, error) {
	cmds, err := Scan(d.spec, vc.domain.as, words)
	if err != nil {
		d.refuse(vc, err)
		return 0, &RefusedError{VCoproc: vc.name, Err: err}
	}
	return d.enqueue(vc, cmds)
}

func (d *Device) enqueue(vc *VCoproc, cmds []spec.Command) (uint64, error) {
	vc.nextJob++
	job := &coproc.Job{ID: vc.nextJob, Commands: cmds}
	if err := d.backend.Enqueue(vc.ctx, job); err != nil {
		// The backend's own admission (a queue bound, a per-call budget)
		// refuses like the scanner does: counted, reported, nothing runs.
		vc.nextJob--
		d.refuse(vc, err)
		return 0, &RefusedError{VCoproc: vc.name, Err: err}
	}
	if d.backend.Pending(vc.ctx) == 1 {
		vc.jobRun, vc.pollEvery = 0, 0
	}
	vc.stats.Jobs++
	vc.submitted = append(vc.submitted, d.m.cfg.Clock.Now())
	d.wakeVC(vc, d.m.cfg.Clock.Now())
	return job.ID, nil
}

func (d *Device) refuse(vc *VCoproc, err error) {
	vc.stats.Refused++
	code := uint64(spec.ErrCodeRefused)
	if errors.Is(err, ErrPrivilegedCommand) || errors.Is(err, ErrPrivileged) {
		vc.stats.Denied++
		code = spec.ErrCodeDenied
	}
	var se *ScanError
	addr := uint64(0)
	if errors.As(err, &se) {
		addr = uint64(se.Word)
	}
	vc.setError(code, addr)
	vc.deliver(Event{Kind: EventRefused, Err: err, At: d.m.cfg.Clock.Now()}, spec.IntError)
	d.m.log.Warn("submission refused", "vcoproc", vc.name, "err", err)
}

// doorbell handles a write to the doorbell register. While the vcoproc owns
// the device the ring is fetched at once; otherwise the kick is queued and
// replayed when the vcoproc is switched in (Xen SCF's PowerVR driver does
// the same), and the policy is told that the vcoproc has work.
func (d *Device) doorbell(vc *VCoproc) {
	vc.stats.Kicks++
	if vc.blocked { // the trap path reads no clock for the common case
		d.recheckSoon(vc, d.m.cfg.Clock.Now())
	}
	if !d.spec.HasRing {
		return
	}
	if d.active == vc {
		d.kick(vc)
		return
	}
	vc.pendingKicks++
	vc.stats.QueuedKicks++
	d.wakeVC(vc, d.m.cfg.Clock.Now())
}

// ring limits of the reference programming model (spec/refgpu.go).
const (
	minRingBytes = 64
	maxRingBytes = 1 << 20
)

// kick fetches [head, tail) of the vcoproc's command ring through the
// domain's address space, audits it, and queues it as one job. The head
// moves to the tail whether the batch is accepted or refused: a refused
// batch is consumed, never retried, so one bad batch cannot wedge the ring.
func (d *Device) kick(vc *VCoproc) {
	r := d.spec.Ring
	base, size := vc.vregs[r.Base], vc.vregs[r.Size]
	head, tail := vc.vregs[r.Head], vc.vregs[r.Tail]
	if size < minRingBytes || size > maxRingBytes || size&(size-1) != 0 || head >= size || tail >= size {
		err := fmt.Errorf("ring base 0x%x size %d head %d tail %d: size must be a power of two from %d to %d and head, tail below it",
			base, size, head, tail, minRingBytes, maxRingBytes)
		vc.stats.Refused++
		vc.setError(spec.ErrCodeBadRing, base)
		vc.deliver(Event{Kind: EventRefused, Err: err, At: d.m.cfg.Clock.Now()}, spec.IntError)
		return
	}
	if head == tail {
		return
	}
	n := (tail - head) & (size - 1)
	if uint64(cap(vc.ringBuf)) < n {
		vc.ringBuf = make([]byte, n)
	}
	buf := vc.ringBuf[:n]
	first := min(n, size-head)
	err := vc.domain.as.Read(base+head, buf[:first])
	if err == nil && first < n {
		err = vc.domain.as.Read(base, buf[first:])
	}
	vc.vregs[r.Head] = tail
	if err != nil {
		vc.stats.Refused++
		vc.setError(spec.ErrCodeBadRing, base+head)
		vc.deliver(Event{Kind: EventRefused, Err: fmt.Errorf("fetching the ring: %w", err), At: d.m.cfg.Clock.Now()}, spec.IntError)
		return
	}
	words := make([]uint64, n/8)
	for i := range words {
		words[i] = leUint64(buf[8*i:])
	}
	_, _ = d.submit(vc, words) // a refusal is delivered as an event
}

func leUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// SetPolicy replaces the device's scheduling policy while it runs (Xen SCF
// requires changing the algorithm of a running device). Every vcoproc is
// admitted to the new policy with its parameters and woken if it has work;
// if the new policy refuses any of them, nothing changes and the error says
// which. The owner keeps the device until the new policy's first decision.
//
// It does not use scheduler.Migrate, which hands over what the old policy
// believes: the mediator knows better which vcoprocs have work and which
// are blocked on a WAIT (and so must not be woken until their next poll).
func (d *Device) SetPolicy(p scheduler.Policy) error {
	if p == nil {
		return fmt.Errorf("mediator: device %q: nil policy", d.name)
	}
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	now := d.m.cfg.Clock.Now()
	ids := make([]scheduler.ID, 0, len(d.vcs))
	for id := range d.vcs {
		ids = append(ids, id)
	}
	slices.Sort(ids) // admission order is deterministic
	for i, id := range ids {
		vc := d.vcs[id]
		if err := p.Admit(id, vc.params, now); err != nil {
			for _, done := range ids[:i] {
				p.Remove(done, now)
			}
			return fmt.Errorf("mediator: device %q: policy %s refuses vcoproc %q: %w", d.name, p.Name(), vc.name, err)
		}
	}
	for _, id := range ids {
		vc := d.vcs[id]
		if !vc.blocked && d.hasWork(vc) {
			p.Wake(id, now)
		}
	}
	old := d.policy
	d.policy = p
	d.lease = lease{}
	d.m.log.Info("policy changed", "device", d.name, "from", old.Name(), "to", p.Name())
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

// VCoprocs returns the device's vcoprocs sorted by name.
func (d *Device) VCoprocs() []*VCoproc {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	out := make([]*VCoproc, 0, len(d.vcs))
	for _, vc := range d.vcs {
		out = append(out, vc)
	}
	slices.SortFunc(out, func(a, b *VCoproc) int { return strings.Compare(a.name, b.name) })
	return out
}
