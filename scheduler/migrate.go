package scheduler

import (
	"fmt"
	"slices"
	"time"
)

// Entity is what a policy knows about one admitted vcoproc that another
// policy needs to take it over: its ID, its parameters and whether it is
// runnable.
type Entity struct {
	ID       ID
	Params   Params
	Runnable bool
}

// Enumerable is implemented by every policy in this package: it lists the
// admitted vcoprocs in ascending ID order, so that a hand-over is
// deterministic.
type Enumerable interface {
	Entities() []Entity
}

// Migrate hands every vcoproc admitted to from over to to, a fresh policy,
// at instant now: each is admitted with its parameters (in ID order) and the
// runnable ones are woken. It is how a running device changes its algorithm
// (Xen SCF's requirement): the caller then replaces from with to.
//
// Accounting history (service received, budgets, virtual times) does not
// cross over: to starts every vcoproc afresh at now, which is what an
// algorithm change means, and to's admission control decides anew. If to
// refuses any vcoproc, Migrate removes those it had admitted and returns the
// refusal: from is never modified, so the device keeps running under it.
func Migrate(from, to Policy, now time.Duration) error {
	enum, ok := from.(Enumerable)
	if !ok {
		return fmt.Errorf("scheduler: migrate %s → %s: %s cannot list its vcoprocs", from.Name(), to.Name(), from.Name())
	}
	if known, ok := to.(Enumerable); ok && len(known.Entities()) != 0 {
		return fmt.Errorf("scheduler: migrate %s → %s: the target already has %d vcoprocs", from.Name(), to.Name(), len(known.Entities()))
	}
	ents := enum.Entities()
	slices.SortFunc(ents, func(a, b Entity) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for i, e := range ents {
		if err := to.Admit(e.ID, e.Params, now); err != nil {
			for _, done := range ents[:i] {
				to.Remove(done.ID, now)
			}
			return fmt.Errorf("scheduler: migrate %s → %s: %w", from.Name(), to.Name(), err)
		}
	}
	for _, e := range ents {
		if e.Runnable {
			to.Wake(e.ID, now)
		}
	}
	return nil
}

// sortedEntities collects entities from a map in ID order.
func sortedEntities[E any](known map[ID]E, get func(ID, E) Entity) []Entity {
	out := make([]Entity, 0, len(known))
	for id, e := range known {
		out = append(out, get(id, e))
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
