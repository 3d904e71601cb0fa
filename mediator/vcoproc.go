package mediator

import (
	"fmt"
	"time"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// State is a vcoproc's scheduling state, as in Xen SCF.
type State uint8

const (
	// Sleeping: no work (or blocked on a WAIT until the next poll).
	Sleeping State = iota + 1
	// Waiting: has work and waits for the device.
	Waiting
	// Running: owns the device.
	Running
	// AskedToSleep: being switched out; the backend may still be draining it.
	AskedToSleep
)

func (s State) String() string {
	switch s {
	case Sleeping:
		return "sleeping"
	case Waiting:
		return "waiting"
	case Running:
		return "running"
	case AskedToSleep:
		return "asked-to-sleep"
	}
	return fmt.Sprintf("State(%d)", s)
}

// VCoproc is one domain's virtual coprocessor on one physical device: its
// virtual register file, its backend context, its scheduling state and its
// event channel. Every door (paravirtual ring, vfio-user, in-process calls)
// ends in Access and Submit.
type VCoproc struct {
	id     scheduler.ID
	name   string // "domain/device"
	domain *Domain
	dev    *Device
	ctx    coproc.Context
	params scheduler.Params

	// vregs is the virtual register file, indexed like the spec's map: the
	// value of emulated registers, the saved value of pass-through ones
	// while the vcoproc does not own the device.
	vregs    []uint64
	state    State
	detached bool

	pendingKicks int
	nextJob      uint64
	// jobRun is the device time the current job has used, blocked time
	// included; the watchdog compares it with its limit.
	jobRun       time.Duration
	blocked      bool
	blockedSince time.Duration
	recheckAt    time.Duration
	pollEvery    time.Duration // the blocked job's current poll interval (blocked.go); 0 before its first

	devmem map[uint64]*iommu.Allocation // by IOVA

	// submitted holds the submission instant of every job not yet ended,
	// oldest first.
	submitted []time.Duration

	events   []Event
	notify   chan struct{}
	notifier func(raised bool) // replaces notify when set (SetNotifier)
	stats    VCoprocStats
	ringBuf  []byte
}

// VCoprocStats are a vcoproc's counters.
type VCoprocStats struct {
	Jobs          uint64        // jobs accepted
	JobsDone      uint64        // jobs completed
	JobsFailed    uint64        // jobs aborted by a fault or the device
	Timeouts      uint64        // jobs aborted by the watchdog
	Refused       uint64        // submissions the scanner refused
	Denied        uint64        // privileged registers or commands denied
	AccessErrors  uint64        // accesses refused for any other reason
	Faults        uint64        // IOMMU faults during jobs
	Kicks         uint64        // doorbell writes
	QueuedKicks   uint64        // doorbell writes queued until switch-in
	SwitchesIn    uint64        // times it was given the device
	Busy          time.Duration // device time used
	EventsDropped uint64        // events lost because nobody drained them
	// DeadlineMisses counts jobs that ended later than the reservation's
	// relative deadline (or period) after their submission.
	DeadlineMisses uint64
	Latency        Latency // submission to completion, every job
}

// Name is "domain/device".
func (v *VCoproc) Name() string { return v.name }

// Domain is the owning domain's name.
func (v *VCoproc) Domain() string { return v.domain.name }

// Device is the physical device's name.
func (v *VCoproc) Device() string { return v.dev.name }

// State returns the scheduling state.
func (v *VCoproc) State() State {
	v.dev.m.mu.Lock()
	defer v.dev.m.mu.Unlock()
	return v.state
}

// Stats returns a copy of the counters.
func (v *VCoproc) Stats() VCoprocStats {
	v.dev.m.mu.Lock()
	defer v.dev.m.mu.Unlock()
	return v.stats
}

// Access is the single entry point for a guest's register access: a size-byte
// read or write at offset of the device's register window. A read returns
// the value; a write returns 0. It does not allocate unless it fails.
func (v *VCoproc) Access(offset uint32, size uint8, write bool, value uint64) (uint64, error) {
	m := v.dev.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if v.detached {
		return 0, &AccessError{VCoproc: v.name, Offset: offset, Size: size, Write: write, Err: ErrDetached}
	}
	regs := v.dev.spec.Registers
	idx, err := regs.Decode(offset, size)
	if err != nil {
		v.stats.AccessErrors++
		return 0, &AccessError{VCoproc: v.name, Offset: offset, Size: size, Write: write, Err: err}
	}
	r := regs.At(idx)
	if write && size < 8 && value>>(8*uint(size)) != 0 {
		v.stats.AccessErrors++
		return 0, &AccessError{VCoproc: v.name, Offset: offset, Size: size, Write: write, Register: r.Name,
			Err: fmt.Errorf("%w: 0x%x in %d bytes", ErrValueTooWide, value, size)}
	}
	switch r.Class {
	case spec.Privileged:
		v.stats.Denied++
		v.dev.m.log.Warn("privileged register access denied", "vcoproc", v.name, "register", r.Name, "write", write)
		return 0, &AccessError{VCoproc: v.name, Offset: offset, Size: size, Write: write, Register: r.Name, Err: ErrPrivileged}
	case spec.PassThrough:
		if v.dev.active == v {
			if write {
				old := v.dev.backend.ReadReg(r.Offset)
				v.dev.backend.WriteReg(r.Offset, merge(old, value, r.Mask))
				return 0, nil
			}
			return v.dev.backend.ReadReg(r.Offset), nil
		}
	case spec.ReadOnly:
		if write {
			v.stats.AccessErrors++
			return 0, &AccessError{VCoproc: v.name, Offset: offset, Size: size, Write: write, Register: r.Name, Err: ErrReadOnly}
		}
		if r.Role == spec.RoleStatus {
			return v.status(), nil
		}
	case spec.WriteOneToClear:
		if write {
			v.vregs[idx] &^= value & r.Mask
			return 0, nil
		}
	case spec.Doorbell:
		if write {
			v.dev.doorbell(v)
		}
		return 0, nil
	}
	// Emulated registers, and pass-through ones while switched out, live in
	// the virtual register file.
	if write {
		v.vregs[idx] = merge(v.vregs[idx], value, r.Mask)
		return 0, nil
	}
	return v.vregs[idx], nil
}

func merge(old, value, mask uint64) uint64 { return old&^mask | value&mask }

func (v *VCoproc) status() uint64 {
	var s uint64
	if v.dev.hasWork(v) {
		s |= spec.StatusBusy
	}
	if v.dev.active == v {
		s |= spec.StatusRunning
	}
	if v.blocked {
		s |= spec.StatusWaiting
	}
	if i := v.dev.role[spec.RoleErrorCode]; i >= 0 && v.vregs[i] != spec.ErrCodeNone {
		s |= spec.StatusError
	}
	return s
}

// Submit audits a command buffer (the wire format of spec.Encode) and, if
// every command passes, queues it as one job. It returns the job's id; a
// refused buffer returns a *RefusedError wrapping the *ScanError, is counted,
// raises IntError, and nothing of it runs.
func (v *VCoproc) Submit(words []uint64) (uint64, error) {
	m := v.dev.m
	m.mu.Lock()
	if v.detached {
		m.mu.Unlock()
		return 0, &RefusedError{VCoproc: v.name, Err: ErrDetached}
	}
	d := v.dev
	inline := d.runnerIdle
	d.holdWake = inline
	job, err := d.submit(v, words)
	held := d.heldWake
	d.holdWake, d.heldWake = false, false
	m.mu.Unlock()
	switch {
	case inline && err == nil:
		d.stepInline()
	case held:
		d.signal()
	}
	return job, err
}

// AllocDeviceMemory allocates size bytes of the device's memory under the
// domain's quota and maps it into the domain's address space at iova.
// Memory a domain receives is always zero: it was scrubbed when its previous
// owner freed it.
func (v *VCoproc) AllocDeviceMemory(iova, size uint64, perm iommu.Perm) error {
	m := v.dev.m
	m.mu.Lock()
	defer m.mu.Unlock()
	dm := v.dev.backend.DeviceMemory()
	if dm == nil {
		return fmt.Errorf("vcoproc %q: device %q has no device memory", v.name, v.dev.name)
	}
	if _, dup := v.devmem[iova]; dup {
		return fmt.Errorf("vcoproc %q: device memory is already mapped at 0x%x", v.name, iova)
	}
	a, err := dm.Alloc(v.domain.name, size)
	if err != nil {
		return fmt.Errorf("vcoproc %q: %w", v.name, err)
	}
	if err := v.domain.as.Map(iova, a.Bytes(), perm); err != nil {
		_ = dm.Free(a)
		return fmt.Errorf("vcoproc %q: mapping device memory: %w", v.name, err)
	}
	v.devmem[iova] = a
	return nil
}

// FreeDeviceMemory unmaps and frees the device memory mapped at iova. The
// memory is scrubbed before anyone else can be given it.
func (v *VCoproc) FreeDeviceMemory(iova uint64) error {
	m := v.dev.m
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := v.devmem[iova]
	if !ok {
		return fmt.Errorf("vcoproc %q: no device memory mapped at 0x%x", v.name, iova)
	}
	return v.freeDeviceMemory(iova, a)
}

func (v *VCoproc) freeDeviceMemory(iova uint64, a *iommu.Allocation) error {
	if err := v.domain.as.Unmap(iova, a.Size); err != nil {
		return fmt.Errorf("vcoproc %q: unmapping device memory: %w", v.name, err)
	}
	delete(v.devmem, iova)
	return v.dev.backend.DeviceMemory().Free(a)
}

// Events drains the vcoproc's undelivered events, oldest first.
func (v *VCoproc) Events() []Event {
	m := v.dev.m
	m.mu.Lock()
	defer m.mu.Unlock()
	out := v.events
	v.events = nil
	return out
}

// Notify returns a channel that receives a value when an interrupt is
// raised (an event whose bit INT_MASK enables) and when a job completes.
// Like an eventfd, several may be folded into one receive: drain Events
// after each.
func (v *VCoproc) Notify() <-chan struct{} { return v.notify }

// SetNotifier has fn called where Notify's channel would fire, instead of
// the channel, with raised true; and, with raised false, for every event
// queued with its interrupt masked, which fires no channel: a transport
// that forwards events (package pvhost puts them in the guest's response
// ring, whose own event index decides whether the guest is woken) learns
// of each without polling for the masked ones. nil restores the channel.
// A vcoproc has one notifier, its transport's: one door per vcoproc (the
// daemon never gives a paravirtual session a vcoproc it serves over
// vfio-user), since each transport also drains the vcoproc's events.
// fn runs under the mediator's lock
// on whatever goroutine delivers the event — the device's runner, or a
// submitter stepping the device inline — so it must be quick, must not
// block and must not call into the mediator: set a flag, write an eventfd.
//
// It is for a transport whose loop can be woken directly. Through the
// channel, every event readies a goroutine of the transport's to forward
// it; when the event comes from the transport's own inline step (the
// transport is awake and drains the events itself right after), readying
// that goroutine only wakes an idle thread — on a virtual machine, an
// inter-processor interrupt of some 30 µs charged to the call — for
// nothing.
func (v *VCoproc) SetNotifier(fn func(raised bool)) {
	m := v.dev.m
	m.mu.Lock()
	defer m.mu.Unlock()
	v.notifier = fn
}

// SetParams changes the vcoproc's scheduling parameters, subject to the
// device's policy (which may refuse them).
func (v *VCoproc) SetParams(p scheduler.Params) error {
	m := v.dev.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := v.dev.policy.Update(v.id, p, m.cfg.Clock.Now()); err != nil {
		return fmt.Errorf("vcoproc %q: %w", v.name, err)
	}
	v.params = p
	return nil
}

// Params returns the vcoproc's scheduling parameters.
func (v *VCoproc) Params() scheduler.Params {
	v.dev.m.mu.Lock()
	defer v.dev.m.mu.Unlock()
	return v.params
}

// MemoryUsed is the device memory the vcoproc's domain holds on its device.
func (v *VCoproc) MemoryUsed() uint64 {
	v.dev.m.mu.Lock()
	defer v.dev.m.mu.Unlock()
	if dm := v.dev.backend.DeviceMemory(); dm != nil {
		return dm.Used(v.domain.name)
	}
	return 0
}

// Spec is the guest-visible description of the vcoproc's device.
func (v *VCoproc) Spec() *spec.Device { return v.dev.spec }

// Owner is the vcoproc's domain.
func (v *VCoproc) Owner() *Domain { return v.domain }

// Reset puts the vcoproc back in its power-on state, as a device reset
// does: its running job is aborted and its queue dropped (each reported as
// an EventJobFailed), queued kicks are forgotten, and every register takes
// its reset value. Its device memory and its domain's mappings are kept.
// Other vcoprocs are not disturbed.
func (v *VCoproc) Reset() error {
	m := v.dev.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if v.detached {
		return fmt.Errorf("vcoproc %q: %w", v.name, ErrDetached)
	}
	d := v.dev
	now := m.cfg.Clock.Now()
	if d.active == v {
		d.backend.Reset(v.ctx)
		d.switchOut(now)
	}
	ctx, err := d.backend.Init(v.domain.name)
	if err != nil {
		return fmt.Errorf("vcoproc %q: reset: %w", v.name, err)
	}
	d.backend.Deinit(v.ctx)
	v.ctx = ctx
	for range v.submitted {
		v.stats.JobsFailed++
		v.nextJobEnded(now)
	}
	d.policy.Block(v.id, now)
	v.pendingKicks, v.jobRun, v.blocked, v.pollEvery, v.state = 0, 0, false, 0, Sleeping
	for i, r := range d.spec.Registers.Registers() {
		v.vregs[i] = r.Reset
	}
	m.log.Info("vcoproc reset", "vcoproc", v.name)
	return nil
}

// nextJobEnded reports the oldest job as failed by a reset.
func (v *VCoproc) nextJobEnded(now time.Duration) {
	job := v.nextJob - uint64(len(v.submitted)) + 1
	v.jobEnded(now)
	v.deliver(Event{Kind: EventJobFailed, Job: job, Err: fmt.Errorf("job %d cancelled by a device reset", job), At: now}, 0)
}
