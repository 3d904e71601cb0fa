package scheduler

import (
	"fmt"
	"time"
)

// ID identifies a vcoproc to a policy. The mediator assigns them.
type ID uint64

// Params are a vcoproc's scheduling parameters. Each policy reads the ones it
// understands and documents which; the zero value is "best effort, weight 1".
type Params struct {
	// Weight is the relative share among best-effort vcoprocs (0 means 1).
	Weight uint32
	// Share is a reserved fraction of the device in (0, 1] for fixed-share
	// policies; 0 means none.
	Share float64
	// Priority orders fixed-priority policies; larger runs first.
	Priority int
	// Budget of device time every Period, due by Deadline after the period
	// starts (0 means Deadline = Period): a real-time reservation.
	Budget, Period, Deadline time.Duration
}

// Costs is what a device declares about preemption and switching.
type Costs struct {
	// SwitchCost is the device time one context switch takes.
	SwitchCost time.Duration
	// MaxNonPreemptible is the longest segment that cannot be preempted: a
	// decision's slice may overrun by up to this much.
	MaxNonPreemptible time.Duration
}

// Decision is Pick's answer.
type Decision struct {
	// Idle is true when nothing should run now.
	Idle bool
	// ID is the vcoproc to run, when not Idle.
	ID ID
	// Slice is how long to run before asking again. The device stops at the
	// first preemption point after it.
	Slice time.Duration
	// Until, when Idle, is the instant to ask again even if nothing wakes
	// (non-work-conserving policies); zero means "when something wakes".
	Until time.Duration
}

// Policy decides who owns one physical coprocessor.
type Policy interface {
	// Name is the policy's identifier (e.g. "rrobin").
	Name() string
	// Admit adds a vcoproc, not yet runnable. It fails when the parameters
	// are invalid or the guarantee they ask for cannot be given.
	Admit(id ID, p Params, now time.Duration) error
	// Update changes a vcoproc's parameters, under the same rules as Admit.
	Update(id ID, p Params, now time.Duration) error
	// Remove forgets a vcoproc.
	Remove(id ID, now time.Duration)
	// Wake marks a vcoproc runnable (work arrived). Waking a runnable
	// vcoproc is a no-op.
	Wake(id ID, now time.Duration)
	// Block marks a vcoproc not runnable (no work, or waiting on memory).
	Block(id ID, now time.Duration)
	// Pick says who runs next and for how long.
	Pick(now time.Duration) Decision
	// Charge accounts ran of device time to a vcoproc that Pick chose. It
	// may exceed the slice by up to the device's MaxNonPreemptible.
	Charge(id ID, ran time.Duration, now time.Duration)
}

// UnknownError is returned for an ID the policy does not know.
type UnknownError struct{ ID ID }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("scheduler: vcoproc %d is not admitted", e.ID)
}
