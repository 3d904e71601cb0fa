package nvml

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Options configure a Manager.
type Options struct {
	// ProcRoot is where /proc/devices and
	// /proc/driver/nvidia-caps/mig-minors are read ("/proc" when empty).
	ProcRoot string
	// DevRoot is the directory of the device nodes ("/dev" when empty).
	DevRoot string
	// TimeSliceDivisors are the time-slice profiles offered on GPUs without
	// MIG (DefaultTimeSliceDivisors when nil): divisor d is "ts-1/d".
	TimeSliceDivisors []uint32
}

// Manager owns NVML for the daemon: discovery, MIG instances and
// time-slice shares given to domains, the vGPU scheduler, and sampling for
// accounting. It is safe for concurrent use.
type Manager struct {
	lib   nvml.Interface
	nodes *nodeTable
	opts  Options

	mu     sync.Mutex
	gpus   []*GPU
	devs   map[string]nvml.Device // by UUID
	allocs map[string]*Allocation
	// shares[uuid] is the sum of the time-slice shares given out on a GPU,
	// in units of 1/shareDenominator of the GPU, so that sums are exact.
	shares map[string]uint64
	// lastSample[uuid] is the newest utilization timestamp seen.
	lastSample map[string]uint64
}

// shareDenominator is the unit of time-slice bookkeeping (8!, divisible by
// 1 to 10, 12, 14, 16, …); Open refuses divisors that do not divide it.
const shareDenominator = 40320

// Open initializes NVML (lib is nvml.New() in the daemon, a mock in tests)
// and discovers the GPUs.
func Open(lib nvml.Interface, opts Options) (*Manager, error) {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.DevRoot == "" {
		opts.DevRoot = "/dev"
	}
	if opts.TimeSliceDivisors == nil {
		opts.TimeSliceDivisors = DefaultTimeSliceDivisors
	}
	for _, d := range opts.TimeSliceDivisors {
		if d == 0 || shareDenominator%d != 0 {
			return nil, fmt.Errorf("nvml: time-slice divisor %d: want a divisor of %d (1 to 10, 12, 14, 16, …)", d, shareDenominator)
		}
	}
	nodes, err := loadNodeTable(opts.ProcRoot, opts.DevRoot)
	if err != nil {
		return nil, err
	}
	if err := check("nvmlInit", "", lib.Init()); err != nil {
		return nil, err
	}
	m := &Manager{lib: lib, nodes: nodes, opts: opts, devs: map[string]nvml.Device{}, allocs: map[string]*Allocation{}, shares: map[string]uint64{}}
	if err := m.rediscover(); err != nil {
		lib.Shutdown()
		return nil, err
	}
	return m, nil
}

func (m *Manager) rediscover() error {
	count, ret := m.lib.DeviceGetCount()
	if err := check("nvmlDeviceGetCount", "", ret); err != nil {
		return err
	}
	gpus := make([]*GPU, 0, count)
	devs := make(map[string]nvml.Device, count)
	for i := range count {
		dev, ret := m.lib.DeviceGetHandleByIndex(i)
		if err := check("nvmlDeviceGetHandleByIndex", fmt.Sprintf("GPU %d", i), ret); err != nil {
			return err
		}
		g, err := discover(i, dev, m.opts.TimeSliceDivisors)
		if err != nil {
			return err
		}
		gpus = append(gpus, g)
		devs[g.UUID] = dev
	}
	m.gpus, m.devs = gpus, devs
	return nil
}

// Close shuts NVML down. MIG instances stay: they belong to the GPU, not to
// the process. After a restart Allocate sees them as occupied placements
// and never reuses them; adopting them back into allocations is not
// implemented yet, so a daemon restart must clean them up (nvidia-smi mig
// -dci / -dgi) or re-create its domains elsewhere.
func (m *Manager) Close() error {
	return check("nvmlShutdown", "", m.lib.Shutdown())
}

// GPUs returns copies of the discovered GPUs.
func (m *Manager) GPUs() []GPU {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]GPU, len(m.gpus))
	for i, g := range m.gpus {
		out[i] = *g
		out[i].Profiles = slices.Clone(g.Profiles)
	}
	return out
}

// ErrUnknownGPU is wrapped when a UUID names no discovered GPU.
var ErrUnknownGPU = errors.New("no such GPU")

func (m *Manager) gpuLocked(uuid string) (*GPU, nvml.Device, error) {
	for _, g := range m.gpus {
		if g.UUID == uuid {
			return g, m.devs[uuid], nil
		}
	}
	return nil, nil, fmt.Errorf("nvml: GPU %q: %w", uuid, ErrUnknownGPU)
}

// SetMIGMode asks the driver to turn MIG on or off on a GPU. The new mode
// takes effect after a GPU reset on most systems: the returned MIGState
// says whether it is current already (Enabled) or only pending. Profiles
// are rediscovered. Refused while coprocd has allocations on the GPU.
func (m *Manager) SetMIGMode(uuid string, enabled bool) (MIGState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, dev, err := m.gpuLocked(uuid)
	if err != nil {
		return MIGState{}, err
	}
	if !g.MIG.Capable {
		return MIGState{}, fmt.Errorf("nvml: set MIG mode on %s (%s): %w", uuid, g.Name, ErrNotSupported)
	}
	for _, a := range m.allocs {
		if a.GPU == uuid {
			return MIGState{}, fmt.Errorf("nvml: set MIG mode on %s: allocation %s of domain %q still exists", uuid, a.ID, a.Domain)
		}
	}
	mode := nvml.DEVICE_MIG_DISABLE
	if enabled {
		mode = nvml.DEVICE_MIG_ENABLE
	}
	activation, ret := dev.SetMigMode(mode)
	if err := check("nvmlDeviceSetMigMode", uuid, ret); err != nil {
		return MIGState{}, err
	}
	if activation != nvml.SUCCESS && activation != nvml.ERROR_IN_USE {
		return MIGState{}, check("nvmlDeviceSetMigMode (activation)", uuid, activation)
	}
	if err := m.rediscover(); err != nil {
		return MIGState{}, err
	}
	g, _, err = m.gpuLocked(uuid)
	if err != nil {
		return MIGState{}, err
	}
	return g.MIG, nil
}

// SchedulerState reads a GPU's vGPU scheduler state.
func (m *Manager) SchedulerState(uuid string) (SchedulerState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, dev, err := m.gpuLocked(uuid)
	if err != nil {
		return SchedulerState{}, err
	}
	raw, ret := dev.GetVgpuSchedulerState()
	if err := check("nvmlDeviceGetVgpuSchedulerState", uuid, ret); err != nil {
		return SchedulerState{}, notSupported("vGPU scheduler state", err)
	}
	return decodeSchedulerState(raw), nil
}

// SetSchedulerState validates s against the GPU's capabilities and sets
// it. The driver accepts it only while no vGPU VM runs on the GPU.
func (m *Manager) SetSchedulerState(uuid string, s SchedulerState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, dev, err := m.gpuLocked(uuid)
	if err != nil {
		return err
	}
	if g.Scheduler == nil {
		return fmt.Errorf("nvml: set vGPU scheduler on %s (%s): %w", uuid, g.Name, g.SchedulerErr)
	}
	if err := g.Scheduler.Validate(s); err != nil {
		return fmt.Errorf("nvml: set vGPU scheduler on %s: %w", uuid, err)
	}
	raw := encodeSchedulerState(s)
	if err := check("nvmlDeviceSetVgpuSchedulerState", uuid, dev.SetVgpuSchedulerState(&raw)); err != nil {
		return notSupported("set vGPU scheduler state", err)
	}
	return nil
}
