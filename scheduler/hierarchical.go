package scheduler

import (
	"fmt"
	"slices"
	"time"
)

// Hierarchical composes two policies: reservations first, best effort in
// what they leave. A vcoproc whose Params ask for a reservation (Budget,
// Period or Share set; see Reserved) is admitted to the reserving policy
// (EDF, FixedPriority, FixedShare, ARINC653), every other one to the
// best-effort policy (WeightedFair, RoundRobin, ...). Pick asks the
// reserving policy first; only when it is idle does the best-effort policy
// run, and then never past the instant the reserving policy asked to be
// consulted again (its Until), so a replenished budget or an opening window
// is served on time.
//
// Guarantee. The reserving policy's guarantee holds unchanged, with the
// best-effort vcoprocs counted in its blocking term (one non-preemptible
// segment, which every reserving policy here already assumes); the
// best-effort policy's guarantee holds among its own vcoprocs over the time
// the reservations leave. The composition is work-conserving exactly when
// the best-effort policy is. Costs are those of the two policies.
type Hierarchical struct {
	reserved, bestEffort Policy
	inReserved           map[ID]bool
}

// NewHierarchical composes reserved (served first) and bestEffort.
func NewHierarchical(reserved, bestEffort Policy) (*Hierarchical, error) {
	if reserved == nil || bestEffort == nil {
		return nil, fmt.Errorf("scheduler: hierarchical: both a reserving and a best-effort policy are needed")
	}
	return &Hierarchical{reserved: reserved, bestEffort: bestEffort, inReserved: map[ID]bool{}}, nil
}

// Name implements Policy.
func (h *Hierarchical) Name() string {
	return "hier(" + h.reserved.Name() + "," + h.bestEffort.Name() + ")"
}

func (h *Hierarchical) route(id ID) (Policy, bool) {
	r, ok := h.inReserved[id]
	if !ok {
		return nil, false
	}
	if r {
		return h.reserved, true
	}
	return h.bestEffort, true
}

// Admit implements Policy.
func (h *Hierarchical) Admit(id ID, p Params, now time.Duration) error {
	if _, ok := h.inReserved[id]; ok {
		return &DuplicateError{Policy: h.Name(), ID: id}
	}
	r := Reserved(p)
	target := h.bestEffort
	if r {
		target = h.reserved
	}
	if err := target.Admit(id, p, now); err != nil {
		return err
	}
	h.inReserved[id] = r
	return nil
}

// Update implements Policy. A vcoproc that gains or loses a reservation
// moves between the two policies; if the new side refuses it, it stays
// where it was.
func (h *Hierarchical) Update(id ID, p Params, now time.Duration) error {
	was, ok := h.inReserved[id]
	if !ok {
		return &UnknownError{ID: id}
	}
	from, _ := h.route(id)
	is := Reserved(p)
	if is == was {
		return from.Update(id, p, now)
	}
	to := h.bestEffort
	if is {
		to = h.reserved
	}
	if err := to.Admit(id, p, now); err != nil {
		return err
	}
	runnable := false
	if en, ok := from.(Enumerable); ok {
		for _, e := range en.Entities() {
			if e.ID == id {
				runnable = e.Runnable
			}
		}
	}
	from.Remove(id, now)
	h.inReserved[id] = is
	if runnable {
		to.Wake(id, now)
	}
	return nil
}

// Remove implements Policy.
func (h *Hierarchical) Remove(id ID, now time.Duration) {
	if p, ok := h.route(id); ok {
		p.Remove(id, now)
		delete(h.inReserved, id)
	}
}

// Wake implements Policy.
func (h *Hierarchical) Wake(id ID, now time.Duration) {
	if p, ok := h.route(id); ok {
		p.Wake(id, now)
	}
}

// Block implements Policy.
func (h *Hierarchical) Block(id ID, now time.Duration) {
	if p, ok := h.route(id); ok {
		p.Block(id, now)
	}
}

// Pick implements Policy.
func (h *Hierarchical) Pick(now time.Duration) Decision {
	d := h.reserved.Pick(now)
	if !d.Idle {
		return d
	}
	be := h.bestEffort.Pick(now)
	if be.Idle {
		if d.Until != 0 && (be.Until == 0 || d.Until < be.Until) {
			return d
		}
		return be
	}
	if d.Until > now && d.Until-now < be.Slice {
		be.Slice = d.Until - now
	}
	return be
}

// Charge implements Policy.
func (h *Hierarchical) Charge(id ID, ran time.Duration, now time.Duration) {
	if p, ok := h.route(id); ok {
		p.Charge(id, ran, now)
	}
}

// Entities implements Enumerable (both sides, in ID order).
func (h *Hierarchical) Entities() []Entity {
	var out []Entity
	for _, p := range []Policy{h.reserved, h.bestEffort} {
		if en, ok := p.(Enumerable); ok {
			out = append(out, en.Entities()...)
		}
	}
	slices.SortFunc(out, func(a, b Entity) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}
