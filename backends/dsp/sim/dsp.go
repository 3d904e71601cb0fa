package sim

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/backends/internal/regfile"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

var _ coproc.Backend = (*DSP)(nil)

// Errors of the reference DSP; compare with errors.Is.
var (
	// ErrBadCommand is wrapped by the error of a job the DSP refuses: a
	// command the scanner should have refused (privileged, unknown, over a
	// limit), or a CALL whose arguments the service rejects (buffer lengths
	// that do not match, a FIR without taps, an FFT size that is not a power
	// of two). Enqueue refuses such a job; Run checks again and fails it.
	ErrBadCommand = errors.New("command refused by the DSP")
	// ErrOverBudget: a CALL would take longer than the per-call budget.
	ErrOverBudget = errors.New("call exceeds the per-call budget")
	// ErrQueueFull: the session already has MaxQueuedJobs jobs.
	ErrQueueFull = errors.New("session queue is full")
	// ErrNoSession: every session of the DSP is open.
	ErrNoSession = errors.New("no free DSP session")
)

// DSP is the reference DSP: one vector engine, one IOMMU unit (the SMMU in
// front of it), TCM shared out among sessions, and the sessions of the
// vcoprocs that use it. It is a state machine driven by one caller at a time
// (coproc.Backend); it is not safe for concurrent use.
type DSP struct {
	cfg    Config
	cost   CostModel
	spec   *spec.Device
	unit   *iommu.Unit
	tcm    *iommu.DeviceMemory
	caps   coproc.Caps
	budget uint64 // cycles; 0: none

	regs *regfile.File

	sessions []*session // by session number; nil: free
	active   *session

	// callLabel names each service's CALL in the errors of its argument
	// check ("CALL fir"), built once so that the check, which runs twice
	// for every call, does not build the string each time.
	callLabel map[uint64]string

	// Engine scratch, reused by every call so the hot path does not
	// allocate. dirty is how much of each may hold data of the session on
	// the engine; it is cleared on every switch.
	inF, outF, auxF []float32
	wireB           []byte // byte-order conversion on big-endian hosts
	dirty           bool
}

// session is the DSP state of one vcoproc: a protection domain.
type session struct {
	dsp    *DSP
	domain string
	number int
	dead   bool
	jobs   engine.Queue
	cmd    int // next command of jobs[0]
}

func (s *session) Domain() string { return s.domain }

// New builds a reference DSP.
func New(cfg Config) (*DSP, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tcm, err := iommu.NewDeviceMemory(spec.RefDSPTCMBytes, spec.RefDSPTCMGranule)
	if err != nil {
		return nil, fmt.Errorf("sim: TCM: %w", err)
	}
	dev := spec.ReferenceDSP()
	d := &DSP{
		cfg:      cfg,
		cost:     cfg.Cost,
		spec:     dev,
		unit:     iommu.NewUnit(cfg.Name),
		tcm:      tcm,
		regs:     regfile.New(dev.Registers),
		sessions: make([]*session, cfg.MaxSessions),
	}
	d.callLabel = map[uint64]string{}
	for _, k := range dev.Commands.Kernels() {
		d.callLabel[k.ID] = "CALL " + k.Name
	}
	d.budget = d.cost.durationToCycles(cfg.CallBudget)
	if cfg.CallBudget > 0 && d.budget == 0 {
		return nil, fmt.Errorf("sim: CallBudget %v is shorter than one cycle of the %d Hz clock", cfg.CallBudget, d.cost.ClockHz)
	}
	d.caps = coproc.Caps{
		Preemption:        coproc.CommandBoundary,
		SwitchCost:        d.cost.cyclesToDuration(d.cost.SwitchCycles),
		MaxNonPreemptible: d.cost.cyclesToDuration(d.maxNonPreemptible()),
	}
	return d, nil
}

// maxNonPreemptible is the costliest command the spec's limits and the
// per-call budget allow, in cycles.
func (d *DSP) maxNonPreemptible() uint64 {
	worst := d.cost.CommandCycles + engine.CeilDiv(8, d.cost.BytesPerCycle) // FENCE, STORE_REG
	for _, k := range d.spec.Commands.Kernels() {
		args := make([]uint64, len(k.Args))
		for i, a := range k.Args {
			args[i] = a.Max
		}
		c := d.callCost(k.ID, args)
		if d.budget > 0 {
			c = min(c, d.budget)
		}
		worst = max(worst, c)
	}
	return worst
}

// Spec returns the reference DSP's spec.
func (d *DSP) Spec() *spec.Device { return d.spec }

// Caps reports command-boundary preemption (a call runs to its end), the
// session switch cost (SwitchCycles) and MaxNonPreemptible: the costliest
// single command under the spec's limits, which is a CALL of the service
// whose cost at its limits is largest (a FIR of 1024 taps over 65536 samples:
// 2^26 MACs and 512 KiB moved, about 2.13 ms with the default costs), or
// the per-call budget when one is configured and smaller: a longer call is
// refused before it runs.
func (d *DSP) Caps() coproc.Caps { return d.caps }

// IOMMU is the unit (SMMU) all of the DSP's DMA goes through.
func (d *DSP) IOMMU() *iommu.Unit { return d.unit }

// DeviceMemory is the DSP's TCM, partitioned among the sessions' domains.
func (d *DSP) DeviceMemory() *iommu.DeviceMemory { return d.tcm }

// CostModel returns the timing model in use.
func (d *DSP) CostModel() CostModel { return d.cost }

// CallCost is the device time a CALL of service with the argument snapshot
// args takes (CallCycles, the bytes it moves, the MACs it does), so a
// caller can size calls to the budget. Arguments that the service would
// refuse give an error.
func (d *DSP) CallCost(service uint64, args []uint64) (time.Duration, error) {
	k, ok := d.spec.Commands.Kernel(service)
	if !ok {
		return 0, fmt.Errorf("sim: unknown service %d", service)
	}
	if len(args) != len(k.Args) {
		return 0, fmt.Errorf("sim: service %s takes %d arguments, got %d", k.Name, len(k.Args), len(args))
	}
	if err := checkServiceArgs(k, args); err != nil {
		return 0, err
	}
	return d.cost.cyclesToDuration(d.callCost(service, args)), nil
}

// Sessions lists the domains holding each session, "" for a free one.
func (d *DSP) Sessions() []string {
	out := make([]string, len(d.sessions))
	for i, s := range d.sessions {
		if s != nil {
			out[i] = s.domain
		}
	}
	return out
}

// Session returns the session number of a context.
func (d *DSP) Session(c coproc.Context) (int, bool) {
	s, err := d.own(c, "Session")
	if err != nil {
		return -1, false
	}
	return s.number, true
}

// Init opens a session for a new vcoproc of domain: the lowest free one. It
// fails with ErrNoSession when all MaxSessions are open.
func (d *DSP) Init(domain string) (coproc.Context, error) {
	if domain == "" {
		return nil, errors.New("sim: Init: empty domain name")
	}
	for i, s := range d.sessions {
		if s == nil {
			s = &session{dsp: d, domain: domain, number: i}
			d.sessions[i] = s
			return s, nil
		}
	}
	return nil, fmt.Errorf("sim: Init %q on %s: all %d sessions are open (held by %s): %w; detach one of them first",
		domain, d.cfg.Name, len(d.sessions), strings.Join(d.Sessions(), ", "), ErrNoSession)
}

// Deinit closes a session and drops its jobs; the session number becomes
// free. Deinit of the session on the engine detaches it (and clears the
// engine's scratch) first.
func (d *DSP) Deinit(c coproc.Context) {
	s, err := d.own(c, "Deinit")
	if err != nil {
		return
	}
	if d.active == s {
		d.active = nil
		d.scrub()
	}
	s.dead = true
	s.jobs.Clear()
	s.cmd = 0
	d.sessions[s.number] = nil
}

func (d *DSP) own(c coproc.Context, op string) (*session, error) {
	s, ok := c.(*session)
	switch {
	case !ok || s == nil:
		return nil, fmt.Errorf("sim: %s: context %T is not a reference DSP session", op, c)
	case s.dsp != d:
		return nil, fmt.Errorf("sim: %s: session of domain %q belongs to another DSP", op, s.domain)
	case s.dead:
		return nil, fmt.Errorf("sim: %s: session of domain %q was closed (Deinit)", op, s.domain)
	}
	return s, nil
}

// SwitchFrom detaches the session on the engine. Run never stops inside a
// call, so there is nothing to drain: it always succeeds at once. The
// engine's scratch is cleared so nothing of it reaches the next session.
func (d *DSP) SwitchFrom(c coproc.Context) (time.Duration, error) {
	s, err := d.own(c, "SwitchFrom")
	if err != nil {
		return 0, err
	}
	if d.active != s {
		return 0, fmt.Errorf("sim: SwitchFrom: session of domain %q is not the active one", s.domain)
	}
	d.scrub()
	d.active = nil
	return 0, nil
}

// SwitchTo puts a session on the engine. Another must not be active.
func (d *DSP) SwitchTo(c coproc.Context) error {
	s, err := d.own(c, "SwitchTo")
	if err != nil {
		return err
	}
	switch d.active {
	case s:
		return nil
	case nil:
	default:
		return fmt.Errorf("sim: SwitchTo %q: domain %q is still active; switch it out first (SwitchFrom)", s.domain, d.active.domain)
	}
	d.scrub()
	d.active = s
	return nil
}

// scrub clears the engine scratch if a call has used it since the last
// scrub.
func (d *DSP) scrub() {
	if !d.dirty {
		return
	}
	clear(d.wireB)
	clear(d.inF)
	clear(d.outF)
	clear(d.auxF)
	d.dirty = false
}

// ReadReg reads the hardware register file: pass-through (MBOXn),
// privileged and identification registers. Other offsets read 0.
func (d *DSP) ReadReg(offset uint32) uint64 { return d.regs.Read(offset) }

// WriteReg writes the bits of value the register's mask allows. Writes to
// identification registers and to offsets outside the file are ignored.
func (d *DSP) WriteReg(offset uint32, value uint64) { d.regs.Write(offset, value) }

// Enqueue admits an audited job to a session's queue. This is where the
// host's control over a device that cannot be preempted inside a call sits:
// every command is checked against the spec and every CALL against its
// service (buffer lengths, sizes) and against the per-call budget, and the
// queue length is bounded. A job failing any of it is refused whole, with
// the numbers, before anything of it runs.
func (d *DSP) Enqueue(c coproc.Context, job *coproc.Job) error {
	s, err := d.own(c, "Enqueue")
	if err != nil {
		return err
	}
	if job == nil {
		return fmt.Errorf("sim: Enqueue on %q: nil job", s.domain)
	}
	if s.jobs.Len() >= d.cfg.MaxQueuedJobs {
		return fmt.Errorf("sim: Enqueue job %d on %q: %d jobs queued, the limit is %d: %w; wait for completions",
			job.ID, s.domain, s.jobs.Len(), d.cfg.MaxQueuedJobs, ErrQueueFull)
	}
	for i := range job.Commands {
		cmd := &job.Commands[i]
		cost, err := d.checkCommand(cmd)
		if err != nil {
			return fmt.Errorf("sim: job %d command %d: %w", job.ID, i, err)
		}
		if cmd.Op == spec.OpDSPCall && d.budget > 0 && cost > d.budget {
			k, _ := d.spec.Commands.Kernel(cmd.Operands[0])
			return fmt.Errorf("sim: job %d command %d: CALL %s %s costs %v of device time, over the per-call budget of %v: %w; split the call",
				job.ID, i, k.Name, fmtArgs(k, cmd.Args), d.cost.cyclesToDuration(cost), d.cfg.CallBudget, ErrOverBudget)
		}
	}
	return s.jobs.Push(s.domain, job)
}

func fmtArgs(k *spec.KernelDef, args []uint64) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, a := range k.Args {
		if a.Kind != spec.Value || i >= len(args) {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", a.Name, args[i])
	}
	b.WriteByte(')')
	return b.String()
}

// Pending is the number of jobs queued or running on a session (0 for a
// context that is not this DSP's).
func (d *DSP) Pending(c coproc.Context) int {
	s, err := d.own(c, "Pending")
	if err != nil {
		return 0
	}
	return s.jobs.Len()
}

// Reset aborts the session's current job if it has started (some of its
// commands ran), and clears the engine scratch when the session is on the
// engine. Queued jobs stay. A call itself is never cut: Run returns only
// between commands.
func (d *DSP) Reset(c coproc.Context) (uint64, bool) {
	s, err := d.own(c, "Reset")
	if err != nil {
		return 0, false
	}
	if d.active == s {
		d.scrub()
	}
	if s.jobs.Len() == 0 || s.cmd == 0 {
		s.cmd = 0
		return 0, false
	}
	id := s.jobs.Head().ID
	s.popJob()
	return id, true
}

// popJob drops the current job (the queue keeps its array: a session
// calling one job at a time allocates no queue per call).
func (s *session) popJob() {
	s.jobs.Pop()
	s.cmd = 0
}
