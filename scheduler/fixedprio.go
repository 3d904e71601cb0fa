package scheduler

import (
	"fmt"
	"slices"
	"time"
)

// FixedPriority is preemptive fixed-priority scheduling with budget
// enforcement. The runnable vcoproc with the highest Params.Priority runs
// (ties: lower ID first). A vcoproc with a reservation (Budget Q, Period T,
// Deadline D ≤ T) is a deferrable server: its budget is reset to Q at the
// start of every period (periods counted from its admission) and it is
// throttled when the budget is spent, so it can never take more than Q per
// period from the vcoprocs below it; an overrun is paid back from the next
// budget. A vcoproc without a reservation runs unthrottled, one quantum at a
// time, and is only allowed below every reserved vcoproc (otherwise it
// could starve them, and admission says so).
//
// Guarantee. Admission runs response-time analysis for every reserved
// vcoproc i, with B = MaxNonPreemptible and C = SwitchCost:
//
//	R_i = B + (Q_i + 2C) + Σ_{j≠i, P_j ≥ P_i} ⌈(R_i + T_j − Q_j)/T_j⌉ · (Q_j + 2C)
//
// (a deferrable server interferes like a task with release jitter T − Q),
// and refuses the set unless R_i ≤ D_i for all. Then a reserved vcoproc
// that is runnable from the start of a period receives its budget Q_i within
// D_i of that start, whatever the others do, provided the driver re-Picks at
// the next preemption point when a vcoproc wakes. Pick is O(1) amortized;
// Charge, Wake, Block are O(log n); admission is O(n²) per fixed-point
// iteration.
type FixedPriority struct {
	cfg       ReservationConfig
	known     map[ID]*fpEntry
	ready     indexedHeap[fpEntry] // runnable, not throttled, by priority
	throttled indexedHeap[fpEntry] // budget spent, by next release
}

type fpEntry struct {
	id          ID
	params      Params
	reserved    bool
	res         reservation
	budget      time.Duration
	nextRelease time.Duration // start of the next period
	runnable    bool
	hidx        int
}

// NewFixedPriority returns a fixed-priority preemptive policy.
func NewFixedPriority(cfg ReservationConfig) *FixedPriority {
	if cfg.Quantum <= 0 {
		cfg.Quantum = DefaultSlice
	}
	f := &FixedPriority{cfg: cfg, known: map[ID]*fpEntry{}}
	idx := func(x *fpEntry) *int { return &x.hidx }
	f.ready = newIndexedHeap(func(a, b *fpEntry) bool {
		pa, pb := a.params.Priority, b.params.Priority
		return pa > pb || (pa == pb && a.id < b.id)
	}, idx)
	f.throttled = newIndexedHeap(func(a, b *fpEntry) bool {
		return a.nextRelease < b.nextRelease || (a.nextRelease == b.nextRelease && a.id < b.id)
	}, idx)
	return f
}

// Name implements Policy.
func (f *FixedPriority) Name() string { return "fixed-priority" }

type rtaTask struct {
	id       ID
	prio     int
	reserved bool
	res      reservation
}

// ResponseTimes runs the admission analysis over the admitted set and
// returns each reserved vcoproc's worst-case response time (for tests and
// operators); ok is false where it exceeds the deadline.
func (f *FixedPriority) ResponseTimes() map[ID]time.Duration {
	out := map[ID]time.Duration{}
	tasks := f.tasks(0, nil)
	for _, t := range tasks {
		if t.reserved {
			r, _ := f.response(t, tasks)
			out[t.id] = r
		}
	}
	return out
}

func (f *FixedPriority) tasks(replace ID, with *rtaTask) []rtaTask {
	var ts []rtaTask
	for id, e := range f.known {
		if (with != nil && id == replace) || !e.reserved {
			continue
		}
		ts = append(ts, rtaTask{id: id, prio: e.params.Priority, reserved: e.reserved, res: e.res})
	}
	if with != nil {
		ts = append(ts, *with)
	}
	slices.SortFunc(ts, func(a, b rtaTask) int {
		if a.id < b.id {
			return -1
		}
		if a.id > b.id {
			return 1
		}
		return 0
	})
	return ts
}

// response is the fixed-point iteration of the response-time analysis; it
// stops as soon as the deadline is passed.
func (f *FixedPriority) response(t rtaTask, tasks []rtaTask) (time.Duration, bool) {
	c := f.cfg.Costs.SwitchCost
	r := f.cfg.Costs.MaxNonPreemptible + t.res.budget + 2*c
	for {
		next := f.cfg.Costs.MaxNonPreemptible + t.res.budget + 2*c
		for _, o := range tasks {
			if o.id == t.id || o.prio < t.prio || !o.reserved {
				continue
			}
			jitter := o.res.period - o.res.budget
			n := (r + jitter + o.res.period - 1) / o.res.period
			next += n * (o.res.budget + 2*c)
		}
		if next > t.res.deadline {
			return next, false
		}
		if next == r {
			return r, true
		}
		r = next
	}
}

// check runs admission with cand replacing (or joining as) its ID. The
// ordering rule (no unbudgeted vcoproc at or above a reservation) is one
// O(n) pass; the response-time analysis runs only when cand is reserved,
// since unbudgeted vcoprocs below every reservation do not enter it.
func (f *FixedPriority) check(cand rtaTask) error {
	var lowRes, highFree *rtaTask // lowest reservation, highest unbudgeted
	consider := func(t rtaTask) {
		if t.reserved {
			if lowRes == nil || t.prio < lowRes.prio || (t.prio == lowRes.prio && t.id < lowRes.id) {
				lowRes = &t
			}
		} else if highFree == nil || t.prio > highFree.prio || (t.prio == highFree.prio && t.id < highFree.id) {
			highFree = &t
		}
	}
	for id, e := range f.known {
		if id != cand.id {
			consider(rtaTask{id: id, prio: e.params.Priority, reserved: e.reserved})
		}
	}
	consider(cand)
	if lowRes != nil && highFree != nil && highFree.prio >= lowRes.prio {
		return &AdmissionError{Policy: f.Name(), Device: f.cfg.Label, ID: cand.id,
			Demand: float64(highFree.prio), Available: float64(lowRes.prio),
			Detail: fmt.Sprintf("vcoproc %d (priority %d) has no budget and would starve reserved vcoproc %d (priority %d); unbudgeted vcoprocs must rank below every reservation",
				highFree.id, highFree.prio, lowRes.id, lowRes.prio)}
	}
	if !cand.reserved {
		return nil
	}
	tasks := f.tasks(cand.id, &cand)
	for _, t := range tasks {
		if !t.reserved {
			continue
		}
		if r, ok := f.response(t, tasks); !ok {
			return &AdmissionError{Policy: f.Name(), Device: f.cfg.Label, ID: cand.id,
				Demand: r.Seconds(), Available: t.res.deadline.Seconds(),
				Detail: fmt.Sprintf("response time of vcoproc %d (priority %d) %v > deadline %v (blocking %v, switch cost %v)",
					t.id, t.prio, r, t.res.deadline, f.cfg.Costs.MaxNonPreemptible, f.cfg.Costs.SwitchCost)}
		}
	}
	return nil
}

func (f *FixedPriority) candidate(id ID, p Params) (rtaTask, error) {
	t := rtaTask{id: id, prio: p.Priority}
	if p.Budget == 0 && p.Period == 0 && p.Deadline == 0 {
		return t, nil
	}
	r, err := parseReservation(f.Name(), id, p)
	if err != nil {
		return t, err
	}
	t.reserved, t.res = true, r
	return t, nil
}

// Admit implements Policy.
func (f *FixedPriority) Admit(id ID, p Params, now time.Duration) error {
	if _, ok := f.known[id]; ok {
		return &DuplicateError{Policy: f.Name(), ID: id}
	}
	t, err := f.candidate(id, p)
	if err != nil {
		return err
	}
	if err := f.check(t); err != nil {
		return err
	}
	f.known[id] = &fpEntry{id: id, params: p, reserved: t.reserved, res: t.res,
		budget: t.res.budget, nextRelease: now + t.res.period, hidx: -1}
	return nil
}

// Update implements Policy; a new budget applies from the next period.
func (f *FixedPriority) Update(id ID, p Params, now time.Duration) error {
	e, ok := f.known[id]
	if !ok {
		return &UnknownError{ID: id}
	}
	t, err := f.candidate(id, p)
	if err != nil {
		return err
	}
	if err := f.check(t); err != nil {
		return err
	}
	f.ready.remove(e)
	if t.reserved && !e.reserved { // a fresh reservation starts now
		e.budget, e.nextRelease = t.res.budget, now+t.res.period
	}
	e.params, e.reserved, e.res = p, t.reserved, t.res
	e.budget = min(e.budget, e.res.budget)
	if !e.reserved {
		f.throttled.remove(e)
	}
	if e.runnable && !f.throttled.contains(e) {
		f.ready.push(e)
	}
	return nil
}

// Remove implements Policy.
func (f *FixedPriority) Remove(id ID, now time.Duration) {
	e, ok := f.known[id]
	if !ok {
		return
	}
	f.ready.remove(e)
	f.throttled.remove(e)
	delete(f.known, id)
}

// Wake implements Policy.
func (f *FixedPriority) Wake(id ID, now time.Duration) {
	e, ok := f.known[id]
	if !ok || e.runnable {
		return
	}
	e.runnable = true
	if !f.throttled.contains(e) {
		f.ready.push(e)
	}
}

// Block implements Policy.
func (f *FixedPriority) Block(id ID, now time.Duration) {
	e, ok := f.known[id]
	if !ok || !e.runnable {
		return
	}
	e.runnable = false
	f.ready.remove(e)
}

// refresh starts the period now lies in, resetting the budget (a
// deferrable server does not keep unused budget; it does pay back debt).
func (f *FixedPriority) refresh(e *fpEntry, now time.Duration) {
	if !e.reserved || now < e.nextRelease {
		return
	}
	periods := 1 + (now-e.nextRelease)/e.res.period
	e.nextRelease += periods * e.res.period
	e.budget = min(e.budget, 0) + e.res.budget
}

// Pick implements Policy.
func (f *FixedPriority) Pick(now time.Duration) Decision {
	for {
		t := f.throttled.top()
		if t == nil || t.nextRelease > now {
			break
		}
		f.throttled.pop()
		f.refresh(t, now)
		if t.budget <= 0 {
			f.throttled.push(t)
			continue
		}
		if t.runnable {
			f.ready.push(t)
		}
	}
	e := f.ready.top()
	for e != nil {
		f.refresh(e, now)
		if !e.reserved || e.budget > 0 {
			break
		}
		f.ready.remove(e) // in debt beyond a whole budget: wait a period
		f.throttled.push(e)
		e = f.ready.top()
	}
	if e == nil {
		if t := f.throttled.top(); t != nil {
			return Decision{Idle: true, Until: t.nextRelease}
		}
		return Decision{Idle: true}
	}
	slice := f.cfg.Quantum
	if e.reserved {
		slice = min(e.budget, e.nextRelease-now)
	}
	if t := f.throttled.top(); t != nil && t.nextRelease-now < slice {
		slice = t.nextRelease - now
	}
	return Decision{ID: e.id, Slice: slice}
}

// Charge implements Policy.
func (f *FixedPriority) Charge(id ID, ran time.Duration, now time.Duration) {
	e, ok := f.known[id]
	if !ok || ran <= 0 || !e.reserved {
		return
	}
	e.budget -= ran
	f.refresh(e, now)
	if e.budget <= 0 && !f.throttled.contains(e) {
		f.ready.remove(e)
		f.throttled.push(e)
	}
}

// Entities implements Enumerable.
func (f *FixedPriority) Entities() []Entity {
	return sortedEntities(f.known, func(id ID, e *fpEntry) Entity {
		return Entity{ID: id, Params: e.params, Runnable: e.runnable}
	})
}
