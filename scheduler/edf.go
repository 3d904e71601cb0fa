package scheduler

import (
	"fmt"
	"time"
)

// ReservationConfig configures the real-time policies (EDF, fixed priority).
type ReservationConfig struct {
	// Costs are the device's switch cost and longest non-preemptible
	// segment; admission control accounts both.
	Costs Costs
	// Label names the device in admission errors ("gpu0").
	Label string
	// Quantum is the slice given to a vcoproc without a budget (fixed
	// priority only); 0 means DefaultSlice.
	Quantum time.Duration
}

// EDF schedules constant-bandwidth servers (Abeni & Buttazzo's CBS, with
// hard reservations) by earliest deadline first. Each vcoproc must carry a
// reservation: budget Q every period T, with relative deadline D ≤ T
// (Params.Budget, Period, Deadline; D = 0 means T).
//
// A server has a remaining budget c and a scheduling deadline d. When it
// wakes at t with c ≥ (d − t)·Q/D (or t ≥ d), it gets c = Q and d = t + D,
// its next replenishment at t + T; otherwise it keeps both (CBS's wake rule,
// which stops a server from gaining bandwidth by blocking and waking). The
// runnable server with the earliest d runs, for at most c. When c is spent
// it is throttled until its replenishment, which adds Q (less any overrun,
// which is paid back) and moves d one period on. A server therefore never
// receives more than Q in any window of length T plus one overrun, however
// much work it has: an overrunning vcoproc is throttled to Q/T.
//
// Guarantee. Admission requires
//
//	Σ Q_i/D_i  ≤  1 − Σ 2·SwitchCost/D_i − MaxNonPreemptible/min D_i
//
// (utilization against what is left after two switches per server period
// and one blocking segment). Under it every server receives its budget Q
// before each of its scheduling deadlines while it stays runnable, whatever
// the other servers do, provided the driver re-Picks at the next preemption
// point when a vcoproc wakes (the blocking term covers exactly one
// non-preemptible segment). Pick is O(1) amortized, with O(log n) per
// replenishment; Charge, Wake and Block are O(log n).
type EDF struct {
	cfg   ReservationConfig
	known map[ID]*edfEntry
	// ready holds runnable servers with budget, by deadline.
	ready indexedHeap[edfEntry]
	// throttled holds servers whose budget is spent, by replenishment.
	throttled indexedHeap[edfEntry]
	// density and overhead are the admitted sums Σ Q/D and Σ 2C/D, minD
	// the shortest admitted deadline: Admit tests in O(1).
	density, overhead float64
	minD              time.Duration
}

type edfEntry struct {
	id        ID
	params    Params
	res       reservation
	budget    time.Duration // remaining; negative after an overrun
	deadline  time.Duration // absolute scheduling deadline
	replenish time.Duration // when a throttled server gets Q again
	runnable  bool
	hidx      int // in ready or throttled, never both
}

// NewEDF returns an EDF policy over constant-bandwidth servers.
func NewEDF(cfg ReservationConfig) *EDF {
	e := &EDF{cfg: cfg, known: map[ID]*edfEntry{}}
	idx := func(x *edfEntry) *int { return &x.hidx }
	e.ready = newIndexedHeap(func(a, b *edfEntry) bool {
		return a.deadline < b.deadline || (a.deadline == b.deadline && a.id < b.id)
	}, idx)
	e.throttled = newIndexedHeap(func(a, b *edfEntry) bool {
		return a.replenish < b.replenish || (a.replenish == b.replenish && a.id < b.id)
	}, idx)
	return e
}

// Name implements Policy.
func (e *EDF) Name() string { return "edf" }

// Available is the utilization the admission test allows with the given
// servers admitted: one less switch overhead and blocking.
func (e *EDF) available(overhead float64, minDeadline time.Duration) (avail, blocking float64) {
	if minDeadline > 0 {
		blocking = float64(e.cfg.Costs.MaxNonPreemptible) / float64(minDeadline)
	}
	return 1 - overhead - blocking, blocking
}

// Utilization is Σ Q/D over the admitted servers.
func (e *EDF) Utilization() float64 { return e.density }

// check runs the admission test with r replacing (or joining as) id. It
// returns the new sums.
func (e *EDF) check(id ID, r reservation) (density, overhead float64, minD time.Duration, err error) {
	sw := 2 * float64(e.cfg.Costs.SwitchCost)
	density, overhead, minD = e.density, e.overhead, e.minD
	if _, ok := e.known[id]; ok { // an update: recompute without it
		density, overhead, minD = 0, 0, 0
		for oid, o := range e.known {
			if oid != id {
				density += o.res.density()
				overhead += sw / float64(o.res.deadline)
				if minD == 0 || o.res.deadline < minD {
					minD = o.res.deadline
				}
			}
		}
	}
	density += r.density()
	overhead += sw / float64(r.deadline)
	if minD == 0 || r.deadline < minD {
		minD = r.deadline
	}
	avail, blocking := e.available(overhead, minD)
	if density > avail+admissionSlack {
		return 0, 0, 0, &AdmissionError{Policy: e.Name(), Device: e.cfg.Label, ID: id, Demand: density, Available: avail,
			Detail: fmt.Sprintf("utilization %.4g > %.4g available after switch overhead (%.4g) and blocking (%.4g)",
				density, avail, overhead, blocking)}
	}
	return density, overhead, minD, nil
}

// Admit implements Policy: the vcoproc must carry a reservation, and the
// set with it must pass the admission test.
func (e *EDF) Admit(id ID, p Params, now time.Duration) error {
	if _, ok := e.known[id]; ok {
		return &DuplicateError{Policy: e.Name(), ID: id}
	}
	r, err := parseReservation(e.Name(), id, p)
	if err != nil {
		return err
	}
	d, o, m, err := e.check(id, r)
	if err != nil {
		return err
	}
	e.density, e.overhead, e.minD = d, o, m
	// Born spent-and-due: the first wake takes the CBS rule's fresh branch.
	e.known[id] = &edfEntry{id: id, params: p, res: r, deadline: now, replenish: now, hidx: -1}
	return nil
}

// Update implements Policy: the new reservation must pass admission; it
// takes effect at the server's next replenishment or fresh wake.
func (e *EDF) Update(id ID, p Params, now time.Duration) error {
	x, ok := e.known[id]
	if !ok {
		return &UnknownError{ID: id}
	}
	r, err := parseReservation(e.Name(), id, p)
	if err != nil {
		return err
	}
	d, o, m, err := e.check(id, r)
	if err != nil {
		return err
	}
	e.density, e.overhead, e.minD = d, o, m
	x.params, x.res = p, r
	x.budget = min(x.budget, r.budget)
	return nil
}

// Remove implements Policy.
func (e *EDF) Remove(id ID, now time.Duration) {
	x, ok := e.known[id]
	if !ok {
		return
	}
	e.ready.remove(x)
	e.throttled.remove(x)
	delete(e.known, id)
	e.density, e.overhead, e.minD = 0, 0, 0
	for _, o := range e.known {
		e.density += o.res.density()
		e.overhead += 2 * float64(e.cfg.Costs.SwitchCost) / float64(o.res.deadline)
		if e.minD == 0 || o.res.deadline < e.minD {
			e.minD = o.res.deadline
		}
	}
}

// Wake implements Policy, with CBS's wake rule.
func (e *EDF) Wake(id ID, now time.Duration) {
	x, ok := e.known[id]
	if !ok || x.runnable {
		return
	}
	x.runnable = true
	if e.throttled.contains(x) {
		return // its replenishment will make it ready
	}
	// c ≥ (d − now)·Q/D  ⇔  c·D ≥ (d − now)·Q: the remaining budget would
	// overrun the server's bandwidth before d, so start afresh.
	if now >= x.deadline || x.budget <= 0 || !mulLess(int64(x.budget), int64(x.res.deadline), int64(x.deadline-now), int64(x.res.budget)) {
		x.budget = x.res.budget
		x.deadline = now + x.res.deadline
		x.replenish = now + x.res.period
	}
	e.ready.push(x)
}

// Block implements Policy. A throttled server stays throttled.
func (e *EDF) Block(id ID, now time.Duration) {
	x, ok := e.known[id]
	if !ok || !x.runnable {
		return
	}
	x.runnable = false
	e.ready.remove(x)
}

// replenishDue moves every server whose replenishment has come out of the
// throttled heap.
func (e *EDF) replenishDue(now time.Duration) {
	for {
		x := e.throttled.top()
		if x == nil || x.replenish > now {
			return
		}
		e.throttled.pop()
		// Pay back the overrun; skip whole periods that passed unused.
		periods := 1 + int64((now-x.replenish)/x.res.period)
		start := x.replenish + time.Duration(periods-1)*x.res.period
		x.budget = min(x.budget+x.res.budget, x.res.budget)
		x.deadline = start + x.res.deadline
		x.replenish = start + x.res.period
		if x.budget <= 0 { // an overrun larger than a budget: another period
			e.throttled.push(x)
			continue
		}
		if x.runnable {
			e.ready.push(x)
		}
	}
}

// Pick implements Policy: the earliest deadline runs for at most its
// remaining budget, and not past the next replenishment (which may bring an
// earlier deadline).
func (e *EDF) Pick(now time.Duration) Decision {
	e.replenishDue(now)
	x := e.ready.top()
	if x == nil {
		if t := e.throttled.top(); t != nil {
			return Decision{Idle: true, Until: t.replenish}
		}
		return Decision{Idle: true}
	}
	slice := x.budget
	if t := e.throttled.top(); t != nil && t.replenish-now < slice {
		slice = t.replenish - now
	}
	return Decision{ID: x.id, Slice: slice}
}

// Charge implements Policy: a server whose budget is spent is throttled.
func (e *EDF) Charge(id ID, ran time.Duration, now time.Duration) {
	x, ok := e.known[id]
	if !ok || ran <= 0 {
		return
	}
	x.budget -= ran
	if x.budget <= 0 && !e.throttled.contains(x) {
		e.ready.remove(x)
		if x.replenish < now && x.budget+x.res.budget > 0 {
			// Its period ended while it ran (a slice cut at
			// replenishment, then an overrun): replenish at once.
			x.replenish = now
		}
		e.throttled.push(x)
	}
}

// Entities implements Enumerable.
func (e *EDF) Entities() []Entity {
	return sortedEntities(e.known, func(id ID, x *edfEntry) Entity {
		return Entity{ID: id, Params: x.params, Runnable: x.runnable}
	})
}

// Reserved reports whether p asks for a reservation, the test the
// hierarchical policy routes by.
func Reserved(p Params) bool { return p.Budget > 0 || p.Period > 0 || p.Share > 0 }
