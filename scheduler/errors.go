package scheduler

import (
	"fmt"
	"math/bits"
	"time"
)

// AdmissionError refuses a vcoproc whose guarantee cannot be kept. It names
// the numbers that failed: what was asked (Demand) against what the device
// can still promise (Available) and why, so an operator can tell how far off
// the request is. The policy does not know the device's name; Device is the
// label its constructor was given, or empty, and the mediator may wrap it.
type AdmissionError struct {
	Policy string // the policy's Name
	Device string // the constructor's Label; "" when none was given
	ID     ID     // the vcoproc refused
	// Demand and Available are the compared quantities (utilization for
	// EDF and shares, seconds of response time for fixed priority).
	Demand, Available float64
	// Detail is the whole comparison in words.
	Detail string
}

func (e *AdmissionError) Error() string {
	on := ""
	if e.Device != "" {
		on = " on " + e.Device
	}
	return fmt.Sprintf("scheduler: %s: vcoproc %d refused: %s%s", e.Policy, e.ID, e.Detail, on)
}

// ParamError rejects parameters that make no sense for a policy.
type ParamError struct {
	Policy string
	ID     ID
	Detail string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("scheduler: %s: vcoproc %d: %s", e.Policy, e.ID, e.Detail)
}

// DuplicateError is returned by Admit for an ID already admitted.
type DuplicateError struct {
	Policy string
	ID     ID
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("scheduler: %s: vcoproc %d admitted twice", e.Policy, e.ID)
}

// reservation is a validated real-time reservation: budget every period,
// due within deadline of the period's start.
type reservation struct {
	budget, period, deadline time.Duration
}

// parseReservation checks Params' real-time fields: 0 < budget ≤ deadline
// ≤ period (a zero deadline means the period).
func parseReservation(policy string, id ID, p Params) (reservation, error) {
	r := reservation{budget: p.Budget, period: p.Period, deadline: p.Deadline}
	if r.deadline == 0 {
		r.deadline = r.period
	}
	bad := func(format string, args ...any) (reservation, error) {
		return reservation{}, &ParamError{Policy: policy, ID: id, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.budget <= 0:
		return bad("budget %v must be positive for a reservation", r.budget)
	case r.period <= 0:
		return bad("period %v must be positive for a reservation", r.period)
	case r.deadline < 0:
		return bad("deadline %v must not be negative", p.Deadline)
	case r.deadline > r.period:
		return bad("deadline %v > period %v (only constrained deadlines are supported)", r.deadline, r.period)
	case r.budget > r.deadline:
		return bad("budget %v > deadline %v", r.budget, r.deadline)
	}
	return r, nil
}

// utilization is budget/deadline, the density the EDF test adds up.
func (r reservation) density() float64 { return float64(r.budget) / float64(r.deadline) }

// mulLess reports a*b < c*d for non-negative operands, exactly (128-bit).
func mulLess(a, b, c, d int64) bool {
	h1, l1 := bits.Mul64(uint64(a), uint64(b))
	h2, l2 := bits.Mul64(uint64(c), uint64(d))
	return h1 < h2 || (h1 == h2 && l1 < l2)
}

// admissionSlack absorbs floating-point rounding in utilization sums, so
// that a set exactly at the bound is admitted.
const admissionSlack = 1e-9
