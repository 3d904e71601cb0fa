package daemon

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/coprocd/coprocd/backends/gpu/nvml"
	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/internal/yamlpath"
	"github.com/coprocd/coprocd/isolation/cgroupdev"
)

// DefaultConfigYAML is the configuration coprocd runs on when given none: a
// reference GPU and a few example domains, sockets under a runtime
// directory chosen for the user running it. It works on any machine.
//
//go:embed default.yaml
var DefaultConfigYAML []byte

// Config is the daemon's configuration file.
type Config struct {
	// RuntimeDir holds the sockets and the lock file. Default: /run/coprocd
	// for root, $XDG_RUNTIME_DIR/coprocd or /tmp/coprocd-<uid> otherwise.
	RuntimeDir string `yaml:"runtime_dir"`
	// StateDir holds what survives a restart. Default: /var/lib/coprocd
	// for root, $XDG_STATE_HOME/coprocd or ~/.local/state/coprocd otherwise.
	StateDir string         `yaml:"state_dir"`
	Control  ControlConfig  `yaml:"control"`
	Watchdog Duration       `yaml:"watchdog"`
	Grace    Duration       `yaml:"shutdown_grace"`
	Devices  []DeviceConfig `yaml:"devices"`
	// NVML, when enabled, puts the machine's NVIDIA GPUs under coprocd:
	// discovery, MIG instances and time-slice shares for domains (their
	// "gpus"), accounting. See docs/nvml.md.
	NVML NVMLConfig `yaml:"nvml"`
	// Isolation configures the domains' device filters.
	Isolation IsolationConfig `yaml:"isolation"`
	Profiles  []Profile       `yaml:"profiles"`
	Domains   []DomainSpec    `yaml:"domains"`
}

// IsolationConfig configures device-node isolation.
type IsolationConfig struct {
	// PinDir is a directory in a BPF filesystem where each domain's device
	// filter is pinned, so that it stays in force while the daemon stops
	// or restarts (default /sys/fs/bpf/coprocd; "off": filters end with
	// the daemon). See docs/isolation.md.
	PinDir string `yaml:"pin_dir"`
}

// DefaultPinDir is where the domains' device filters are pinned.
const DefaultPinDir = "/sys/fs/bpf/coprocd"

// ControlConfig is the control API's socket.
type ControlConfig struct {
	// Socket is the control socket's path, relative to RuntimeDir unless
	// absolute. Default control.sock.
	Socket string `yaml:"socket"`
	// Mode is the socket's permission mode. Default 0600.
	Mode FileMode `yaml:"mode"`
	// AllowUIDs may use the control API besides root and the daemon's own
	// user; the kernel's peer credentials are checked on every connection.
	AllowUIDs []uint32 `yaml:"allow_uids"`
	// TCP, when set, also serves the API on this loopback address
	// (e.g. 127.0.0.1:7070). Non-loopback addresses are refused.
	TCP string `yaml:"tcp"`
}

// NVMLConfig enables the NVIDIA backend.
type NVMLConfig struct {
	Enabled bool `yaml:"enabled"`
	// ProcRoot and DevRoot locate /proc (devices, nvidia-caps) and /dev.
	ProcRoot string `yaml:"proc_root"`
	DevRoot  string `yaml:"dev_root"`
	// AccountingPeriod is how often the daemon samples the GPUs' processes
	// (memory, SM share), sums them per domain and checks quotas.
	AccountingPeriod Duration `yaml:"accounting_period"`
}

// DeviceConfig is one physical coprocessor.
type DeviceConfig struct {
	Name string `yaml:"name" json:"name"`
	// Backend is the kind of device: "refgpu", "reffpga" or "refdsp", the
	// reference models of a GPU, an FPGA card and a DSP.
	Backend string `yaml:"backend" json:"backend"`
	// VRAM is the device memory of a reference GPU or the on-board DDR of a
	// reference FPGA. Default 256MiB.
	VRAM Size `yaml:"vram" json:"vram"`
	// Preemption is "workgroup" (default) or "command" (refgpu only).
	Preemption string `yaml:"preemption" json:"preemption"`
	// Regions is the number of partial-reconfiguration regions (reffpga
	// only; default 2).
	Regions int `yaml:"regions" json:"regions,omitempty"`
	// CallBudget bounds one remote call's device time (refdsp only; a
	// longer call is refused before it runs). Zero: the spec's limits.
	CallBudget Duration `yaml:"call_budget" json:"call_budget,omitempty"`
	// SwitchCost is what one context switch (a save and a restore) costs a
	// reference GPU, taken from its device time (refgpu only; default the
	// model's 20 µs). The policies see it in the device's capabilities.
	SwitchCost Duration     `yaml:"switch_cost" json:"switch_cost,omitempty"`
	Policy     PolicyConfig `yaml:"policy" json:"policy"`
}

// MaxSwitchCost bounds a refgpu's switch_cost: a second is already far
// beyond any device's (a GPU's compute preemption takes microseconds, an
// FPGA's partial reconfiguration milliseconds).
const MaxSwitchCost = time.Second

// PolicyConfig selects and parameterizes a device's scheduling policy.
type PolicyConfig struct {
	// Name of the policy; see policyNames.
	Name string `yaml:"name" json:"name"`
	// Slice is the time slice (the quantum of the fair policies, the frame
	// of fixed-share). Default 10ms.
	Slice Duration `yaml:"slice" json:"slice"`
	// MaxVGPUs is the vGPU type's maximum per GPU for the NVIDIA replicas
	// (their slot count and default slice). Default 8.
	MaxVGPUs int `yaml:"max_vgpus" json:"max_vgpus,omitempty"`
}

// policyNames are the policies a device may run, with what they are.
var policyNames = map[string]string{
	"rrobin":             "round-robin, Xen SCF's rrobin",
	"wfq":                "weighted fair share (stride), weights from the vcoprocs",
	"equal":              "equal share among busy vcoprocs",
	"fixed-share":        "reserved fractions of a frame (slice), held while idle",
	"edf":                "EDF with constant-bandwidth servers: reservations only",
	"fp":                 "fixed priority with response-time admission",
	"realtime":           "EDF reservations first, weighted fair share of the rest",
	"gvtg":               "replica of Intel GVT-g's weighted time-based scheduler",
	"nvidia-best-effort": "replica of NVIDIA vGPU best effort",
	"nvidia-equal":       "replica of NVIDIA vGPU equal share",
	"nvidia-fixed":       "replica of NVIDIA vGPU fixed share",
	"amd-gim":            "replica of AMD GIM's 6 ms round-robin",
}

// Profile is a named share of a device, like an mdev type or a GVT-g vGPU
// type: what one instance gets, and how many instances there may be.
type Profile struct {
	Name   string `yaml:"name" json:"name"`
	Device string `yaml:"device" json:"device"`
	Weight uint32 `yaml:"weight" json:"weight"`
	Memory Size   `yaml:"memory" json:"memory"`
	// Reservation of each instance, for the real-time and share policies.
	Reservation `yaml:",inline" json:",inline"`
	// Instances is how many vcoprocs may use the profile at once.
	Instances int `yaml:"instances" json:"instances"`
}

// DomainSpec is a domain: who it is, and its vcoprocs.
type DomainSpec struct {
	Name string `yaml:"name" json:"name"`
	// UID and GID are the credentials a guest process must have (checked
	// by the kernel's peer credentials on the paravirtual socket); nil
	// means any.
	UID      *uint32       `yaml:"uid" json:"uid,omitempty"`
	GID      *uint32       `yaml:"gid" json:"gid,omitempty"`
	VCoprocs []VCoprocSpec `yaml:"vcoprocs" json:"vcoprocs"`
	// GPUs are NVIDIA GPUs given to the domain through NVML: a MIG profile
	// (1g.5gb) or a time-slice share (ts-1/2) of the GPU named by UUID or
	// index.
	GPUs []GPUSpec `yaml:"gpus" json:"gpus,omitempty"`
	// Cgroup is the domain's cgroup v2 directory (a container's). When set,
	// coprocd attaches a device filter that lets processes in it open
	// exactly the domain's device nodes: those of its GPUs plus
	// DeviceNodes ("c 1:3 rw"). See docs/isolation.md.
	Cgroup      string   `yaml:"cgroup" json:"cgroup,omitempty"`
	DeviceNodes []string `yaml:"device_nodes" json:"device_nodes,omitempty"`
	// PredictivePoll has the domain's paravirtual session learn the rhythm
	// of its guest's requests and be polling when the next is due, instead
	// of sleeping until the guest's doorbell (pvhost's predictive polling:
	// lower latency per call for a guest that calls at a steady rhythm,
	// for some CPU).
	PredictivePoll bool `yaml:"predictive_poll" json:"predictive_poll,omitempty"`
}

// GPUSpec is one NVIDIA GPU share of a domain.
type GPUSpec struct {
	GPU     string `yaml:"gpu" json:"gpu"`
	Profile string `yaml:"profile" json:"profile"`
	// Quota limits what the domain's processes use of this GPU, checked
	// every accounting period; the domain needs a cgroup (its processes
	// are found by their cgroup).
	Quota *GPUQuota `yaml:"quota" json:"quota,omitempty"`
}

// GPUQuota is a domain's limit on one NVIDIA GPU and what to do over it
// (see nvml.Quota and docs/nvml.md for what each action can promise).
type GPUQuota struct {
	Memory       Size   `yaml:"memory" json:"memory,omitempty"`
	MemoryAction string `yaml:"memory_action" json:"memory_action,omitempty"` // warn (default) or stop
	SMPercent    uint32 `yaml:"sm_percent" json:"sm_percent,omitempty"`
	SMAction     string `yaml:"sm_action" json:"sm_action,omitempty"` // warn (default), throttle or stop
	Grace        int    `yaml:"grace" json:"grace,omitempty"`         // over-quota samples tolerated before throttle or stop
}

// quota converts q to the enforcer's form and validates it.
func (q GPUQuota) quota() (nvml.Quota, error) {
	out := nvml.Quota{MemoryBytes: uint64(q.Memory), SMPercent: q.SMPercent, Grace: q.Grace, MemoryAction: nvml.Warn, SMAction: nvml.Warn}
	var err error
	if q.MemoryAction != "" {
		if out.MemoryAction, err = nvml.ParseAction(q.MemoryAction); err != nil {
			return nvml.Quota{}, err
		}
	}
	if q.SMAction != "" {
		if out.SMAction, err = nvml.ParseAction(q.SMAction); err != nil {
			return nvml.Quota{}, err
		}
	}
	if out.MemoryBytes == 0 && out.SMPercent == 0 {
		return nvml.Quota{}, errors.New("a quota needs memory or sm_percent")
	}
	return out, out.Validate()
}

// checkQuota validates a GPU's quota for a domain with the given cgroup.
func (g GPUSpec) checkQuota(cgroup string) error {
	if g.Quota == nil {
		return nil
	}
	if cgroup == "" {
		return errors.New("a quota needs the domain's cgroup: coprocd finds a domain's GPU processes by their cgroup")
	}
	_, err := g.Quota.quota()
	return err
}

// VCoprocSpec is one vcoproc of a domain: a device and either a profile or
// explicit parameters.
type VCoprocSpec struct {
	Device  string `yaml:"device" json:"device"`
	Profile string `yaml:"profile" json:"profile,omitempty"`
	Weight  uint32 `yaml:"weight" json:"weight,omitempty"`
	Memory  Size   `yaml:"memory" json:"memory,omitempty"`
	// Reservation, when not from a profile.
	Reservation `yaml:",inline" json:",inline"`
	// VFIOUser exposes the vcoproc to a virtual machine as a PCI device on
	// a vfio-user socket: <runtime_dir>/vfio-user/<domain>-<device>.sock.
	VFIOUser bool `yaml:"vfio_user" json:"vfio_user,omitempty"`
}

// Reservation is a vcoproc's guarantee: budget every period (EDF/CBS,
// fixed priority), a fixed share of the device, a priority.
type Reservation struct {
	Budget   Duration `yaml:"budget" json:"budget,omitempty"`
	Period   Duration `yaml:"period" json:"period,omitempty"`
	Deadline Duration `yaml:"deadline" json:"deadline,omitempty"`
	Share    float64  `yaml:"share" json:"share,omitempty"`
	Priority int      `yaml:"priority" json:"priority,omitempty"`
}

func (r Reservation) check() error {
	switch {
	case (r.Budget == 0) != (r.Period == 0):
		return fmt.Errorf("a reservation needs both budget and period")
	case r.Budget > r.Period:
		return fmt.Errorf("budget %v exceeds period %v", time.Duration(r.Budget), time.Duration(r.Period))
	case r.Deadline != 0 && r.Period == 0:
		return fmt.Errorf("a deadline needs a budget and a period")
	case r.Share < 0 || r.Share > 1:
		return fmt.Errorf("share %g must be in [0, 1]", r.Share)
	}
	return nil
}

func (r Reservation) isZero() bool { return r == Reservation{} }

// Defaults.
const (
	DefaultSlice = Duration(10_000_000) // 10 ms
	DefaultVRAM  = Size(256 << 20)
	DefaultGrace = Duration(5_000_000_000)
	// DefaultAccountingPeriod is NVML's own sampling granularity for
	// process utilization (about a second on current drivers).
	DefaultAccountingPeriod = Duration(1_000_000_000)
	DefaultSocketName       = "control.sock"
)

// ParseConfig reads a configuration strictly: unknown keys and impossible
// values are errors that name the source, the line and the reason.
func ParseConfig(data []byte, source string) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
		msg = strings.ReplaceAll(msg, "\n  ", "; ")
		msg = strings.ReplaceAll(msg, " in type daemon.", " in ")
		return nil, fmt.Errorf("%s: %s", source, msg)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		var ve *validationError
		if errors.As(err, &ve) {
			if line := yamlpath.Line(&root, ve.path...); line > 0 {
				return nil, fmt.Errorf("%s: line %d: %s", source, line, ve.msg)
			}
			return nil, fmt.Errorf("%s: %s", source, ve.msg)
		}
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &cfg, nil
}

// LoadConfig reads the file at path, or the embedded default for "".
func LoadConfig(path string) (*Config, error) {
	if path == "" {
		return ParseConfig(DefaultConfigYAML, "default configuration")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return ParseConfig(data, path)
}

func (c *Config) applyDefaults() {
	if c.RuntimeDir == "" {
		c.RuntimeDir = defaultRuntimeDir()
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir()
	}
	if c.Control.Socket == "" {
		c.Control.Socket = DefaultSocketName
	}
	if !filepath.IsAbs(c.Control.Socket) {
		c.Control.Socket = filepath.Join(c.RuntimeDir, c.Control.Socket)
	}
	if c.Control.Mode == 0 {
		c.Control.Mode = 0o600
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.Isolation.PinDir == "" {
		c.Isolation.PinDir = DefaultPinDir
	}
	if c.NVML.AccountingPeriod == 0 {
		c.NVML.AccountingPeriod = DefaultAccountingPeriod
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.VRAM == 0 && d.Backend != "refdsp" {
			d.VRAM = DefaultVRAM
		}
		if d.Preemption == "" {
			d.Preemption = "workgroup"
		}
		if d.Policy.Name == "" {
			d.Policy.Name = "rrobin"
		}
		if d.Policy.Slice == 0 {
			d.Policy.Slice = DefaultSlice
		}
	}
}

func defaultRuntimeDir() string { return api.DefaultRuntimeDir() }

func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/coprocd"
	}
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "coprocd")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "coprocd")
	}
	return filepath.Join(os.TempDir(), "coprocd-state-"+strconv.Itoa(os.Geteuid()))
}

// validationError is a bad value at a path of the YAML document.
type validationError struct {
	path []any // string keys and int indexes
	msg  string
}

func (e *validationError) Error() string { return e.msg }

func bad(msg string, path ...any) error { return &validationError{path: path, msg: msg} }

// Backends the daemon can build, and their preemption modes.
var knownBackends = map[string]bool{"refgpu": true, "reffpga": true, "refdsp": true}

func (c *Config) validate() error {
	if c.Watchdog < 0 {
		return bad("watchdog must not be negative", "watchdog")
	}
	if p := c.Isolation.PinDir; p != "off" && !filepath.IsAbs(p) {
		return bad(fmt.Sprintf("isolation.pin_dir %q must be an absolute path, or off", p), "isolation", "pin_dir")
	}
	if c.Control.TCP != "" {
		if err := checkLoopback(c.Control.TCP); err != nil {
			return bad(err.Error(), "control", "tcp")
		}
	}
	devices := map[string]bool{}
	for i, d := range c.Devices {
		if err := checkName(d.Name); err != nil {
			return bad("device "+err.Error(), "devices", i, "name")
		}
		if devices[d.Name] {
			return bad(fmt.Sprintf("device %q is defined twice", d.Name), "devices", i, "name")
		}
		devices[d.Name] = true
		if !knownBackends[d.Backend] {
			return bad(fmt.Sprintf("device %q: unknown backend %q (known: refgpu, reffpga, refdsp)", d.Name, d.Backend), "devices", i, "backend")
		}
		if d.Preemption != "workgroup" && d.Preemption != "command" {
			return bad(fmt.Sprintf("device %q: preemption %q must be workgroup or command", d.Name, d.Preemption), "devices", i, "preemption")
		}
		if d.Preemption != "workgroup" && d.Backend != "refgpu" {
			return bad(fmt.Sprintf("device %q: preemption applies to refgpu only (%s preempts at command boundaries)", d.Name, d.Backend), "devices", i, "preemption")
		}
		if d.Regions != 0 && d.Backend != "reffpga" {
			return bad(fmt.Sprintf("device %q: regions applies to reffpga only", d.Name), "devices", i, "regions")
		}
		if d.Regions < 0 || d.Regions > 64 {
			return bad(fmt.Sprintf("device %q: regions %d must be 1 to 64", d.Name, d.Regions), "devices", i, "regions")
		}
		if d.VRAM != 0 && d.Backend == "refdsp" {
			return bad(fmt.Sprintf("device %q: vram does not apply to refdsp (its TCM has a fixed size)", d.Name), "devices", i, "vram")
		}
		if d.CallBudget != 0 && d.Backend != "refdsp" {
			return bad(fmt.Sprintf("device %q: call_budget applies to refdsp only", d.Name), "devices", i, "call_budget")
		}
		if d.SwitchCost != 0 && d.Backend != "refgpu" {
			return bad(fmt.Sprintf("device %q: switch_cost applies to refgpu only", d.Name), "devices", i, "switch_cost")
		}
		if d.SwitchCost < 0 || time.Duration(d.SwitchCost) > MaxSwitchCost {
			return bad(fmt.Sprintf("device %q: switch_cost %v must be 0 (the model's) to %v", d.Name, time.Duration(d.SwitchCost), MaxSwitchCost), "devices", i, "switch_cost")
		}
		if err := d.Policy.check(); err != nil {
			return bad(fmt.Sprintf("device %q: %v", d.Name, err), "devices", i, "policy")
		}
	}
	profiles := map[string]*Profile{}
	for i := range c.Profiles {
		p := &c.Profiles[i]
		if p.Name == "" || strings.ContainsAny(p.Name, " \t\n") {
			return bad(fmt.Sprintf("profile name %q must be non-empty without spaces", p.Name), "profiles", i, "name")
		}
		if profiles[p.Name] != nil {
			return bad(fmt.Sprintf("profile %q is defined twice", p.Name), "profiles", i, "name")
		}
		if !devices[p.Device] {
			return bad(fmt.Sprintf("profile %q: no device %q", p.Name, p.Device), "profiles", i, "device")
		}
		if p.Instances <= 0 {
			return bad(fmt.Sprintf("profile %q: instances %d must be at least 1", p.Name, p.Instances), "profiles", i, "instances")
		}
		if p.Weight == 0 {
			return bad(fmt.Sprintf("profile %q: weight must be at least 1", p.Name), "profiles", i, "weight")
		}
		if err := p.Reservation.check(); err != nil {
			return bad(fmt.Sprintf("profile %q: %v", p.Name, err), "profiles", i)
		}
		profiles[p.Name] = p
	}
	domains := map[string]bool{}
	for i, d := range c.Domains {
		if err := checkName(d.Name); err != nil {
			return bad("domain "+err.Error(), "domains", i, "name")
		}
		if domains[d.Name] {
			return bad(fmt.Sprintf("domain %q is defined twice", d.Name), "domains", i, "name")
		}
		domains[d.Name] = true
		if len(d.GPUs) > 0 && !c.NVML.Enabled {
			return bad(fmt.Sprintf("domain %q asks for NVIDIA GPUs but nvml.enabled is false", d.Name), "domains", i, "gpus")
		}
		for j, g := range d.GPUs {
			if g.GPU == "" || g.Profile == "" {
				return bad(fmt.Sprintf("domain %q: a GPU needs gpu (UUID or index) and profile", d.Name), "domains", i, "gpus", j)
			}
			if err := g.checkQuota(d.Cgroup); err != nil {
				return bad(fmt.Sprintf("domain %q: GPU %s: %v", d.Name, g.GPU, err), "domains", i, "gpus", j, "quota")
			}
		}
		for j, n := range d.DeviceNodes {
			if _, err := cgroupdev.ParseRule(n); err != nil {
				return bad(fmt.Sprintf("domain %q: device node %q: %v", d.Name, n, err), "domains", i, "device_nodes", j)
			}
		}
		if d.Cgroup != "" && !filepath.IsAbs(d.Cgroup) {
			return bad(fmt.Sprintf("domain %q: cgroup %q must be an absolute path", d.Name, d.Cgroup), "domains", i, "cgroup")
		}
		seen := map[string]bool{}
		for j, v := range d.VCoprocs {
			if err := v.check(devices, profiles); err != nil {
				return bad(fmt.Sprintf("domain %q: %v", d.Name, err), "domains", i, "vcoprocs", j)
			}
			if seen[v.Device] {
				return bad(fmt.Sprintf("domain %q has two vcoprocs on %q", d.Name, v.Device), "domains", i, "vcoprocs", j)
			}
			seen[v.Device] = true
		}
	}
	return nil
}

func (p PolicyConfig) check() error {
	if _, ok := policyNames[p.Name]; !ok {
		return fmt.Errorf("unknown policy %q (known: %s)", p.Name, strings.Join(sortedKeys(policyNames), ", "))
	}
	if p.Slice <= 0 {
		return fmt.Errorf("policy slice must be positive")
	}
	if p.MaxVGPUs < 0 {
		return fmt.Errorf("policy max_vgpus %d must not be negative", p.MaxVGPUs)
	}
	return nil
}

func (v VCoprocSpec) check(devices map[string]bool, profiles map[string]*Profile) error {
	if !devices[v.Device] {
		return fmt.Errorf("vcoproc on unknown device %q", v.Device)
	}
	if err := v.Reservation.check(); err != nil {
		return fmt.Errorf("vcoproc on %q: %v", v.Device, err)
	}
	if v.Profile == "" {
		return nil
	}
	p, ok := profiles[v.Profile]
	if !ok {
		return fmt.Errorf("unknown profile %q", v.Profile)
	}
	if p.Device != v.Device {
		return fmt.Errorf("profile %q is for device %q, not %q", v.Profile, p.Device, v.Device)
	}
	if v.Weight != 0 || v.Memory != 0 || !v.Reservation.isZero() {
		return fmt.Errorf("vcoproc on %q: give a profile or weight/memory/reservation, not both", v.Device)
	}
	return nil
}

func checkName(name string) error {
	if name == "" || len(name) > 64 || strings.ContainsAny(name, "/ \t\n\x00") {
		return fmt.Errorf("name %q must be 1 to 64 characters without '/' or spaces", name)
	}
	if name == "." || name == ".." {
		// Names become file names (a domain's pinned device filter).
		return fmt.Errorf("name %q is a directory's name, not a valid one", name)
	}
	return nil
}
