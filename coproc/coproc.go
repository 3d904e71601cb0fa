// Package coproc is the contract between the mediator and a physical
// coprocessor's platform driver: Xen SCF's coproc_ops (init, deinit,
// switch from, switch to) plus what time-slicing a device needs (run for a
// budget, reset a runaway job) and what the mediator's generic register
// handling needs (the hardware register file of the active context).
//
// It is its own package, and not part of mediator, so that backends can
// implement it without importing the mediator (DESIGN.md: backends import
// spec and iommu only) and the mediator can drive any backend, the reference
// models and the real devices alike.
//
// A Backend is a pure state machine driven by one caller at a time (the
// mediator serializes): no goroutines, no wall clock. Run consumes device
// time as a cost model says and reports it, so the same backend runs under
// the daemon's real clock and the simulator's virtual one.
package coproc

import (
	"errors"
	"fmt"
	"time"

	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// Granularity is the finest point at which a backend can be preempted.
type Granularity uint8

const (
	// CommandBoundary: a command, once started, runs to its end.
	CommandBoundary Granularity = iota + 1
	// Workgroup: a DISPATCH can be stopped and saved between workgroups.
	Workgroup
	// Instruction: any point (compute preemption with full state save).
	Instruction
)

func (g Granularity) String() string {
	switch g {
	case CommandBoundary:
		return "command"
	case Workgroup:
		return "workgroup"
	case Instruction:
		return "instruction"
	}
	return fmt.Sprintf("Granularity(%d)", g)
}

// Caps is what a backend declares about switching, for the schedulers'
// accounting and admission control.
type Caps struct {
	Preemption Granularity
	// SwitchCost is the device time one save+restore takes.
	SwitchCost time.Duration
	// MaxNonPreemptible is the longest segment that cannot be preempted
	// (the blocking term of response-time analysis), given the spec's limits.
	MaxNonPreemptible time.Duration
}

// Context is a backend's per-vcoproc state: saved registers and engine
// state, queued jobs, position inside the current job. It is opaque to the
// mediator.
type Context interface {
	Domain() string
}

// Job is one audited command buffer. Commands are the scanner's shadow
// copy: the backend executes them and never re-reads the guest's buffer.
type Job struct {
	ID       uint64
	Commands []spec.Command
}

// RunState says why Run returned.
type RunState uint8

const (
	// Idle: the context has no queued work left.
	Idle RunState = iota + 1
	// Preempted: the budget ran out at a preemption point; work remains.
	Preempted
	// Blocked: the current job waits on memory (WAIT) and cannot progress.
	Blocked
)

func (s RunState) String() string {
	switch s {
	case Idle:
		return "idle"
	case Preempted:
		return "preempted"
	case Blocked:
		return "blocked"
	}
	return fmt.Sprintf("RunState(%d)", s)
}

// EventKind classifies what a backend reports from a run.
type EventKind uint8

const (
	// EventFence: a FENCE completed; Value is the fence value (already
	// written to guest memory).
	EventFence EventKind = iota + 1
	// EventJobDone: the job completed.
	EventJobDone
	// EventJobFailed: the job was aborted; Err says why (an *iommu.Fault for
	// a DMA fault). The context goes on with its next job.
	EventJobFailed
)

func (k EventKind) String() string {
	switch k {
	case EventFence:
		return "fence"
	case EventJobDone:
		return "job-done"
	case EventJobFailed:
		return "job-failed"
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// Event is one thing a run produced, in order.
type Event struct {
	Kind  EventKind
	Job   uint64
	Value uint64
	Err   error
	// At is the device time since the start of the run at which it
	// happened, so that completions are timed to the command, not to the
	// end of the slice they fell in.
	At time.Duration
}

// Result reports one Run.
type Result struct {
	Used   time.Duration // device time consumed, switch costs excluded
	State  RunState
	Events []Event
	// Reconfig is the part of Used spent reconfiguring the device for the
	// context (an FPGA's partial reconfiguration): switching overhead that
	// happens inside the run rather than at the switch.
	Reconfig time.Duration
	// Progressed reports that the run completed at least one command (or
	// ended a job), whatever state it ended in: a run that writes memory
	// and then blocks on a WAIT has still written what another job of the
	// domain may be waiting for. A backend that never reports Blocked may
	// leave it false: the mediator counts any run that used device time
	// and did not block as progress.
	Progressed bool
}

// SwitchCoster is implemented by backends whose switch cost depends on
// which context comes in (an FPGA whose regions must be reprogrammed, or
// not). The mediator records its answer in the trace instead of
// Caps().SwitchCost.
type SwitchCoster interface {
	SwitchCostTo(Context) time.Duration
}

// ErrNotActive is returned by Run when no context is switched in.
var ErrNotActive = errors.New("coproc: no context is switched in")

// Backend is one physical coprocessor.
type Backend interface {
	// Spec is the guest-visible description the device implements.
	Spec() *spec.Device
	Caps() Caps
	// IOMMU is the unit in front of the device. The mediator activates the
	// owner's context on every switch; the backend does all DMA through it.
	IOMMU() *iommu.Unit
	// DeviceMemory is the device's own memory, partitioned among domains;
	// nil for a device without any.
	DeviceMemory() *iommu.DeviceMemory

	// Init creates the context of a new vcoproc (Xen SCF: vcoproc_init).
	Init(domain string) (Context, error)
	// Deinit destroys a context, dropping its jobs (vcoproc_deinit).
	Deinit(Context)
	// SwitchFrom saves the active context's engine state (ctx_switch_from).
	// A backend that cannot stop yet returns retry > 0: run the context
	// for about that long more and ask again.
	SwitchFrom(Context) (retry time.Duration, err error)
	// SwitchTo restores a saved context onto the engine (ctx_switch_to).
	SwitchTo(Context) error

	// ReadReg and WriteReg access the hardware register file of the active
	// context (pass-through and privileged registers of the spec). The
	// mediator saves and restores pass-through registers with them.
	ReadReg(offset uint32) uint64
	WriteReg(offset uint32, value uint64)

	// Enqueue appends an audited job to a context's queue.
	Enqueue(Context, *Job) error
	// Pending is the number of jobs queued or running on a context.
	Pending(Context) int
	// Run executes the active context for about budget, stopping at the
	// first preemption point at or after it.
	Run(budget time.Duration) (Result, error)
	// Reset aborts a context's current job (the watchdog's tool) and
	// clears the engine state it left; queued jobs stay. It returns the id
	// of the aborted job, or false when none was running.
	Reset(Context) (job uint64, ok bool)
}
