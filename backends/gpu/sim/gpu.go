package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/backends/internal/regfile"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

var _ coproc.Backend = (*GPU)(nil)

// ErrBadCommand is wrapped by the error of a job the engine refused while
// running it: a command the scanner should have refused (a privileged or
// unknown opcode, a wrong operand count, a value over its limit, a register
// that is not per-context, a misaligned address). The mediator's scanner
// makes this unreachable for guest submissions; the engine still never trusts
// it. A job failed with it corresponds to spec.ErrCodeExecution.
var ErrBadCommand = errors.New("command refused by the engine")

// copyChunk is the most COPY and FILL move through the IOMMU at once.
const copyChunk = 64 << 10

// GPU is the reference GPU: one engine, one IOMMU unit, device memory, and
// the contexts of the vcoprocs that share it. It is a state machine driven by
// one caller at a time (coproc.Backend); it is not safe for concurrent use.
type GPU struct {
	cfg   Config
	cost  CostModel
	spec  *spec.Device
	unit  *iommu.Unit
	vram  *iommu.DeviceMemory
	caps  coproc.Caps
	kerns map[uint64]*kernel

	// regs is the hardware register file (pass-through, privileged and
	// identification registers); regAt maps offset/4 to 1 + its index.
	regs *regfile.File

	active *context

	// Engine memory: the workgroup local memory, and scratch buffers reused
	// by every command so that the hot loops do not allocate.
	local    []byte
	scratchA []byte // copyChunk bytes: COPY/FILL chunks, kernel operands
	scratchB []byte // one row of up to 4096 floats
	acc      []float32
}

// context is the engine state of one vcoproc.
type context struct {
	gpu    *GPU
	domain string
	dead   bool
	jobs   engine.Queue
	pos    position
}

// position is where the current job stands: the next command to run, and
// inside a started command (started) the next workgroup of a DISPATCH. A
// WAIT that has polled is started too (its issue is not charged again).
type position struct {
	cmd     int
	started bool
	group   uint64
}

func (c *context) Domain() string { return c.domain }

// New builds a reference GPU.
func New(cfg Config) (*GPU, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	vram, err := iommu.NewDeviceMemory(cfg.VRAMBytes, cfg.VRAMGranule)
	if err != nil {
		return nil, fmt.Errorf("sim: device memory of %d bytes in granules of %d: %w", cfg.VRAMBytes, cfg.VRAMGranule, err)
	}
	dev := spec.ReferenceGPU()
	kerns, err := buildKernels(dev.Commands)
	if err != nil {
		return nil, err
	}
	g := &GPU{
		cfg:      cfg,
		cost:     cfg.Cost,
		spec:     dev,
		unit:     iommu.NewUnit(cfg.Name),
		vram:     vram,
		kerns:    kerns,
		regs:     regfile.New(dev.Registers),
		local:    make([]byte, spec.RefGPULocalMemoryBytes),
		scratchA: make([]byte, copyChunk),
		scratchB: make([]byte, 4*4096),
		acc:      make([]float32, 4096),
	}
	if cfg.Preemption != coproc.Workgroup {
		g.regs.Set(spec.RegCaps, g.regs.Read(spec.RegCaps)&^spec.RefGPUCapsPreemptWorkgroup)
	}
	g.caps = coproc.Caps{
		Preemption:        cfg.Preemption,
		SwitchCost:        g.cost.CyclesToDuration(g.cost.SwitchCycles),
		MaxNonPreemptible: g.cost.CyclesToDuration(g.maxNonPreemptible()),
	}
	return g, nil
}

// maxNonPreemptible computes Caps().MaxNonPreemptible in cycles; see Caps
// for the formula.
func (g *GPU) maxNonPreemptible() uint64 {
	var worst uint64
	for _, d := range g.spec.Commands.Commands() {
		if d.Privileged {
			continue
		}
		cmd := spec.Command{Op: d.Op, N: uint8(len(d.Operands))}
		for i, o := range d.Operands {
			cmd.Operands[i] = o.Max
		}
		if d.Op != spec.OpDispatch {
			c := g.commandCost(&cmd)
			if d.Op == spec.OpWait {
				c += g.cost.PollCycles // the first poll follows the issue at once
			}
			worst = max(worst, c)
			continue
		}
		for _, kd := range g.spec.Commands.Kernels() {
			k := g.kerns[kd.ID]
			args := make([]uint64, len(kd.Args))
			for i, a := range kd.Args {
				args[i] = a.Max
			}
			if g.cfg.Preemption == coproc.Workgroup {
				_, e := k.groupElements(args, 0)
				worst = max(worst, g.cost.IssueCycles, g.groupCost(k, args, e))
			} else {
				worst = max(worst, g.cost.IssueCycles+g.groupsCost(k, args, 0, spec.RefGPUMaxGroups))
			}
		}
	}
	return worst
}

// Spec returns the reference GPU's spec.
func (g *GPU) Spec() *spec.Device { return g.spec }

// Caps reports the preemption granularity, the switch cost (SwitchCycles)
// and MaxNonPreemptible: the longest stretch between two points where Run
// checks its budget and SwitchFrom succeeds, for any command the spec's limits
// allow (every Value operand at its Max). Run checks the budget before every
// command and before every workgroup, so:
//
//   - Workgroup granularity: a segment is one command other than DISPATCH
//     (the 64 MiB COPY or FILL: issue + ceil(64 MiB / BytesPerCycle)), the
//     issue of a DISPATCH, or one workgroup (launch + ceil(bytes /
//     BytesPerCycle) + ceil(flops / FlopsPerCycle)). With the default costs
//     the largest is an sgemm workgroup at m = n = k = 4096: a row of C
//     reads a row of A and all of B, 64 MiB and 33.5 Mflop, about 1.57 ms.
//   - CommandBoundary granularity: a DISPATCH once launched must finish
//     before SwitchFrom succeeds, so a segment is a whole command: issue +
//     RefGPUMaxGroups launches + the work of every workgroup that has data,
//     for the costliest kernel at its limits (sgemm again: 4096 rows, about
//     6.65 s with the default costs).
//
// A WAIT contributes issue + one poll: a WAIT whose condition is false ends
// the run (Blocked) and the context can be switched out there.
func (g *GPU) Caps() coproc.Caps { return g.caps }

// IOMMU is the unit all of the engine's DMA goes through.
func (g *GPU) IOMMU() *iommu.Unit { return g.unit }

// DeviceMemory is the GPU's VRAM.
func (g *GPU) DeviceMemory() *iommu.DeviceMemory { return g.vram }

// CostModel returns the timing model in use.
func (g *GPU) CostModel() CostModel { return g.cost }

// Cycles converts a device time to whole engine cycles (rounded down).
func (g *GPU) Cycles(d time.Duration) uint64 { return g.cost.DurationToCycles(d) }

// Init creates the context of a new vcoproc of domain.
func (g *GPU) Init(domain string) (coproc.Context, error) {
	if domain == "" {
		return nil, errors.New("sim: Init: empty domain name")
	}
	return &context{gpu: g, domain: domain}, nil
}

// Deinit destroys a context and drops its jobs. Deinit of the active context
// detaches it from the engine (and clears local memory) first.
func (g *GPU) Deinit(cc coproc.Context) {
	c, err := g.own(cc, "Deinit")
	if err != nil {
		return
	}
	if g.active == c {
		g.active = nil
		clear(g.local)
	}
	c.dead = true
	c.jobs.Clear()
	c.pos = position{}
}

func (g *GPU) own(cc coproc.Context, op string) (*context, error) {
	c, ok := cc.(*context)
	switch {
	case !ok || c == nil:
		return nil, fmt.Errorf("sim: %s: context %T is not a reference GPU context", op, cc)
	case c.gpu != g:
		return nil, fmt.Errorf("sim: %s: context of domain %q belongs to another GPU", op, c.domain)
	case c.dead:
		return nil, fmt.Errorf("sim: %s: context of domain %q was destroyed (Deinit)", op, c.domain)
	}
	return c, nil
}

// SwitchFrom saves the engine state of the active context and detaches it.
// The position inside the current job lives in the context already; local
// memory is cleared so that nothing of it reaches the next context.
//
// With CommandBoundary preemption a context stopped inside a DISPATCH cannot
// be switched out: SwitchFrom returns the device time of the remaining
// workgroups as retry, and the context stays on the engine.
func (g *GPU) SwitchFrom(cc coproc.Context) (time.Duration, error) {
	c, err := g.own(cc, "SwitchFrom")
	if err != nil {
		return 0, err
	}
	if g.active != c {
		return 0, fmt.Errorf("sim: SwitchFrom: context of domain %q is not the active one", c.domain)
	}
	if g.cfg.Preemption == coproc.CommandBoundary {
		if rest := g.remainingDispatch(c); rest > 0 {
			return g.cost.CyclesToDuration(rest), nil
		}
	}
	clear(g.local)
	g.active = nil
	return 0, nil
}

// remainingDispatch is the cost of the workgroups left of a started
// DISPATCH, or 0 when the context is not inside one.
func (g *GPU) remainingDispatch(c *context) uint64 {
	if c.jobs.Len() == 0 || !c.pos.started || c.pos.cmd >= len(c.jobs.Head().Commands) {
		return 0
	}
	cmd := &c.jobs.Head().Commands[c.pos.cmd]
	if cmd.Op != spec.OpDispatch {
		return 0
	}
	k, groups, err := g.checkDispatch(cmd)
	if err != nil || c.pos.group >= groups {
		return 0
	}
	return g.groupsCost(k, cmd.Args, c.pos.group, groups)
}

// SwitchTo puts a context on the engine. Another context must not be active.
func (g *GPU) SwitchTo(cc coproc.Context) error {
	c, err := g.own(cc, "SwitchTo")
	if err != nil {
		return err
	}
	switch g.active {
	case c:
		return nil
	case nil:
	default:
		return fmt.Errorf("sim: SwitchTo %q: domain %q is still active; switch it out first (SwitchFrom)", c.domain, g.active.domain)
	}
	clear(g.local)
	g.active = c
	return nil
}

// ReadReg reads the hardware register file: pass-through, privileged and
// identification registers. Other offsets read 0.
func (g *GPU) ReadReg(offset uint32) uint64 { return g.regs.Read(offset) }

// WriteReg writes the bits of value the register's mask allows. Writes to
// identification registers and to offsets outside the file are ignored.
func (g *GPU) WriteReg(offset uint32, value uint64) { g.regs.Write(offset, value) }

// Enqueue appends an audited job to a context's queue.
func (g *GPU) Enqueue(cc coproc.Context, job *coproc.Job) error {
	c, err := g.own(cc, "Enqueue")
	if err != nil {
		return err
	}
	return c.jobs.Push(c.domain, job)
}

// Pending is the number of jobs queued or running on a context (0 for a
// context that is not this GPU's).
func (g *GPU) Pending(cc coproc.Context) int {
	c, err := g.own(cc, "Pending")
	if err != nil {
		return 0
	}
	return c.jobs.Len()
}

// Reset aborts the context's current job if it has started, clears its
// position and, when the context is on the engine, local memory. Queued
// jobs stay.
func (g *GPU) Reset(cc coproc.Context) (uint64, bool) {
	c, err := g.own(cc, "Reset")
	if err != nil {
		return 0, false
	}
	if g.active == c {
		clear(g.local)
	}
	if c.jobs.Len() == 0 || (c.pos.cmd == 0 && !c.pos.started) {
		c.pos = position{}
		return 0, false
	}
	id := c.jobs.Head().ID
	c.popJob()
	return id, true
}

func (c *context) popJob() {
	c.jobs.Pop()
	c.pos = position{}
}
