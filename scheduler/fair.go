package scheduler

import (
	"fmt"
	"time"
)

// passScale is the virtual-time units one nanosecond of service is worth at
// weight 1. It is lcm(1..16), so the GVT-g weight range divides it exactly;
// other weights carry their remainder (see wfEntry.rem), so no service is
// ever lost to rounding.
const passScale = 720720

// maxCharge bounds one Charge so that ran × passScale fits in an int64
// (about 1.78 hours); a longer charge is clamped to it.
const maxCharge = time.Duration(1<<62) / passScale

// renormalizeAt is the virtual time at which all passes are shifted down,
// so that virtual time never overflows however long the device runs.
const renormalizeAt = int64(1) << 61

// WeightedFair is a stride scheduler (Waldspurger's stride scheduling,
// equivalently start-time fair queueing with one quantum per request): each
// vcoproc has a pass, its service divided by its weight (Params.Weight, 0
// meaning 1); the runnable vcoproc with the smallest pass runs for one
// quantum, ties broken by the lower ID. A vcoproc that wakes starts at the
// smallest pass among the runnable ones (the system virtual time), so it can
// neither bank service while idle nor be punished for having been idle.
// Overruns are charged, so they are paid back.
//
// Guarantee. Let q' = quantum + MaxNonPreemptible, the most one Charge adds.
// At every decision, for any two runnable vcoprocs i and j,
//
//	−q'/w_j ≤ S_i/w_i − S_j/w_j ≤ q'/w_i
//
// where S is the service received since both were last woken; so the
// normalized service of two continuously busy vcoprocs differs by at most
// one quantum of the lighter one's weight, |S_i/w_i − S_j/w_j| ≤
// q'/min(w_i, w_j), and over any interval in which both stay busy by at most
// q'/w_i + q'/w_j (the SFQ fairness bound). It is work-conserving: it idles
// only when nothing is runnable. Pick is O(1), Charge, Wake and Block are
// O(log n) in the number of runnable vcoprocs.
type WeightedFair struct {
	name    string
	quantum time.Duration
	costs   Costs
	equal   bool // ignore weights: the equal-share policy
	known   map[ID]*wfEntry
	ready   indexedHeap[wfEntry]
	// vtime is the system virtual time: the smallest pass among the
	// runnable vcoprocs, or the last one seen when none is runnable.
	vtime int64
}

type wfEntry struct {
	id       ID
	params   Params
	weight   int64
	pass     int64
	rem      int64 // service × passScale not yet turned into pass
	runnable bool
	hidx     int
}

// NewWeightedFair returns a weighted fair-share policy with the given
// quantum (the slice each decision grants).
func NewWeightedFair(quantum time.Duration, costs Costs) (*WeightedFair, error) {
	return newWeightedFair("wfair", quantum, costs, false)
}

// NewEqualShare returns the equal-share policy: WeightedFair with every
// weight taken as 1, so the busy vcoprocs split the device evenly and an
// idle one's share goes to the others (work-conserving). Its guarantee is
// WeightedFair's with w = 1: |S_i − S_j| ≤ quantum + MaxNonPreemptible.
// NVIDIA's equal share, which keeps an idle VM's slot, is NVIDIAShare.
func NewEqualShare(quantum time.Duration, costs Costs) (*WeightedFair, error) {
	return newWeightedFair("equal-share", quantum, costs, true)
}

func newWeightedFair(name string, quantum time.Duration, costs Costs, equal bool) (*WeightedFair, error) {
	if quantum <= 0 {
		return nil, fmt.Errorf("scheduler: %s: quantum %v must be positive", name, quantum)
	}
	w := &WeightedFair{name: name, quantum: quantum, costs: costs, equal: equal, known: map[ID]*wfEntry{}}
	w.ready = newIndexedHeap(func(a, b *wfEntry) bool {
		return a.pass < b.pass || (a.pass == b.pass && a.id < b.id)
	}, func(e *wfEntry) *int { return &e.hidx })
	return w, nil
}

// Name implements Policy.
func (w *WeightedFair) Name() string { return w.name }

// Quantum is the slice each decision grants.
func (w *WeightedFair) Quantum() time.Duration { return w.quantum }

func (w *WeightedFair) weightOf(p Params) int64 {
	if w.equal || p.Weight == 0 {
		return 1
	}
	return int64(p.Weight)
}

// Admit implements Policy. Every weight is admissible: fair share promises
// proportions, not amounts.
func (w *WeightedFair) Admit(id ID, p Params, now time.Duration) error {
	if _, ok := w.known[id]; ok {
		return &DuplicateError{Policy: w.name, ID: id}
	}
	w.known[id] = &wfEntry{id: id, params: p, weight: w.weightOf(p), pass: w.vtime, hidx: -1}
	return nil
}

// Update implements Policy: the new weight applies to service from now on.
func (w *WeightedFair) Update(id ID, p Params, now time.Duration) error {
	e, ok := w.known[id]
	if !ok {
		return &UnknownError{ID: id}
	}
	e.params = p
	if nw := w.weightOf(p); nw != e.weight {
		e.weight = nw
		e.rem = 0
	}
	return nil
}

// Remove implements Policy.
func (w *WeightedFair) Remove(id ID, now time.Duration) {
	w.Block(id, now)
	delete(w.known, id)
}

// Wake implements Policy.
func (w *WeightedFair) Wake(id ID, now time.Duration) {
	e, ok := w.known[id]
	if !ok || e.runnable {
		return
	}
	e.runnable = true
	if top := w.ready.top(); top != nil {
		w.vtime = top.pass
	}
	if e.pass < w.vtime {
		e.pass, e.rem = w.vtime, 0
	}
	w.ready.push(e)
}

// Block implements Policy.
func (w *WeightedFair) Block(id ID, now time.Duration) {
	e, ok := w.known[id]
	if !ok || !e.runnable {
		return
	}
	e.runnable = false
	w.ready.remove(e)
	if top := w.ready.top(); top != nil {
		w.vtime = top.pass
	}
}

// Pick implements Policy.
func (w *WeightedFair) Pick(now time.Duration) Decision {
	top := w.ready.top()
	if top == nil {
		return Decision{Idle: true}
	}
	return Decision{ID: top.id, Slice: w.quantum}
}

// Charge implements Policy.
func (w *WeightedFair) Charge(id ID, ran time.Duration, now time.Duration) {
	e, ok := w.known[id]
	if !ok || ran <= 0 {
		return
	}
	ran = min(ran, maxCharge)
	units := int64(ran)*passScale + e.rem
	e.pass += units / e.weight
	e.rem = units % e.weight
	w.ready.fix(e)
	if top := w.ready.top(); top != nil {
		w.vtime = top.pass
	} else if e.pass > w.vtime {
		w.vtime = e.pass
	}
	if w.vtime >= renormalizeAt {
		w.renormalize()
	}
}

// renormalize shifts every pass down by the system virtual time. Passes
// below it become 0, which changes nothing: a waking vcoproc is raised to
// the virtual time anyway. Order among runnable vcoprocs is preserved.
func (w *WeightedFair) renormalize() {
	base := w.vtime
	for _, e := range w.known {
		e.pass = max(e.pass-base, 0)
	}
	w.vtime = 0
}

// Entities implements Enumerable.
func (w *WeightedFair) Entities() []Entity {
	return sortedEntities(w.known, func(id ID, e *wfEntry) Entity {
		return Entity{ID: id, Params: e.params, Runnable: e.runnable}
	})
}
