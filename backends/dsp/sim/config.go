package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/spec"
)

// Defaults used by New for the zero values of Config.
const (
	DefaultName          = "refdsp0"
	DefaultClockHz       = 1_000_000_000 // 1 GHz: one cycle is one nanosecond
	DefaultMaxQueuedJobs = 64
)

// Config configures a reference DSP. The zero value is a valid
// configuration: New fills every zero field with its default.
type Config struct {
	// Name identifies the device, e.g. in the IOMMU unit's fault records.
	// Default DefaultName.
	Name string
	// MaxSessions is how many sessions (vcoprocs) the device holds, at most
	// spec.RefDSPMaxSessions (the default).
	MaxSessions int
	// CallBudget is the most device time one CALL may take. A job holding a
	// call that would take longer is refused by Enqueue before any of it
	// runs. Zero means no budget beyond the spec's limits. Because a call
	// cannot be preempted, the budget also bounds Caps().MaxNonPreemptible.
	CallBudget time.Duration
	// MaxQueuedJobs bounds the jobs queued on one session; Enqueue refuses
	// more. Default DefaultMaxQueuedJobs.
	MaxQueuedJobs int
	// Cost is the timing model. The zero CostModel means DefaultCostModel();
	// any other value is used as given and must be valid.
	Cost CostModel
}

// CostModel says how much device time each thing the DSP does takes, in
// cycles of a clock of ClockHz. Costs are computed from the shadow command
// alone, before it runs, so that the per-call budget can be enforced up
// front and Run's Used is a deterministic function of the work done.
type CostModel struct {
	// ClockHz is the DSP clock. Must be positive.
	ClockHz uint64
	// CallCycles is charged once per CALL: the remote-call dispatch on the
	// DSP (argument unmarshalling, cache maintenance of the buffers).
	CallCycles uint64
	// CommandCycles is charged once per other command (NOP, FENCE,
	// LOAD_REG, STORE_REG).
	CommandCycles uint64
	// BytesPerCycle is the DMA bandwidth for the bytes a call reads and
	// writes. Must be positive.
	BytesPerCycle uint64
	// MACsPerCycle is the vector unit's throughput in float32
	// multiply-accumulates per cycle. Must be positive.
	MACsPerCycle uint64
	// SwitchCycles is one session switch (SMMU context bank and protection
	// domain), reported as Caps().SwitchCost; not part of Run's Used.
	SwitchCycles uint64
}

// DefaultCostModel is a 1 GHz DSP with one 1024-bit vector unit (32 float32
// MACs per cycle), 16 B/cycle of DMA bandwidth (16 GB/s), a 2 µs call
// dispatch, 50 ns for other commands and a 5 µs session switch.
func DefaultCostModel() CostModel {
	return CostModel{
		ClockHz:       DefaultClockHz,
		CallCycles:    2_000,
		CommandCycles: 50,
		BytesPerCycle: 16,
		MACsPerCycle:  32,
		SwitchCycles:  5_000,
	}
}

// Validate reports what is wrong with the cost model, if anything.
func (m CostModel) Validate() error {
	var errs []error
	if m.ClockHz == 0 {
		errs = append(errs, errors.New("ClockHz is 0: give the DSP clock in Hz (e.g. 1e9)"))
	}
	if m.BytesPerCycle == 0 {
		errs = append(errs, errors.New("BytesPerCycle is 0: give the DMA bandwidth in bytes per cycle (at least 1)"))
	}
	if m.MACsPerCycle == 0 {
		errs = append(errs, errors.New("MACsPerCycle is 0: give the vector throughput in MACs per cycle (at least 1)"))
	}
	// The costliest call at the spec's limits is about 2^26 MACs and 2^22
	// bytes; per-unit costs below 2^24 keep every sum far from 2^64.
	const maxUnit = 1 << 24
	for _, f := range []struct {
		name string
		v    uint64
	}{{"CallCycles", m.CallCycles}, {"CommandCycles", m.CommandCycles}, {"SwitchCycles", m.SwitchCycles}} {
		if f.v > maxUnit {
			errs = append(errs, fmt.Errorf("%s is %d: at most %d cycles", f.name, f.v, maxUnit))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sim: invalid DSP cost model: %w", errors.Join(errs...))
	}
	return nil
}

// withDefaults returns cfg with its zero fields filled in and validates it.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = spec.RefDSPMaxSessions
	}
	if cfg.MaxQueuedJobs == 0 {
		cfg.MaxQueuedJobs = DefaultMaxQueuedJobs
	}
	if cfg.Cost == (CostModel{}) {
		cfg.Cost = DefaultCostModel()
	}
	switch {
	case cfg.MaxSessions < 0 || cfg.MaxSessions > spec.RefDSPMaxSessions:
		return cfg, fmt.Errorf("sim: MaxSessions %d: the reference DSP holds 1 to %d sessions", cfg.MaxSessions, spec.RefDSPMaxSessions)
	case cfg.MaxQueuedJobs < 0:
		return cfg, fmt.Errorf("sim: MaxQueuedJobs %d is negative", cfg.MaxQueuedJobs)
	case cfg.CallBudget < 0:
		return cfg, fmt.Errorf("sim: CallBudget %v is negative: give 0 for no budget", cfg.CallBudget)
	}
	if err := cfg.Cost.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// cyclesToDuration converts cycles to device time, rounding up to the next
// nanosecond and saturating at the largest Duration.
func (m *CostModel) cyclesToDuration(cycles uint64) time.Duration {
	return engine.CyclesToDuration(cycles, m.ClockHz)
}

// durationToCycles converts device time to whole cycles, rounding down. A
// negative duration is 0 cycles.
func (m *CostModel) durationToCycles(d time.Duration) uint64 {
	return engine.DurationToCycles(d, m.ClockHz)
}
