package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/coproc"
)

// Defaults used by New for the zero values of Config.
const (
	DefaultName        = "refgpu0"
	DefaultVRAMBytes   = 256 << 20
	DefaultVRAMGranule = 64 << 10
	DefaultClockHz     = 1_000_000_000 // 1 GHz: one cycle is one nanosecond
)

// Config configures a reference GPU. The zero value is a valid
// configuration: New fills every zero field with its default.
type Config struct {
	// Name identifies the device, e.g. in the IOMMU unit's fault records.
	// Default DefaultName.
	Name string
	// VRAMBytes is the size of the device memory and VRAMGranule the unit
	// it is partitioned in among domains (see iommu.NewDeviceMemory).
	// Defaults DefaultVRAMBytes and DefaultVRAMGranule; tests may use a few
	// granules.
	VRAMBytes   uint64
	VRAMGranule uint64
	// Preemption is coproc.Workgroup (default: a DISPATCH can be switched
	// out between two workgroups) or coproc.CommandBoundary (a DISPATCH
	// that has started must finish before the context can be switched
	// out). The reference GPU has no instruction-level preemption.
	Preemption coproc.Granularity
	// Cost is the timing model. The zero CostModel means DefaultCostModel();
	// any other value is used as given and must be valid.
	Cost CostModel
}

// CostModel says how much device time each thing the engine does takes.
// Times are in cycles of a clock of ClockHz. Every cost is a whole number
// of cycles, computed from the shadow command alone, so that Run's Used is
// a deterministic function of the work done.
//
// Data movement and arithmetic are given as throughputs (bytes and float
// operations per cycle) rather than cycles per byte or per operation: a GPU
// moves tens of bytes and retires tens of float operations per cycle, which
// whole cycles per unit cannot express. A transfer of b bytes costs
// ceil(b / BytesPerCycle) cycles and f float operations cost
// ceil(f / FlopsPerCycle) cycles, rounded up once per command or per
// workgroup.
type CostModel struct {
	// ClockHz is the engine clock. Must be positive.
	ClockHz uint64
	// IssueCycles is charged once per command when the engine starts it.
	IssueCycles uint64
	// BytesPerCycle is the DMA bandwidth: bytes copied or filled (COPY,
	// FILL), written (FENCE, STORE_REG) or moved by a kernel per cycle.
	// Must be positive.
	BytesPerCycle uint64
	// FlopsPerCycle is the arithmetic throughput of the workgroup's lanes
	// together. Must be positive.
	FlopsPerCycle uint64
	// LaunchCycles is charged for every workgroup of a DISPATCH, including
	// the workgroups that lie beyond the kernel's data and do nothing.
	LaunchCycles uint64
	// PollCycles is charged every time a WAIT reads its memory word.
	PollCycles uint64
	// SwitchCycles is one save plus one restore of the engine state
	// (reported as Caps().SwitchCost; not part of Run's Used).
	SwitchCycles uint64
}

// DefaultCostModel is a 1 GHz device with 64 B/cycle of DMA bandwidth
// (64 GB/s), one float operation per lane per cycle (64 per cycle), a
// 100 ns command issue, a 200 ns workgroup launch, a 50 ns memory poll and
// a 20 µs context switch (the order of magnitude of compute preemption on
// current GPUs).
func DefaultCostModel() CostModel {
	return CostModel{
		ClockHz:       DefaultClockHz,
		IssueCycles:   100,
		BytesPerCycle: 64,
		FlopsPerCycle: 64,
		LaunchCycles:  200,
		PollCycles:    50,
		SwitchCycles:  20_000,
	}
}

// Validate reports what is wrong with the cost model, if anything.
func (m CostModel) Validate() error {
	var errs []error
	if m.ClockHz == 0 {
		errs = append(errs, errors.New("ClockHz is 0: give the engine clock in Hz (e.g. 1e9)"))
	}
	if m.BytesPerCycle == 0 {
		errs = append(errs, errors.New("BytesPerCycle is 0: give the DMA bandwidth in bytes per cycle (at least 1)"))
	}
	if m.FlopsPerCycle == 0 {
		errs = append(errs, errors.New("FlopsPerCycle is 0: give the float throughput in operations per cycle (at least 1)"))
	}
	// The largest single charge is a DISPATCH's whole remaining cost
	// (SwitchFrom's retry); keep every per-unit cost small enough that no
	// sum of them can wrap 64 bits (RefGPUMaxGroups workgroups of at most
	// 2^27 bytes each stay far below 2^64 with costs below 2^24).
	const maxUnit = 1 << 24
	for _, f := range []struct {
		name string
		v    uint64
	}{{"IssueCycles", m.IssueCycles}, {"LaunchCycles", m.LaunchCycles}, {"PollCycles", m.PollCycles}, {"SwitchCycles", m.SwitchCycles}} {
		if f.v > maxUnit {
			errs = append(errs, fmt.Errorf("%s is %d: at most %d cycles", f.name, f.v, maxUnit))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sim: invalid cost model: %w", errors.Join(errs...))
	}
	return nil
}

// withDefaults returns cfg with its zero fields filled in and validates it.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.VRAMBytes == 0 {
		cfg.VRAMBytes = DefaultVRAMBytes
	}
	if cfg.VRAMGranule == 0 {
		cfg.VRAMGranule = DefaultVRAMGranule
	}
	if cfg.Preemption == 0 {
		cfg.Preemption = coproc.Workgroup
	}
	if cfg.Cost == (CostModel{}) {
		cfg.Cost = DefaultCostModel()
	}
	switch cfg.Preemption {
	case coproc.Workgroup, coproc.CommandBoundary:
	default:
		return cfg, fmt.Errorf("sim: preemption granularity %v is not supported by the reference GPU: use coproc.Workgroup or coproc.CommandBoundary", cfg.Preemption)
	}
	if cfg.VRAMGranule > cfg.VRAMBytes {
		return cfg, fmt.Errorf("sim: VRAM granule %d is larger than the VRAM (%d bytes): lower VRAMGranule or raise VRAMBytes", cfg.VRAMGranule, cfg.VRAMBytes)
	}
	if err := cfg.Cost.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// CyclesToDuration converts cycles to device time, rounding up to the next
// nanosecond and saturating at the largest Duration. Exported for a
// harness sizing jobs to a device time (bench's live mode).
func (m *CostModel) CyclesToDuration(cycles uint64) time.Duration {
	return engine.CyclesToDuration(cycles, m.ClockHz)
}

// DurationToCycles converts device time to whole cycles, rounding down (so
// that CyclesToDuration's rounding up never gives back fewer cycles than it
// was made from). A negative duration is 0 cycles.
func (m *CostModel) DurationToCycles(d time.Duration) uint64 {
	return engine.DurationToCycles(d, m.ClockHz)
}

// transfer is the cost of moving b bytes.
func (m *CostModel) transfer(b uint64) uint64 { return engine.CeilDiv(b, m.BytesPerCycle) }

// compute is the cost of f float operations.
func (m *CostModel) compute(f uint64) uint64 { return engine.CeilDiv(f, m.FlopsPerCycle) }
