package mediator

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/scheduler"
)

// Config holds the mediator's settings. Zero values take the defaults.
type Config struct {
	// Clock is the time source (required): clock.Real in the daemon, a
	// clock.Virtual in tests and the simulator.
	Clock clock.Clock
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// WatchdogLimit is the device time one job may use (time blocked on a
	// WAIT included) before the watchdog aborts it. Default 2 s.
	WatchdogLimit time.Duration
	// PollInterval is how soon a job blocked on a WAIT is first looked at
	// again; each look that finds it still blocked doubles the wait before
	// the next, up to MaxPollInterval. Default 100 µs.
	PollInterval time.Duration
	// MaxPollInterval bounds that backoff: a WAIT released by a write that
	// tells the device nothing (the guest's CPU storing to shared memory
	// without ringing the doorbell) is seen within it. A release by a job
	// of the same domain, or followed by a doorbell, is seen at once
	// (blocked.go). Default 2 ms, or PollInterval if that is longer.
	MaxPollInterval time.Duration
	// TraceCapacity is how many context switches each device remembers.
	// Default 4096.
	TraceCapacity int
	// EventCapacity bounds each vcoproc's undelivered events; the oldest are
	// dropped (and counted) beyond it. Default 1024.
	EventCapacity int
	// MaxSwitchRetries bounds how often a switch-out is retried when the
	// backend says "not yet" before the outgoing job is reset. Default 16.
	MaxSwitchRetries int
	// MaxRun is the longest one Step runs the backend before asking the
	// policy again, whatever slice it granted. It bounds how late a wake is
	// seen: a vcoproc whose work arrives during another's slice is
	// considered at the next Step, so real-time policies get the device
	// within MaxRun plus the device's longest non-preemptible segment
	// (their blocking term). Default 1 ms.
	MaxRun time.Duration
}

// Defaults of Config.
const (
	DefaultWatchdogLimit    = 2 * time.Second
	DefaultPollInterval     = 100 * time.Microsecond
	DefaultMaxPollInterval  = 2 * time.Millisecond
	DefaultTraceCapacity    = 4096
	DefaultEventCapacity    = 1024
	DefaultMaxSwitchRetries = 16
	DefaultMaxRun           = time.Millisecond
)

// Mediator owns the domains and the physical devices they share. All its
// methods and those of its Domains, Devices and VCoprocs are safe for
// concurrent use: one lock serializes them, which also serializes every use
// of a domain's iommu.Context (a domain may have vcoprocs on several
// devices, and the contexts are not safe for concurrent use).
type Mediator struct {
	mu      sync.Mutex
	cfg     Config
	log     *slog.Logger
	devices map[string]*Device
	domains map[string]*Domain
	nextID  scheduler.ID
}

// New returns a mediator with no devices and no domains.
func New(cfg Config) (*Mediator, error) {
	if cfg.Clock == nil {
		return nil, errors.New("mediator: a Clock is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.WatchdogLimit, DefaultWatchdogLimit)
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.MaxPollInterval, max(DefaultMaxPollInterval, cfg.PollInterval))
	def(&cfg.MaxRun, DefaultMaxRun)
	if cfg.WatchdogLimit < 0 || cfg.PollInterval < 0 || cfg.MaxPollInterval < 0 || cfg.MaxRun < 0 || cfg.TraceCapacity < 0 || cfg.EventCapacity < 0 || cfg.MaxSwitchRetries < 0 {
		return nil, errors.New("mediator: negative limits in Config")
	}
	if cfg.MaxPollInterval < cfg.PollInterval {
		return nil, fmt.Errorf("mediator: MaxPollInterval %v is shorter than PollInterval %v", cfg.MaxPollInterval, cfg.PollInterval)
	}
	if cfg.TraceCapacity == 0 {
		cfg.TraceCapacity = DefaultTraceCapacity
	}
	if cfg.EventCapacity == 0 {
		cfg.EventCapacity = DefaultEventCapacity
	}
	if cfg.MaxSwitchRetries == 0 {
		cfg.MaxSwitchRetries = DefaultMaxSwitchRetries
	}
	return &Mediator{cfg: cfg, log: cfg.Logger, devices: map[string]*Device{}, domains: map[string]*Domain{}}, nil
}

func validName(kind, name string) error {
	if name == "" || len(name) > 64 || strings.ContainsAny(name, "/ \t\n\x00") {
		return fmt.Errorf("mediator: %s name %q must be 1 to 64 characters without '/' or spaces", kind, name)
	}
	return nil
}

// AddDevice puts a physical coprocessor under mediation with a policy.
func (m *Mediator) AddDevice(name string, b coproc.Backend, p scheduler.Policy) (*Device, error) {
	if err := validName("device", name); err != nil {
		return nil, err
	}
	if b == nil || p == nil {
		return nil, fmt.Errorf("mediator: device %q needs a backend and a policy", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.devices[name]; dup {
		return nil, fmt.Errorf("mediator: device %q exists", name)
	}
	d, err := newDevice(m, name, b, p)
	if err != nil {
		return nil, err
	}
	m.devices[name] = d
	return d, nil
}

// Device returns the named device.
func (m *Mediator) Device(name string) (*Device, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.devices[name]
	return d, ok
}

// Devices returns the devices sorted by name.
func (m *Mediator) Devices() []*Device {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Device, 0, len(m.devices))
	for _, d := range m.devices {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// CreateDomain creates a domain with an empty I/O address space.
func (m *Mediator) CreateDomain(name string) (*Domain, error) {
	if err := validName("domain", name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.domains[name]; dup {
		return nil, fmt.Errorf("mediator: domain %q exists", name)
	}
	d := &Domain{m: m, name: name, as: iommu.NewContext(name), vcoprocs: map[string]*VCoproc{}}
	m.domains[name] = d
	m.log.Info("domain created", "domain", name)
	return d, nil
}

// Domain returns the named domain.
func (m *Mediator) Domain(name string) (*Domain, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.domains[name]
	return d, ok
}

// DestroyDomain detaches all of a domain's vcoprocs (aborting their jobs,
// scrubbing and freeing their device memory) and drops its address space.
// Other domains are not disturbed.
func (m *Mediator) DestroyDomain(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.domains[name]
	if !ok {
		return fmt.Errorf("mediator: no domain %q", name)
	}
	for _, vc := range d.vcoprocs {
		vc.dev.detach(vc)
	}
	d.as.UnmapAll()
	delete(m.domains, name)
	m.log.Info("domain destroyed", "domain", name)
	return nil
}

// VCoprocConfig is what attaching a domain to a device takes.
type VCoprocConfig struct {
	Params scheduler.Params
	// MemoryQuota is how much of the device's memory the domain may hold.
	MemoryQuota uint64
}

// Attach gives a domain a vcoproc on a device.
func (m *Mediator) Attach(domain, device string, cfg VCoprocConfig) (*VCoproc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dom, ok := m.domains[domain]
	if !ok {
		return nil, fmt.Errorf("mediator: no domain %q", domain)
	}
	dev, ok := m.devices[device]
	if !ok {
		return nil, fmt.Errorf("mediator: no device %q", device)
	}
	if _, dup := dom.vcoprocs[device]; dup {
		return nil, fmt.Errorf("mediator: domain %q already has a vcoproc on %q", domain, device)
	}
	m.nextID++
	return dev.attach(dom, m.nextID, cfg)
}

// Now is the mediator's clock reading.
func (m *Mediator) Now() time.Duration { return m.cfg.Clock.Now() }
