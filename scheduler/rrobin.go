package scheduler

import (
	"fmt"
	"time"
)

// DefaultSlice is RoundRobin's slice when none is given.
const DefaultSlice = 10 * time.Millisecond

// RoundRobin is Xen SCF's rrobin: runnable vcoprocs take turns, each for one
// slice of device time, in the order they became runnable. It ignores every
// Param. Its guarantee: with n runnable vcoprocs, each gets the device within
// (n-1) × (slice + MaxNonPreemptible + SwitchCost) of asking, and for at least
// one slice per round.
type RoundRobin struct {
	slice time.Duration
	costs Costs
	known map[ID]*rrEntry
	// queue holds the runnable vcoprocs, head first.
	queue []ID
}

type rrEntry struct {
	params   Params // kept for hand-over to another policy; unused here
	runnable bool
	used     time.Duration // service in the current turn
}

// NewRoundRobin returns a round-robin policy with the given slice.
func NewRoundRobin(slice time.Duration, costs Costs) (*RoundRobin, error) {
	if slice <= 0 {
		return nil, fmt.Errorf("scheduler: rrobin: slice %v must be positive", slice)
	}
	return &RoundRobin{slice: slice, costs: costs, known: make(map[ID]*rrEntry)}, nil
}

// Name implements Policy.
func (r *RoundRobin) Name() string { return "rrobin" }

// Slice is the configured slice.
func (r *RoundRobin) Slice() time.Duration { return r.slice }

// Admit implements Policy. Round-robin admits everyone: it promises turns,
// not amounts.
func (r *RoundRobin) Admit(id ID, p Params, now time.Duration) error {
	if _, ok := r.known[id]; ok {
		return fmt.Errorf("scheduler: rrobin: vcoproc %d admitted twice", id)
	}
	r.known[id] = &rrEntry{params: p}
	return nil
}

// Update implements Policy.
func (r *RoundRobin) Update(id ID, p Params, now time.Duration) error {
	e, ok := r.known[id]
	if !ok {
		return &UnknownError{ID: id}
	}
	e.params = p
	return nil
}

// Entities implements Enumerable.
func (r *RoundRobin) Entities() []Entity {
	return sortedEntities(r.known, func(id ID, e *rrEntry) Entity {
		return Entity{ID: id, Params: e.params, Runnable: e.runnable}
	})
}

// Remove implements Policy.
func (r *RoundRobin) Remove(id ID, now time.Duration) {
	r.Block(id, now)
	delete(r.known, id)
}

// Wake implements Policy.
func (r *RoundRobin) Wake(id ID, now time.Duration) {
	e, ok := r.known[id]
	if !ok || e.runnable {
		return
	}
	e.runnable = true
	e.used = 0
	r.queue = append(r.queue, id)
}

// Block implements Policy.
func (r *RoundRobin) Block(id ID, now time.Duration) {
	e, ok := r.known[id]
	if !ok || !e.runnable {
		return
	}
	e.runnable = false
	e.used = 0
	for i, q := range r.queue {
		if q == id {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			break
		}
	}
}

// Pick implements Policy.
func (r *RoundRobin) Pick(now time.Duration) Decision {
	if len(r.queue) == 0 {
		return Decision{Idle: true}
	}
	id := r.queue[0]
	return Decision{ID: id, Slice: r.slice - r.known[id].used}
}

// Charge implements Policy: a vcoproc that has used its slice goes to the
// back of the queue, and the overrun is not carried (Xen SCF's rrobin does not
// carry it either; the fair policies do).
func (r *RoundRobin) Charge(id ID, ran time.Duration, now time.Duration) {
	e, ok := r.known[id]
	if !ok || !e.runnable {
		return
	}
	e.used += ran
	if e.used < r.slice || len(r.queue) == 0 || r.queue[0] != id {
		return
	}
	e.used = 0
	copy(r.queue, r.queue[1:])
	r.queue[len(r.queue)-1] = id
}
