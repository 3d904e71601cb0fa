package scheduler

import (
	"fmt"
	"slices"
	"time"
)

// Window is one partition window of an ARINC 653 schedule: Owner runs from
// Offset to Offset+Duration in every major frame.
type Window struct {
	Owner            ID
	Offset, Duration time.Duration
}

// ARINC653Config is a static schedule.
type ARINC653Config struct {
	MajorFrame time.Duration
	Windows    []Window
	Costs      Costs
	Label      string
}

// ARINC653 runs a static table of windows repeating every major frame
// (frames counted from instant 0), as ARINC 653 partition scheduling does
// for certification-minded users: who runs when is fixed at configuration
// time, not decided at run time. A window whose owner is idle, and any gap
// between windows, stays idle (Pick returns Idle with Until at the next
// window boundary). Params are ignored; only vcoprocs that own a window may
// be admitted.
//
// Guarantee. The owner's slice ends MaxNonPreemptible before the window's
// end (and starts SwitchCost later when a switch is needed), so no owner
// ever runs outside its windows, and an owner runnable throughout a window
// receives at least Duration − SwitchCost − MaxNonPreemptible in it, in
// every major frame, whatever the other partitions do. The constructor
// refuses windows that overlap, leave the frame, or are not longer than
// SwitchCost + MaxNonPreemptible. Pick is O(log w) in the number of windows;
// everything else O(1).
type ARINC653 struct {
	cfg     ARINC653Config
	owns    map[ID]bool
	known   map[ID]*fsEntry
	lastRan ID
	ran     bool
}

// NewARINC653 validates the schedule and returns the policy.
func NewARINC653(cfg ARINC653Config) (*ARINC653, error) {
	if cfg.MajorFrame <= 0 {
		return nil, fmt.Errorf("scheduler: arinc653: major frame %v must be positive", cfg.MajorFrame)
	}
	ws := slices.Clone(cfg.Windows)
	slices.SortFunc(ws, func(a, b Window) int {
		switch {
		case a.Offset < b.Offset:
			return -1
		case a.Offset > b.Offset:
			return 1
		}
		return 0
	})
	minLen := cfg.Costs.SwitchCost + cfg.Costs.MaxNonPreemptible
	owns := map[ID]bool{}
	for i, w := range ws {
		switch {
		case w.Offset < 0 || w.Offset+w.Duration > cfg.MajorFrame:
			return nil, fmt.Errorf("scheduler: arinc653: window of vcoproc %d [%v, %v) leaves the major frame %v",
				w.Owner, w.Offset, w.Offset+w.Duration, cfg.MajorFrame)
		case w.Duration <= minLen:
			return nil, fmt.Errorf("scheduler: arinc653: window of vcoproc %d at %v lasts %v, not more than switch cost %v + non-preemptible segment %v",
				w.Owner, w.Offset, w.Duration, cfg.Costs.SwitchCost, cfg.Costs.MaxNonPreemptible)
		case i > 0 && ws[i-1].Offset+ws[i-1].Duration > w.Offset:
			return nil, fmt.Errorf("scheduler: arinc653: window of vcoproc %d [%v, %v) overlaps that of vcoproc %d [%v, %v)",
				w.Owner, w.Offset, w.Offset+w.Duration, ws[i-1].Owner, ws[i-1].Offset, ws[i-1].Offset+ws[i-1].Duration)
		}
		owns[w.Owner] = true
	}
	cfg.Windows = ws
	return &ARINC653{cfg: cfg, owns: owns, known: map[ID]*fsEntry{}}, nil
}

// Name implements Policy.
func (a *ARINC653) Name() string { return "arinc653" }

// Admit implements Policy.
func (a *ARINC653) Admit(id ID, p Params, now time.Duration) error {
	if _, ok := a.known[id]; ok {
		return &DuplicateError{Policy: a.Name(), ID: id}
	}
	if !a.owns[id] {
		return &AdmissionError{Policy: a.Name(), Device: a.cfg.Label, ID: id,
			Detail: fmt.Sprintf("vcoproc %d owns no window in the %v major frame", id, a.cfg.MajorFrame)}
	}
	a.known[id] = &fsEntry{params: p}
	return nil
}

// Update implements Policy: parameters are recorded, the schedule is fixed.
func (a *ARINC653) Update(id ID, p Params, now time.Duration) error {
	e, ok := a.known[id]
	if !ok {
		return &UnknownError{ID: id}
	}
	e.params = p
	return nil
}

// Remove implements Policy: the window stays reserved, idle.
func (a *ARINC653) Remove(id ID, now time.Duration) { delete(a.known, id) }

// Wake implements Policy.
func (a *ARINC653) Wake(id ID, now time.Duration) {
	if e, ok := a.known[id]; ok {
		e.runnable = true
	}
}

// Block implements Policy.
func (a *ARINC653) Block(id ID, now time.Duration) {
	if e, ok := a.known[id]; ok {
		e.runnable = false
	}
}

// Pick implements Policy.
func (a *ARINC653) Pick(now time.Duration) Decision {
	frameStart := now - now%a.cfg.MajorFrame
	off := now - frameStart
	ws := a.cfg.Windows
	// The first window that ends after off.
	i, _ := slices.BinarySearchFunc(ws, off, func(w Window, t time.Duration) int {
		if w.Offset+w.Duration <= t {
			return -1
		}
		return 1
	})
	if i == len(ws) { // past the last window: the next frame's first
		if len(ws) == 0 {
			return Decision{Idle: true, Until: frameStart + a.cfg.MajorFrame}
		}
		return Decision{Idle: true, Until: frameStart + a.cfg.MajorFrame + ws[0].Offset}
	}
	w := ws[i]
	if off < w.Offset { // in a gap
		return Decision{Idle: true, Until: frameStart + w.Offset}
	}
	end := frameStart + w.Offset + w.Duration
	if e, ok := a.known[w.Owner]; ok && e.runnable {
		slice := end - now - a.cfg.Costs.MaxNonPreemptible
		if !a.ran || a.lastRan != w.Owner {
			slice -= a.cfg.Costs.SwitchCost
		}
		if slice > 0 {
			return Decision{ID: w.Owner, Slice: slice}
		}
	}
	return Decision{Idle: true, Until: end}
}

// Charge implements Policy.
func (a *ARINC653) Charge(id ID, ran time.Duration, now time.Duration) {
	if _, ok := a.known[id]; ok {
		a.lastRan, a.ran = id, true
	}
}

// Entities implements Enumerable.
func (a *ARINC653) Entities() []Entity {
	return sortedEntities(a.known, func(id ID, e *fsEntry) Entity {
		return Entity{ID: id, Params: e.params, Runnable: e.runnable}
	})
}
