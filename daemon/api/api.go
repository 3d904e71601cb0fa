// Package api holds the JSON types of coprocd's control API, shared by the
// daemon and coprocctl. Durations are nanoseconds; sizes are bytes.
//
// Routes (HTTP over the control UNIX socket; loopback TCP only when
// configured):
//
//	GET    /v1/devices                         []Device
//	GET    /v1/devices/{device}/policy         Policy
//	PUT    /v1/devices/{device}/policy         Policy -> Policy
//	GET    /v1/devices/{device}/trace          []Switch
//	GET    /v1/profiles                        []Profile
//	GET    /v1/domains                         []Domain
//	POST   /v1/domains                         DomainRequest -> Domain
//	DELETE /v1/domains/{domain}
//	POST   /v1/domains/{domain}/vcoprocs       VCoprocRequest -> Domain
//	DELETE /v1/domains/{domain}/vcoprocs/{device}
//	GET    /v1/stats                           Stats
//	GET    /metrics                            Prometheus text format
//
// Errors come back with a 4xx or 5xx status and an Error body whose message
// is the daemon's, unchanged. Creating a domain or a vcoproc answers 409
// Conflict when the device's policy refuses to admit a vcoproc (its
// guarantee cannot be kept, or its parameters do not fit the policy the
// device runs), 400 when the request itself is wrong.
package api

// Error is the body of every failed request.
type Error struct {
	Error string `json:"error"`
}

// Device is one physical coprocessor.
type Device struct {
	Name     string      `json:"name"`
	Class    string      `json:"class"`
	Model    string      `json:"model"`
	Backend  string      `json:"backend"`
	Policy   Policy      `json:"policy"`
	Active   string      `json:"active"`
	VCoprocs []string    `json:"vcoprocs"`
	Memory   uint64      `json:"memory_bytes"`
	Stats    DeviceStats `json:"stats"`
}

// Policy is a device's scheduling policy.
type Policy struct {
	Name    string `json:"name"`
	SliceNs int64  `json:"slice_ns"`
	// MaxVGPUs parameterizes the NVIDIA replicas.
	MaxVGPUs int `json:"max_vgpus,omitempty"`
}

// DeviceStats are a device's counters since the daemon started.
type DeviceStats struct {
	Switches     uint64  `json:"switches"`
	SwitchTimeNs int64   `json:"switch_time_ns"`
	BusyNs       int64   `json:"busy_ns"`
	Retries      uint64  `json:"switch_retries"`
	Timeouts     uint64  `json:"timeouts"`
	UptimeNs     int64   `json:"uptime_ns"`
	Utilization  float64 `json:"utilization"`
}

// Profile is a named share of a device.
type Profile struct {
	Name      string `json:"name"`
	Device    string `json:"device"`
	Weight    uint32 `json:"weight"`
	Memory    uint64 `json:"memory_bytes"`
	Instances int    `json:"instances"`
	Available int    `json:"available_instances"`
}

// Domain is a domain and its vcoprocs.
type Domain struct {
	Name     string    `json:"name"`
	Source   string    `json:"source"` // "config" or "api"
	UID      *uint32   `json:"uid,omitempty"`
	GID      *uint32   `json:"gid,omitempty"`
	VCoprocs []VCoproc `json:"vcoprocs"`
	// Cgroup and Isolation: "enforced" when a device filter holds the
	// cgroup to the domain's nodes, "off: <why>" when it could not be
	// attached; empty without a cgroup.
	// Socket is where the domain's guests connect (the paravirtual
	// protocol, docs/pv-protocol.md); Sessions counts connected guests.
	Socket   string `json:"socket,omitempty"`
	Sessions int    `json:"sessions"`
	// PredictivePoll is the domain's setting; PredictedSleeps counts its
	// sessions' timed sleeps until shortly before a predicted request,
	// PredictedHits the requests that came while they polled for them
	// (connected sessions only).
	PredictivePoll  bool     `json:"predictive_poll,omitempty"`
	PredictedSleeps uint64   `json:"predicted_sleeps,omitempty"`
	PredictedHits   uint64   `json:"predicted_hits,omitempty"`
	Cgroup          string   `json:"cgroup,omitempty"`
	Isolation       string   `json:"isolation,omitempty"`
	Nodes           []string `json:"device_nodes,omitempty"`
	GPUs            []GPU    `json:"gpus,omitempty"`
}

// GPU is an NVIDIA GPU share a domain holds through NVML.
type GPU struct {
	ID      string `json:"id"`
	UUID    string `json:"uuid"`
	Profile string `json:"profile"`
	Memory  uint64 `json:"memory_bytes"`
	// Use at the latest accounting sample: memory, SM share (when the
	// driver reports it) and processes of the domain on this GPU.
	MemoryUsed uint64  `json:"memory_used_bytes"`
	SMPercent  *uint32 `json:"sm_percent,omitempty"`
	Processes  int     `json:"processes"`
}

// VCoproc is one domain's virtual coprocessor on one device.
type VCoproc struct {
	Name    string `json:"name"`
	Device  string `json:"device"`
	Profile string `json:"profile,omitempty"`
	Weight  uint32 `json:"weight"`
	// BudgetNs every PeriodNs: the vcoproc's reservation, if any.
	BudgetNs int64  `json:"budget_ns,omitempty"`
	PeriodNs int64  `json:"period_ns,omitempty"`
	Memory   uint64 `json:"memory_quota_bytes"`
	State    string `json:"state"`
	// VFIOUser is the vfio-user socket a VM attaches to, when exposed.
	VFIOUser string       `json:"vfio_user_socket,omitempty"`
	Stats    VCoprocStats `json:"stats"`
}

// VCoprocStats are a vcoproc's counters.
type VCoprocStats struct {
	Jobs         uint64 `json:"jobs"`
	JobsDone     uint64 `json:"jobs_done"`
	JobsFailed   uint64 `json:"jobs_failed"`
	Timeouts     uint64 `json:"timeouts"`
	Refused      uint64 `json:"refused"`
	Denied       uint64 `json:"denied"`
	AccessErrors uint64 `json:"access_errors"`
	Faults       uint64 `json:"faults"`
	SwitchesIn   uint64 `json:"switches_in"`
	BusyNs       int64  `json:"busy_ns"`
	MemoryUsed   uint64 `json:"memory_used_bytes"`
	// DeadlineMisses counts jobs that ended after the reservation's
	// deadline; LatencyMaxNs and LatencyMeanNs summarize job latency
	// (the full histogram is in the metrics).
	DeadlineMisses uint64 `json:"deadline_misses"`
	LatencyMeanNs  int64  `json:"latency_mean_ns"`
	LatencyMaxNs   int64  `json:"latency_max_ns"`
}

// DomainRequest creates a domain.
type DomainRequest struct {
	Name        string           `json:"name"`
	UID         *uint32          `json:"uid,omitempty"`
	GID         *uint32          `json:"gid,omitempty"`
	VCoprocs    []VCoprocRequest `json:"vcoprocs"`
	GPUs        []GPURequest     `json:"gpus,omitempty"`
	Cgroup      string           `json:"cgroup,omitempty"`
	DeviceNodes []string         `json:"device_nodes,omitempty"`
}

// GPURequest asks for an NVIDIA GPU share: a MIG profile (1g.5gb) or a
// time-slice share (ts-1/2) of the GPU named by UUID or index.
type GPURequest struct {
	GPU     string `json:"gpu"`
	Profile string `json:"profile"`
	// Quota limits the domain's use of the GPU (the domain needs a
	// cgroup); see docs/nvml.md.
	Quota *GPUQuota `json:"quota,omitempty"`
}

// GPUQuota is a domain's limit on an NVIDIA GPU and the action over it:
// memory_action warn or stop, sm_action warn, throttle or stop; grace is
// how many over-quota samples in a row are tolerated before the action.
type GPUQuota struct {
	MemoryBytes  uint64 `json:"memory_bytes,omitempty"`
	MemoryAction string `json:"memory_action,omitempty"`
	SMPercent    uint32 `json:"sm_percent,omitempty"`
	SMAction     string `json:"sm_action,omitempty"`
	Grace        int    `json:"grace,omitempty"`
}

// VCoprocRequest attaches a vcoproc: a profile, or a weight and a memory
// quota.
type VCoprocRequest struct {
	Device  string `json:"device"`
	Profile string `json:"profile,omitempty"`
	Weight  uint32 `json:"weight,omitempty"`
	Memory  uint64 `json:"memory_bytes,omitempty"`
	// A reservation, for the real-time and share policies: budget every
	// period (due by deadline), a fixed share, a priority.
	BudgetNs   int64   `json:"budget_ns,omitempty"`
	PeriodNs   int64   `json:"period_ns,omitempty"`
	DeadlineNs int64   `json:"deadline_ns,omitempty"`
	Share      float64 `json:"share,omitempty"`
	Priority   int     `json:"priority,omitempty"`
	// VFIOUser exposes the vcoproc on a vfio-user socket for a VM.
	VFIOUser bool `json:"vfio_user,omitempty"`
}

// Switch is one context switch of a device's trace.
type Switch struct {
	AtNs    int64  `json:"at_ns"`
	From    string `json:"from"`
	To      string `json:"to"`
	CostNs  int64  `json:"cost_ns"`
	Retries int    `json:"retries,omitempty"`
}

// Stats is every device's and every vcoproc's counters at one instant.
type Stats struct {
	UptimeNs int64 `json:"uptime_ns"`
	// MonotonicNs is the host's CLOCK_MONOTONIC, which every process on
	// the host shares, read at the same instant as UptimeNs: the offset
	// between the two places the daemon's clock (UptimeNs, a Switch's
	// AtNs) on the timeline other processes measure with, as the
	// benchmark harness's live mode does with its guests' records.
	MonotonicNs int64    `json:"monotonic_ns"`
	Devices     []Device `json:"devices"`
	Domains     []Domain `json:"domains"`
}
