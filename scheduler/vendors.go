package scheduler

import (
	"fmt"
	"time"
)

// AMDGIMSlice is the world-switch time slice of AMD's GIM (MxGPU host driver).
const AMDGIMSlice = 6 * time.Millisecond

// AMDGIM replicates AMD GIM's scheduler for comparison: the virtual
// functions with work take turns of 6 ms in round-robin order; a VF without
// work is skipped (its turn is not held). It is RoundRobin with GIM's slice.
type AMDGIM struct{ *RoundRobin }

// NewAMDGIM returns the AMD GIM replica.
func NewAMDGIM(costs Costs) *AMDGIM {
	r, _ := NewRoundRobin(AMDGIMSlice, costs)
	return &AMDGIM{r}
}

// Name implements Policy.
func (a *AMDGIM) Name() string { return "amd-gim" }

// NVIDIAMode is one of NVIDIA vGPU's time-sliced scheduling policies.
type NVIDIAMode int

const (
	// NVIDIABestEffort is the default: round-robin time slices among the
	// vGPUs with work; a vGPU with no work, or whose slice is used up,
	// yields to the next (work-conserving, no guaranteed share).
	NVIDIABestEffort NVIDIAMode = iota
	// NVIDIAEqualShare divides the GPU equally among the running vGPUs:
	// each admitted vGPU has a slot of one time slice per round, held even
	// when it has no work, and the share changes as vGPUs are added or
	// removed.
	NVIDIAEqualShare
	// NVIDIAFixedShare gives each vGPU a fixed fraction, 1/MaxVGPUs (the
	// vGPU type's maximum per physical GPU), held even when other slots
	// are empty or idle.
	NVIDIAFixedShare
)

func (m NVIDIAMode) String() string {
	switch m {
	case NVIDIABestEffort:
		return "nvidia-best-effort"
	case NVIDIAEqualShare:
		return "nvidia-equal-share"
	case NVIDIAFixedShare:
		return "nvidia-fixed-share"
	}
	return fmt.Sprintf("nvidia-mode-%d", int(m))
}

// NVIDIA time slices, as the RmPVMRL registry key documents them: a
// user-defined slice TT is 1–30 ms (0x01–0x1E); by default it is 2 ms when
// the vGPU type allows at most 8 vGPUs per GPU and 1 ms above that.
const (
	NVIDIAMinSlice = time.Millisecond
	NVIDIAMaxSlice = 30 * time.Millisecond
)

// NVIDIADefaultSlice is the default time slice for a vGPU type that allows
// maxVGPUs per physical GPU.
func NVIDIADefaultSlice(maxVGPUs int) time.Duration {
	if maxVGPUs > 8 {
		return time.Millisecond
	}
	return 2 * time.Millisecond
}

// NVIDIAConfig configures NVIDIAShare.
type NVIDIAConfig struct {
	Mode NVIDIAMode
	// MaxVGPUs is the vGPU type's maximum number per physical GPU: the
	// number of fixed-share slots, and what the default slice depends on.
	MaxVGPUs int
	// Slice is the time slice; 0 means NVIDIADefaultSlice(MaxVGPUs).
	Slice time.Duration
	Costs Costs
}

// NVIDIAShare replicates NVIDIA vGPU's three time-sliced schedulers for
// comparison (NVIDIA Virtual GPU Software documentation, "vGPU
// Schedulers"). Best effort is round-robin over the vGPUs with work. Equal
// and fixed share are strict time-division: a round has one slot of Slice
// per running vGPU (equal share) or per possible vGPU (fixed share,
// MaxVGPUs slots, each admitted vGPU holding one, in admission order); the
// slot's owner runs in it or the GPU idles (Pick returns Idle with Until at
// the slot's end). Rounds restart when the slot table changes. Costs are
// not accounted: these are replicas, with the vendors' guarantees, not ours.
type NVIDIAShare struct {
	cfg   NVIDIAConfig
	rr    *RoundRobin // best effort
	known map[ID]*fsEntry
	slots []ID   // equal share: admitted vGPUs; fixed share: MaxVGPUs slots
	used  []bool // fixed share: which slots are taken
	epoch time.Duration
}

// NewNVIDIAShare returns the replica of the given mode.
func NewNVIDIAShare(cfg NVIDIAConfig) (*NVIDIAShare, error) {
	if cfg.MaxVGPUs <= 0 {
		return nil, fmt.Errorf("scheduler: %s: max vGPUs per GPU %d must be positive", cfg.Mode, cfg.MaxVGPUs)
	}
	if cfg.Slice == 0 {
		cfg.Slice = NVIDIADefaultSlice(cfg.MaxVGPUs)
	}
	if cfg.Slice < NVIDIAMinSlice || cfg.Slice > NVIDIAMaxSlice {
		return nil, fmt.Errorf("scheduler: %s: time slice %v is outside NVIDIA's %v–%v", cfg.Mode, cfg.Slice, NVIDIAMinSlice, NVIDIAMaxSlice)
	}
	n := &NVIDIAShare{cfg: cfg, known: map[ID]*fsEntry{}}
	switch cfg.Mode {
	case NVIDIABestEffort:
		n.rr, _ = NewRoundRobin(cfg.Slice, cfg.Costs)
	case NVIDIAEqualShare:
	case NVIDIAFixedShare:
		n.slots = make([]ID, cfg.MaxVGPUs)
		n.used = make([]bool, cfg.MaxVGPUs)
	default:
		return nil, fmt.Errorf("scheduler: nvidia: unknown mode %d", int(cfg.Mode))
	}
	return n, nil
}

// Name implements Policy.
func (n *NVIDIAShare) Name() string { return n.cfg.Mode.String() }

// Admit implements Policy.
func (n *NVIDIAShare) Admit(id ID, p Params, now time.Duration) error {
	if _, ok := n.known[id]; ok {
		return &DuplicateError{Policy: n.Name(), ID: id}
	}
	switch n.cfg.Mode {
	case NVIDIABestEffort:
		if err := n.rr.Admit(id, p, now); err != nil {
			return err
		}
	case NVIDIAEqualShare:
		if len(n.known) >= n.cfg.MaxVGPUs {
			return &AdmissionError{Policy: n.Name(), ID: id, Demand: float64(len(n.known) + 1), Available: float64(n.cfg.MaxVGPUs),
				Detail: fmt.Sprintf("%d vGPUs > %d allowed per GPU", len(n.known)+1, n.cfg.MaxVGPUs)}
		}
		n.slots = append(n.slots, id)
		n.epoch = now
	case NVIDIAFixedShare:
		slot := -1
		for i, u := range n.used {
			if !u {
				slot = i
				break
			}
		}
		if slot < 0 {
			return &AdmissionError{Policy: n.Name(), ID: id, Demand: float64(n.cfg.MaxVGPUs + 1), Available: float64(n.cfg.MaxVGPUs),
				Detail: fmt.Sprintf("all %d fixed-share slots are taken", n.cfg.MaxVGPUs)}
		}
		n.slots[slot], n.used[slot] = id, true
	}
	n.known[id] = &fsEntry{params: p}
	return nil
}

// Update implements Policy: parameters are recorded; shares do not depend
// on them.
func (n *NVIDIAShare) Update(id ID, p Params, now time.Duration) error {
	e, ok := n.known[id]
	if !ok {
		return &UnknownError{ID: id}
	}
	e.params = p
	if n.rr != nil {
		return n.rr.Update(id, p, now)
	}
	return nil
}

// Remove implements Policy.
func (n *NVIDIAShare) Remove(id ID, now time.Duration) {
	if _, ok := n.known[id]; !ok {
		return
	}
	delete(n.known, id)
	switch n.cfg.Mode {
	case NVIDIABestEffort:
		n.rr.Remove(id, now)
	case NVIDIAEqualShare:
		for i, s := range n.slots {
			if s == id {
				n.slots = append(n.slots[:i], n.slots[i+1:]...)
				break
			}
		}
		n.epoch = now
	case NVIDIAFixedShare:
		for i, s := range n.slots {
			if n.used[i] && s == id {
				n.used[i] = false
			}
		}
	}
}

// Wake implements Policy.
func (n *NVIDIAShare) Wake(id ID, now time.Duration) {
	if e, ok := n.known[id]; ok {
		e.runnable = true
		if n.rr != nil {
			n.rr.Wake(id, now)
		}
	}
}

// Block implements Policy.
func (n *NVIDIAShare) Block(id ID, now time.Duration) {
	if e, ok := n.known[id]; ok {
		e.runnable = false
		if n.rr != nil {
			n.rr.Block(id, now)
		}
	}
}

// Pick implements Policy.
func (n *NVIDIAShare) Pick(now time.Duration) Decision {
	if n.rr != nil {
		return n.rr.Pick(now)
	}
	if len(n.slots) == 0 {
		return Decision{Idle: true}
	}
	since := now - n.epoch
	if since < 0 {
		since = 0
	}
	slot := int64(since/n.cfg.Slice) % int64(len(n.slots))
	end := now + n.cfg.Slice - since%n.cfg.Slice
	id := n.slots[slot]
	if (n.used == nil || n.used[slot]) && n.known[id].runnable {
		return Decision{ID: id, Slice: end - now}
	}
	return Decision{Idle: true, Until: end}
}

// Charge implements Policy.
func (n *NVIDIAShare) Charge(id ID, ran time.Duration, now time.Duration) {
	if n.rr != nil {
		n.rr.Charge(id, ran, now)
	}
}

// Entities implements Enumerable.
func (n *NVIDIAShare) Entities() []Entity {
	return sortedEntities(n.known, func(id ID, e *fsEntry) Entity {
		return Entity{ID: id, Params: e.params, Runnable: e.runnable}
	})
}
