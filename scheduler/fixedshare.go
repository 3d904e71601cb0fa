package scheduler

import (
	"fmt"
	"slices"
	"time"
)

// FixedShareConfig configures FixedShare.
type FixedShareConfig struct {
	// Frame is the length of the repeating frame the shares divide.
	Frame time.Duration
	// Quantum is the slice in the unreserved part of the frame; 0 means
	// Frame/10.
	Quantum time.Duration
	Costs   Costs
	Label   string
}

// FixedShare gives each vcoproc with Params.Share = s a window of s·Frame in
// every frame, at a fixed place, held for it even when it is idle: it is not
// work-conserving, and Pick returns Idle with Until at the window's end when
// the window's owner has nothing to run. Windows are laid out in ID order
// from the start of the frame (frames are counted from instant 0); each is
// preceded by a guard of SwitchCost + MaxNonPreemptible that absorbs the
// switch and the previous owner's overrun. The rest of the frame is shared
// round-robin, one quantum at a time, by the vcoprocs without a share.
//
// Guarantee. Admission requires Σ (s_i·Frame + SwitchCost +
// MaxNonPreemptible) ≤ Frame. Then a vcoproc runnable throughout its window
// receives at least s_i·Frame of device time in every frame, and no vcoproc
// ever receives more than its windows (plus one overrun), whatever the others
// do. Windows move when the set of shares changes, so the guarantee holds in
// every frame that starts after the change. Pick is O(log w) in the number
// of windows; Charge, Wake, Block O(1) amortized (the round-robin queue is a
// slice); Admit/Remove O(w).
type FixedShare struct {
	cfg       FixedShareConfig
	known     map[ID]*fsEntry
	windows   []fsWindow // by start
	freeStart time.Duration
	free      RoundRobin // the vcoprocs without a share
	lastRan   ID
	ran       bool
	runnable  int // how many known vcoprocs are runnable
}

type fsEntry struct {
	params   Params
	runnable bool
}

type fsWindow struct {
	owner      ID
	start, end time.Duration // offsets in the frame; guard included
}

// NewFixedShare returns a fixed-share policy.
func NewFixedShare(cfg FixedShareConfig) (*FixedShare, error) {
	if cfg.Frame <= 0 {
		return nil, fmt.Errorf("scheduler: fixed-share: frame %v must be positive", cfg.Frame)
	}
	if cfg.Quantum <= 0 {
		cfg.Quantum = cfg.Frame / 10
	}
	guard := cfg.Costs.SwitchCost + cfg.Costs.MaxNonPreemptible
	if guard >= cfg.Frame {
		return nil, fmt.Errorf("scheduler: fixed-share: frame %v leaves no room after switch cost %v and non-preemptible segment %v",
			cfg.Frame, cfg.Costs.SwitchCost, cfg.Costs.MaxNonPreemptible)
	}
	rr, _ := NewRoundRobin(cfg.Quantum, cfg.Costs)
	return &FixedShare{cfg: cfg, known: map[ID]*fsEntry{}, free: *rr}, nil
}

// Name implements Policy.
func (f *FixedShare) Name() string { return "fixed-share" }

func (f *FixedShare) guard() time.Duration {
	return f.cfg.Costs.SwitchCost + f.cfg.Costs.MaxNonPreemptible
}

func validShare(policy string, id ID, p Params) error {
	if p.Share < 0 || p.Share > 1 || p.Share != p.Share {
		return &ParamError{Policy: policy, ID: id, Detail: fmt.Sprintf("share %v must be in [0, 1]", p.Share)}
	}
	return nil
}

// check tests the shares with p replacing (or joining as) id's.
func (f *FixedShare) check(id ID, p Params) error {
	if err := validShare(f.Name(), id, p); err != nil {
		return err
	}
	if p.Share == 0 {
		return nil
	}
	total, n := p.Share, 1
	for oid, e := range f.known {
		if oid != id && e.params.Share > 0 {
			total += e.params.Share
			n++
		}
	}
	avail := 1 - float64(time.Duration(n)*f.guard())/float64(f.cfg.Frame)
	if total > avail+admissionSlack {
		return &AdmissionError{Policy: f.Name(), Device: f.cfg.Label, ID: id, Demand: total, Available: avail,
			Detail: fmt.Sprintf("shares %.4g > %.4g available after switch overhead and blocking (%d windows of guard %v in a %v frame)",
				total, avail, n, f.guard(), f.cfg.Frame)}
	}
	return nil
}

// layout places the windows in ID order.
func (f *FixedShare) layout() {
	f.windows = f.windows[:0]
	var owners []ID
	for id, e := range f.known {
		if e.params.Share > 0 {
			owners = append(owners, id)
		}
	}
	slices.Sort(owners)
	at := time.Duration(0)
	for _, id := range owners {
		length := f.guard() + time.Duration(f.known[id].params.Share*float64(f.cfg.Frame))
		f.windows = append(f.windows, fsWindow{owner: id, start: at, end: min(at+length, f.cfg.Frame)})
		at += length
	}
	f.freeStart = min(at, f.cfg.Frame)
}

// Admit implements Policy.
func (f *FixedShare) Admit(id ID, p Params, now time.Duration) error {
	if _, ok := f.known[id]; ok {
		return &DuplicateError{Policy: f.Name(), ID: id}
	}
	if err := f.check(id, p); err != nil {
		return err
	}
	f.known[id] = &fsEntry{params: p}
	if p.Share == 0 {
		_ = f.free.Admit(id, p, now)
	}
	f.layout()
	return nil
}

// Update implements Policy.
func (f *FixedShare) Update(id ID, p Params, now time.Duration) error {
	e, ok := f.known[id]
	if !ok {
		return &UnknownError{ID: id}
	}
	if err := f.check(id, p); err != nil {
		return err
	}
	wasFree, isFree := e.params.Share == 0, p.Share == 0
	e.params = p
	switch {
	case wasFree && !isFree:
		f.free.Remove(id, now)
	case !wasFree && isFree:
		_ = f.free.Admit(id, p, now)
		if e.runnable {
			f.free.Wake(id, now)
		}
	}
	f.layout()
	return nil
}

// Remove implements Policy.
func (f *FixedShare) Remove(id ID, now time.Duration) {
	if _, ok := f.known[id]; !ok {
		return
	}
	if f.known[id].runnable {
		f.runnable--
	}
	f.free.Remove(id, now)
	delete(f.known, id)
	f.layout()
}

// Wake implements Policy.
func (f *FixedShare) Wake(id ID, now time.Duration) {
	if e, ok := f.known[id]; ok && !e.runnable {
		e.runnable = true
		f.runnable++
		f.free.Wake(id, now)
	}
}

// Block implements Policy.
func (f *FixedShare) Block(id ID, now time.Duration) {
	if e, ok := f.known[id]; ok && e.runnable {
		e.runnable = false
		f.runnable--
		f.free.Block(id, now)
	}
}

// Pick implements Policy.
func (f *FixedShare) Pick(now time.Duration) Decision {
	if f.runnable == 0 {
		return Decision{Idle: true}
	}
	frameStart := now - now%f.cfg.Frame
	off := now - frameStart
	if off < f.freeStart {
		i, _ := slices.BinarySearchFunc(f.windows, off, func(w fsWindow, t time.Duration) int {
			switch {
			case w.end <= t:
				return -1
			case w.start > t:
				return 1
			}
			return 0
		})
		w := f.windows[i]
		end := frameStart + w.end
		if e := f.known[w.owner]; e.runnable {
			slice := end - now
			if !f.ran || f.lastRan != w.owner {
				slice -= f.cfg.Costs.SwitchCost
			}
			if slice > 0 {
				return Decision{ID: w.owner, Slice: slice}
			}
		}
		return Decision{Idle: true, Until: end}
	}
	end := frameStart + f.cfg.Frame
	if d := f.free.Pick(now); !d.Idle {
		d.Slice = min(d.Slice, end-now)
		return d
	}
	return Decision{Idle: true, Until: end} // someone waits for their window
}

// Charge implements Policy.
func (f *FixedShare) Charge(id ID, ran time.Duration, now time.Duration) {
	e, ok := f.known[id]
	if !ok {
		return
	}
	f.lastRan, f.ran = id, true
	if e.params.Share == 0 {
		f.free.Charge(id, ran, now)
	}
}

// Entities implements Enumerable.
func (f *FixedShare) Entities() []Entity {
	return sortedEntities(f.known, func(id ID, e *fsEntry) Entity {
		return Entity{ID: id, Params: e.params, Runnable: e.runnable}
	})
}
