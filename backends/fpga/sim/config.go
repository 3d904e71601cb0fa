package sim

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/coprocd/coprocd/spec"
)

// Defaults used by New for the zero values of Config.
const (
	DefaultName         = "reffpga0"
	DefaultDDRBytes     = 64 << 20
	DefaultDDRGranule   = 64 << 10
	DefaultCacheEntries = 16 // AWS F1 keeps up to 16 AFIs cached per slot
	DefaultClockHz      = 250_000_000
	// DefaultICAPBytesPerSecond is the UltraScale+ ICAP: 32 bits at 200 MHz,
	// 6.4 Gb/s.
	DefaultICAPBytesPerSecond = 800_000_000
	// DefaultFetchBytesPerSecond is how fast a bitstream that is not in the
	// card's cache reaches it from the host's library (read from storage,
	// authenticated, moved to the card). It is an assumption standing for a
	// cold load (AWS F1's take seconds for bitstreams of tens of MB); set
	// the host's own figure.
	DefaultFetchBytesPerSecond = 100_000_000
)

// Config configures a reference FPGA. The zero value is a valid
// configuration: New fills every zero field with its default.
type Config struct {
	// Name identifies the device, e.g. in the IOMMU unit's fault records.
	Name string
	// Regions is the number of partial-reconfiguration regions (default
	// spec.RefFPGARegions, at most 64).
	Regions int
	// DDRBytes and DDRGranule size the on-board memory and the unit it is
	// partitioned in among domains (iommu.NewDeviceMemory).
	DDRBytes, DDRGranule uint64
	// CacheEntries is how many bitstreams the card's cache holds (LRU).
	// Negative means no cache: every reconfiguration fetches.
	CacheEntries int
	// Bitstreams overrides the library's bitstream sizes, by accelerator id
	// (ids not in spec.RefFPGAAccelerators are refused).
	Bitstreams map[uint64]uint64
	// Cost is the timing model; the zero CostModel means DefaultCostModel().
	Cost CostModel
}

// CostModel says how much device time things take. Accelerator work is in
// cycles of the accelerator clock; reconfiguration is in bytes over
// bandwidths plus fixed times, as the issue states it. Every cost is a
// deterministic function of the shadow command and the device's region and
// cache state, so Run's Used is reproducible.
type CostModel struct {
	// ClockHz is the accelerator (user) clock. Must be positive.
	ClockHz uint64
	// IssueCycles is charged once per command.
	IssueCycles uint64
	// DMABytesPerCycle is the DMA engine's bandwidth (host memory, DDR).
	DMABytesPerCycle uint64
	// CRCBytesPerCycle, AESBytesPerCycle, FIRSamplesPerCycle and
	// MACsPerCycle are the pipelines' throughputs. An invocation costs the
	// larger of its data movement and its computation (they overlap).
	CRCBytesPerCycle   uint64
	AESBytesPerCycle   uint64
	FIRSamplesPerCycle uint64 // samples per cycle; every tap of one sample is one pipeline stage
	MACsPerCycle       uint64
	// SwitchCost is one context switch without reconfiguration: decouple,
	// port reset of every region, IOMMU switch (Caps().SwitchCost).
	SwitchCost time.Duration
	// ICAPBytesPerSecond and ReconfigFixed: programming a cached bitstream
	// into a region costs ReconfigFixed + size / ICAPBytesPerSecond.
	ICAPBytesPerSecond uint64
	ReconfigFixed      time.Duration
	// FetchBytesPerSecond and FetchFixed: a bitstream not in the cache
	// first costs FetchFixed + size / FetchBytesPerSecond to bring in.
	FetchBytesPerSecond uint64
	FetchFixed          time.Duration
}

// DefaultCostModel is a 250 MHz accelerator clock with a 32 B/cycle DMA
// engine (8 GB/s, a PCIe Gen3 x8 card), a CRC32 pipeline of 32 B/cycle, an
// AES-128 pipeline of one block per cycle, a FIR of one sample per cycle, a
// 16×16 systolic MAC array, a 10 µs switch, the UltraScale+ ICAP
// (800 MB/s) with 100 µs of decouple/reset/sync around each reconfiguration,
// and DefaultFetchBytesPerSecond with 1 ms of setup for a cold fetch.
func DefaultCostModel() CostModel {
	return CostModel{
		ClockHz:             DefaultClockHz,
		IssueCycles:         25,
		DMABytesPerCycle:    32,
		CRCBytesPerCycle:    32,
		AESBytesPerCycle:    16,
		FIRSamplesPerCycle:  1,
		MACsPerCycle:        256,
		SwitchCost:          10 * time.Microsecond,
		ICAPBytesPerSecond:  DefaultICAPBytesPerSecond,
		ReconfigFixed:       100 * time.Microsecond,
		FetchBytesPerSecond: DefaultFetchBytesPerSecond,
		FetchFixed:          time.Millisecond,
	}
}

// Validate reports what is wrong with the cost model, if anything.
func (m CostModel) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    uint64
	}{{"ClockHz", m.ClockHz}, {"DMABytesPerCycle", m.DMABytesPerCycle}, {"CRCBytesPerCycle", m.CRCBytesPerCycle},
		{"AESBytesPerCycle", m.AESBytesPerCycle}, {"FIRSamplesPerCycle", m.FIRSamplesPerCycle}, {"MACsPerCycle", m.MACsPerCycle},
		{"ICAPBytesPerSecond", m.ICAPBytesPerSecond}, {"FetchBytesPerSecond", m.FetchBytesPerSecond}} {
		if f.v == 0 {
			errs = append(errs, fmt.Errorf("%s is 0: it must be positive", f.name))
		}
	}
	if m.IssueCycles > 1<<24 {
		errs = append(errs, fmt.Errorf("IssueCycles is %d: at most %d", m.IssueCycles, 1<<24))
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"SwitchCost", m.SwitchCost}, {"ReconfigFixed", m.ReconfigFixed}, {"FetchFixed", m.FetchFixed}} {
		if f.v < 0 || f.v > time.Minute {
			errs = append(errs, fmt.Errorf("%s is %v: it must lie in [0, 1m]", f.name, f.v))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sim: invalid cost model: %w", errors.Join(errs...))
	}
	return nil
}

// withDefaults returns cfg with its zero fields filled and checks it.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Regions == 0 {
		cfg.Regions = spec.RefFPGARegions
	}
	if cfg.DDRBytes == 0 {
		cfg.DDRBytes = DefaultDDRBytes
	}
	if cfg.DDRGranule == 0 {
		cfg.DDRGranule = DefaultDDRGranule
	}
	if cfg.CacheEntries == 0 {
		cfg.CacheEntries = DefaultCacheEntries
	}
	if cfg.Cost == (CostModel{}) {
		cfg.Cost = DefaultCostModel()
	}
	if cfg.Regions < 1 || cfg.Regions > 64 {
		return cfg, fmt.Errorf("sim: %d regions: the reference FPGA has 1 to 64", cfg.Regions)
	}
	if cfg.DDRGranule > cfg.DDRBytes {
		return cfg, fmt.Errorf("sim: DDR granule %d is larger than the DDR (%d bytes): lower DDRGranule or raise DDRBytes", cfg.DDRGranule, cfg.DDRBytes)
	}
	for id, size := range cfg.Bitstreams {
		if _, ok := spec.ReferenceFPGA().Commands.Kernel(id); !ok {
			return cfg, fmt.Errorf("sim: bitstream size given for accelerator %d, which is not in the library", id)
		}
		if size == 0 || size > 1<<30 {
			return cfg, fmt.Errorf("sim: bitstream of accelerator %d is %d bytes: give 1 byte to 1 GiB", id, size)
		}
	}
	return cfg, cfg.Cost.Validate()
}

// cycles converts accelerator cycles to device time, rounding up.
func (m *CostModel) cycles(c uint64) time.Duration { return perSecond(c, m.ClockHz) }

// budgetCycles converts device time to whole cycles, rounding down.
func (m *CostModel) budgetCycles(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(d), m.ClockHz)
	if hi >= uint64(time.Second) {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, uint64(time.Second))
	return q
}

// icap is the time to program size bytes from the cache into a region.
func (m *CostModel) icap(size uint64) time.Duration {
	return m.ReconfigFixed + perSecond(size, m.ICAPBytesPerSecond)
}

// fetch is the time to bring size bytes from the host's library to the card.
func (m *CostModel) fetch(size uint64) time.Duration {
	return m.FetchFixed + perSecond(size, m.FetchBytesPerSecond)
}

// perSecond is n units at rate units per second, rounded up to the next
// nanosecond, saturating.
func perSecond(n, rate uint64) time.Duration {
	hi, lo := bits.Mul64(n, uint64(time.Second))
	if hi >= rate {
		return time.Duration(math.MaxInt64)
	}
	q, r := bits.Div64(hi, lo, rate)
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(q)
}
