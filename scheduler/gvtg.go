package scheduler

import (
	"fmt"
	"time"
)

// The constants of GVT-g's time-based scheduler (Linux,
// drivers/gpu/drm/i915/gvt/sched_policy.c).
const (
	GVTgTick          = time.Millisecond       // GVT_DEFAULT_TIME_SLICE: the scheduling timer
	GVTgBalancePeriod = 100 * time.Millisecond // GVT_TS_BALANCE_PERIOD_MS
	GVTgBalanceStages = 10                     // GVT_TS_BALANCE_STAGE_NUM
	GVTgMaxWeight     = 16
)

// GVTg replicates Intel GVT-g's weighted time-based scheduler ("tbs"), for
// comparison in the harness; it is a replica, not a policy with a
// guarantee of ours. What it does, as the kernel does:
//
//   - A timer fires every 1 ms tick, from one tick after the first vGPU is
//     admitted. A decision is taken only at a tick: the vGPU chosen runs
//     until the next tick (its time slice is checked only at switches, so
//     it may overspend within the tick), and if it runs out of work the
//     device idles until the next tick. A vGPU that became runnable during
//     a tick is first considered at the next one.
//   - Every 100 ticks (100 ms) the time slices are balanced, in a cycle of
//     10 stages: at stage 0 each admitted vGPU (busy or not) is allotted
//     100 ms × weight / Σ weights, replacing whatever it had left (debt
//     forgiven, credit lost); at stages 1–9 the allotment is added to what
//     is left, so debt and credit carry within the second.
//   - At a tick the first vGPU in LRU order that is runnable and has time
//     slice left is chosen and moved to the tail of the LRU list. When none
//     qualifies the idle vGPU runs: the device stays idle even if a vGPU
//     with spent time slice has work (not work-conserving).
//   - A vGPU admitted mid-second has no time slice until the next stage 0:
//     it waits up to a second. The kernel does this too.
//
// Weights are 1–16 (Params.Weight; 0 means 1). Costs are not accounted.
type GVTg struct {
	known   map[ID]*gvtEntry
	lru     []ID
	started bool
	origin  time.Duration // the first tick
	// nextBalance is the instant of the next balance; stage counts them.
	nextBalance time.Duration
	stage       uint64
	// decidedTick is the tick of the last decision, current its choice
	// (hasCurrent false when it chose the idle vGPU).
	decidedTick int64
	decided     bool
	current     ID
	hasCurrent  bool
}

type gvtEntry struct {
	params          Params
	weight          int64
	left, allocated time.Duration
	runnable        bool
	wokeAt          time.Duration
}

// NewGVTg returns the GVT-g replica.
func NewGVTg() *GVTg { return &GVTg{known: map[ID]*gvtEntry{}} }

// Name implements Policy.
func (g *GVTg) Name() string { return "gvt-g" }

func gvtWeight(id ID, p Params) (int64, error) {
	w := int64(p.Weight)
	if w == 0 {
		w = 1
	}
	if w > GVTgMaxWeight {
		return 0, &ParamError{Policy: "gvt-g", ID: id, Detail: fmt.Sprintf("weight %d is outside GVT-g's 1–%d", w, GVTgMaxWeight)}
	}
	return w, nil
}

// Admit implements Policy (tbs_sched_init_vgpu + start_schedule).
func (g *GVTg) Admit(id ID, p Params, now time.Duration) error {
	if _, ok := g.known[id]; ok {
		return &DuplicateError{Policy: g.Name(), ID: id}
	}
	w, err := gvtWeight(id, p)
	if err != nil {
		return err
	}
	g.advance(now)
	g.known[id] = &gvtEntry{params: p, weight: w}
	g.lru = append(g.lru, id)
	if !g.started {
		g.started = true
		g.origin = now + GVTgTick
		g.nextBalance = g.origin // timer_check starts at 0: balance on the first tick
	}
	return nil
}

// Update implements Policy: the weight counts from the next stage 0.
func (g *GVTg) Update(id ID, p Params, now time.Duration) error {
	e, ok := g.known[id]
	if !ok {
		return &UnknownError{ID: id}
	}
	w, err := gvtWeight(id, p)
	if err != nil {
		return err
	}
	e.params, e.weight = p, w
	return nil
}

// Remove implements Policy (stop_schedule).
func (g *GVTg) Remove(id ID, now time.Duration) {
	if _, ok := g.known[id]; !ok {
		return
	}
	g.advance(now)
	delete(g.known, id)
	for i, x := range g.lru {
		if x == id {
			g.lru = append(g.lru[:i], g.lru[i+1:]...)
			break
		}
	}
	if g.hasCurrent && g.current == id {
		g.hasCurrent = false
	}
}

// Wake implements Policy.
func (g *GVTg) Wake(id ID, now time.Duration) {
	g.advance(now)
	if e, ok := g.known[id]; ok && !e.runnable {
		e.runnable, e.wokeAt = true, now
	}
}

// Block implements Policy.
func (g *GVTg) Block(id ID, now time.Duration) {
	g.advance(now)
	if e, ok := g.known[id]; ok {
		e.runnable = false
	}
}

// advance runs the balances whose instants have passed.
func (g *GVTg) advance(now time.Duration) {
	if !g.started || now < g.nextBalance {
		return
	}
	n := int64((now-g.nextBalance)/GVTgBalancePeriod) + 1
	// Balances before the last full cycle are overwritten by a stage 0.
	if skip := (n - GVTgBalanceStages) / GVTgBalanceStages * GVTgBalanceStages; skip > 0 {
		g.stage += uint64(skip)
		g.nextBalance += time.Duration(skip) * GVTgBalancePeriod
		n -= skip
	}
	for ; n > 0; n-- {
		g.balance()
		g.nextBalance += GVTgBalancePeriod
	}
}

// balance is gvt_balance_timeslice.
func (g *GVTg) balance() {
	stage := g.stage % GVTgBalanceStages
	g.stage++
	if stage == 0 {
		var total int64
		for _, id := range g.lru {
			total += g.known[id].weight
		}
		for _, id := range g.lru {
			e := g.known[id]
			e.allocated = GVTgBalancePeriod * time.Duration(e.weight) / time.Duration(total)
			e.left = e.allocated
		}
		return
	}
	for _, id := range g.lru {
		e := g.known[id]
		e.left += e.allocated
	}
}

func (g *GVTg) tickOf(now time.Duration) int64 {
	if now < g.origin {
		return -1
	}
	return int64((now - g.origin) / GVTgTick)
}

// Pick implements Policy (tbs_sched_func at the tick now lies in).
func (g *GVTg) Pick(now time.Duration) Decision {
	if !g.started {
		return Decision{Idle: true}
	}
	g.advance(now)
	tick := g.tickOf(now)
	tickStart := g.origin + time.Duration(tick)*GVTgTick
	tickEnd := tickStart + GVTgTick
	if tick < 0 {
		return Decision{Idle: true, Until: g.origin}
	}
	if !g.decided || g.decidedTick != tick {
		g.decided, g.decidedTick, g.hasCurrent = true, tick, false
		for i, id := range g.lru { // find_busy_vgpu
			e := g.known[id]
			if e.runnable && e.wokeAt <= tickStart && e.left > 0 {
				copy(g.lru[i:], g.lru[i+1:])
				g.lru[len(g.lru)-1] = id
				g.current, g.hasCurrent = id, true
				break
			}
		}
	}
	if g.hasCurrent && g.known[g.current].runnable {
		return Decision{ID: g.current, Slice: tickEnd - now}
	}
	for _, e := range g.known {
		if e.runnable {
			return Decision{Idle: true, Until: tickEnd}
		}
	}
	return Decision{Idle: true}
}

// Charge implements Policy (vgpu_update_timeslice).
func (g *GVTg) Charge(id ID, ran time.Duration, now time.Duration) {
	g.advance(now) // the kernel balances at the tick, then charges the switch-out
	if e, ok := g.known[id]; ok {
		e.left -= ran
	}
}

// Entities implements Enumerable.
func (g *GVTg) Entities() []Entity {
	return sortedEntities(g.known, func(id ID, e *gvtEntry) Entity {
		return Entity{ID: id, Params: e.params, Runnable: e.runnable}
	})
}
