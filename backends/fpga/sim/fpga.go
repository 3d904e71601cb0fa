package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/backends/internal/regfile"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

var _ coproc.Backend = (*FPGA)(nil)

// ErrBadCommand is wrapped by the error of a job the engine refused while
// running it: a command the scanner should have refused, or a PREFETCH of an
// accelerator the library lacks. It corresponds to spec.ErrCodeExecution.
var ErrBadCommand = errors.New("command refused by the engine")

// chunk is the most the DMA engine moves through the IOMMU at once.
const chunk = 64 << 10

// FPGA is the reference FPGA: reconfigurable regions, a bitstream cache, an
// IOMMU unit, on-board DDR and the contexts of the vcoprocs that share it.
// It is a state machine driven by one caller at a time (coproc.Backend).
type FPGA struct {
	cfg     Config
	cost    CostModel
	spec    *spec.Device
	unit    *iommu.Unit
	ddr     *iommu.DeviceMemory
	caps    coproc.Caps
	library map[uint64]uint64 // accelerator id → bitstream bytes

	regs *regfile.File

	active *context
	// last is the context that used the regions last: a switch to any other
	// resets every region's port.
	last *context

	regions   []region
	cache     []cacheEntry
	seq       uint64        // LRU clock of regions and cache
	now       time.Duration // device time: the sum of every Run's Used and switch
	fetchFree time.Duration // device time at which the link to the host is free
	stats     ReconfigStats

	bufA, bufB []byte // DMA chunks
	matB       []int32
}

// context is the state of one vcoproc: its queue and, within the current
// job, the next command (commands are never split: preemption is at
// command boundaries).
type context struct {
	fpga   *FPGA
	domain string
	dead   bool
	jobs   engine.Queue
	pos    int
}

func (c *context) Domain() string { return c.domain }

// New builds a reference FPGA with blank regions and an empty cache.
func New(cfg Config) (*FPGA, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ddr, err := iommu.NewDeviceMemory(cfg.DDRBytes, cfg.DDRGranule)
	if err != nil {
		return nil, fmt.Errorf("sim: on-board DDR of %d bytes in granules of %d: %w", cfg.DDRBytes, cfg.DDRGranule, err)
	}
	dev := spec.ReferenceFPGA()
	f := &FPGA{
		cfg: cfg, cost: cfg.Cost, spec: dev, unit: iommu.NewUnit(cfg.Name), ddr: ddr,
		library: map[uint64]uint64{},
		regs:    regfile.New(dev.Registers),
		regions: make([]region, cfg.Regions),
		bufA:    make([]byte, chunk), bufB: make([]byte, chunk),
	}
	for _, a := range spec.RefFPGAAccelerators() {
		f.library[a.ID] = a.BitstreamBytes
		if s, ok := cfg.Bitstreams[a.ID]; ok {
			f.library[a.ID] = s
		}
	}
	f.regs.Set(spec.FPGARegRegions, uint64(cfg.Regions))
	f.caps = coproc.Caps{Preemption: coproc.CommandBoundary, SwitchCost: f.cost.SwitchCost, MaxNonPreemptible: f.maxNonPreemptible()}
	return f, nil
}

// maxNonPreemptible is the longest command: the costliest invocation at the
// spec's limits after the costliest reconfiguration (the largest bitstream,
// not cached, behind one fetch already in flight: a guest's PREFETCH never
// queues more than one).
func (f *FPGA) maxNonPreemptible() time.Duration {
	var biggest uint64
	for _, s := range f.library {
		biggest = max(biggest, s)
	}
	var worst time.Duration
	for _, k := range f.spec.Commands.Kernels() {
		args := make([]uint64, len(k.Args))
		for i, o := range k.Args {
			args[i] = o.Max
		}
		worst = max(worst, f.cost.cycles(f.cost.IssueCycles+invokeCycles(&f.cost, k.ID, args)))
	}
	copyMax := f.cost.cycles(f.cost.IssueCycles + engine.CeilDiv(spec.RefFPGAMaxBytes, f.cost.DMABytesPerCycle))
	return max(worst+2*f.cost.fetch(biggest)+f.cost.icap(biggest), copyMax)
}

// Spec returns the reference FPGA's spec.
func (f *FPGA) Spec() *spec.Device { return f.spec }

// Caps reports command-boundary preemption, the switch cost without
// reconfiguration, and the longest command (maxNonPreemptible).
func (f *FPGA) Caps() coproc.Caps { return f.caps }

// IOMMU is the unit all of the card's DMA goes through.
func (f *FPGA) IOMMU() *iommu.Unit { return f.unit }

// DeviceMemory is the on-board DDR.
func (f *FPGA) DeviceMemory() *iommu.DeviceMemory { return f.ddr }

// CostModel returns the timing model in use.
func (f *FPGA) CostModel() CostModel { return f.cost }

// Library returns the bitstream size of every accelerator, by id.
func (f *FPGA) Library() map[uint64]uint64 {
	out := make(map[uint64]uint64, len(f.library))
	for k, v := range f.library {
		out[k] = v
	}
	return out
}

// Now is the device time the card has accounted (runs and switches).
func (f *FPGA) Now() time.Duration { return f.now }

// Init creates the context of a new vcoproc of domain.
func (f *FPGA) Init(domain string) (coproc.Context, error) {
	if domain == "" {
		return nil, errors.New("sim: Init: empty domain name")
	}
	return &context{fpga: f, domain: domain}, nil
}

// Deinit destroys a context and drops its jobs.
func (f *FPGA) Deinit(cc coproc.Context) {
	c, err := f.own(cc, "Deinit")
	if err != nil {
		return
	}
	if f.active == c {
		f.active = nil
	}
	if f.last == c {
		f.last = nil
	}
	c.dead, c.pos = true, 0
	c.jobs.Clear()
}

func (f *FPGA) own(cc coproc.Context, op string) (*context, error) {
	c, ok := cc.(*context)
	switch {
	case !ok || c == nil:
		return nil, fmt.Errorf("sim: %s: context %T is not a reference FPGA context", op, cc)
	case c.fpga != f:
		return nil, fmt.Errorf("sim: %s: context of domain %q belongs to another FPGA", op, c.domain)
	case c.dead:
		return nil, fmt.Errorf("sim: %s: context of domain %q was destroyed (Deinit)", op, c.domain)
	}
	return c, nil
}

// SwitchFrom detaches the active context. Run stops only between commands,
// so there is never anything left to drain: retry is always 0.
func (f *FPGA) SwitchFrom(cc coproc.Context) (time.Duration, error) {
	c, err := f.own(cc, "SwitchFrom")
	if err != nil {
		return 0, err
	}
	if f.active != c {
		return 0, fmt.Errorf("sim: SwitchFrom: context of domain %q is not the active one", c.domain)
	}
	f.active = nil
	return 0, nil
}

// SwitchTo puts a context on the card. A context other than the last one to
// use the regions gets them with every port reset, so no accelerator state
// crosses between contexts; the configured accelerators stay (they are the
// host's vetted images, not tenant data).
func (f *FPGA) SwitchTo(cc coproc.Context) error {
	c, err := f.own(cc, "SwitchTo")
	if err != nil {
		return err
	}
	switch f.active {
	case c:
		return nil
	case nil:
	default:
		return fmt.Errorf("sim: SwitchTo %q: domain %q is still active; switch it out first (SwitchFrom)", c.domain, f.active.domain)
	}
	if f.last != c {
		f.stats.PortResets++
	}
	f.active, f.last = c, c
	f.now += f.cost.SwitchCost
	return nil
}

// SwitchCostTo predicts the device time handing the card to cc costs: the
// switch itself and the reconfiguration its next INVOKE needs given which
// accelerators are resident and cached now. It is what a policy that avoids
// thrashing the regions wants to know (see docs/fpga.md); Run charges the
// reconfiguration itself when it happens.
func (f *FPGA) SwitchCostTo(cc coproc.Context) time.Duration {
	c, err := f.own(cc, "SwitchCostTo")
	if err != nil {
		return f.cost.SwitchCost
	}
	for j, job := range c.jobs.Jobs() {
		start := 0
		if j == 0 {
			start = c.pos
		}
		for i := start; i < len(job.Commands); i++ {
			cmd := &job.Commands[i]
			if cmd.Op != spec.FPGAOpInvoke || cmd.N != 2 {
				continue
			}
			if _, ok := f.library[cmd.Operands[0]]; !ok {
				continue
			}
			cost, _, _ := f.reconfigCost(cmd.Operands[0], f.now+f.cost.SwitchCost)
			return f.cost.SwitchCost + cost
		}
	}
	return f.cost.SwitchCost
}

// ReadReg reads the hardware register file: pass-through, privileged and
// identification registers. Other offsets read 0.
func (f *FPGA) ReadReg(offset uint32) uint64 { return f.regs.Read(offset) }

// WriteReg writes the bits of value the register's mask allows. Writes to
// identification registers and outside the file are ignored.
func (f *FPGA) WriteReg(offset uint32, value uint64) { f.regs.Write(offset, value) }

// Enqueue appends an audited job to a context's queue.
func (f *FPGA) Enqueue(cc coproc.Context, job *coproc.Job) error {
	c, err := f.own(cc, "Enqueue")
	if err != nil {
		return err
	}
	return c.jobs.Push(c.domain, job)
}

// Pending is the number of jobs queued or running on a context.
func (f *FPGA) Pending(cc coproc.Context) int {
	c, err := f.own(cc, "Pending")
	if err != nil {
		return 0
	}
	return c.jobs.Len()
}

// Reset aborts the context's current job if it has started; queued jobs
// stay.
func (f *FPGA) Reset(cc coproc.Context) (uint64, bool) {
	c, err := f.own(cc, "Reset")
	if err != nil {
		return 0, false
	}
	if c.jobs.Len() == 0 || c.pos == 0 {
		return 0, false
	}
	id := c.jobs.Head().ID
	c.popJob()
	return id, true
}

func (c *context) popJob() {
	c.jobs.Pop()
	c.pos = 0
}
