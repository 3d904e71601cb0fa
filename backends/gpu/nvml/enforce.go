package nvml

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Action is what the daemon does about a domain over its quota.
type Action uint8

const (
	// Warn reports the violation (log, metric, event) and nothing else.
	Warn Action = iota + 1
	// Throttle pauses the domain's processes on the CPU side for part of
	// each accounting period (the daemon freezes the domain's cgroup for
	// Violation.PauseFraction of the period): they submit no new GPU work
	// while frozen. Work already queued on the GPU runs to completion —
	// NVML cannot preempt a CUDA context — so throttling bounds the
	// domain's average share over periods, not its instantaneous use.
	Throttle
	// Stop kills the domain's processes on the GPU (the daemon's Stop
	// hook, e.g. SIGKILL to Violation.PIDs). It is the only way to take
	// GPU memory or engine time back from a CUDA context: the driver
	// tears the context down when the process dies.
	Stop
)

func (a Action) String() string {
	switch a {
	case Warn:
		return "warn"
	case Throttle:
		return "throttle"
	case Stop:
		return "stop"
	}
	return fmt.Sprintf("Action(%d)", a)
}

// ParseAction reads the names String writes.
func ParseAction(s string) (Action, error) {
	for _, a := range []Action{Warn, Throttle, Stop} {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("nvml: action %q: want warn, throttle or stop", s)
}

// Resource names what a violation is about.
type Resource string

const (
	ResourceMemory Resource = "memory"
	ResourceSM     Resource = "sm"
)

// Quota is a domain's limit on one GPU. Zero limits are "no limit".
type Quota struct {
	MemoryBytes  uint64
	MemoryAction Action // Warn or Stop: memory cannot be throttled back
	SMPercent    uint32 // share of SM time, 1..100
	SMAction     Action // Warn, Throttle or Stop
	// Grace is how many consecutive over-quota samples are tolerated
	// before Throttle or Stop applies (Warn applies from the first), so a
	// single noisy sample does not kill a tenant.
	Grace int
}

// Validate says what is wrong with a quota.
func (q Quota) Validate() error {
	if q.MemoryBytes > 0 {
		switch q.MemoryAction {
		case Warn, Stop:
		case Throttle:
			return errors.New("nvml: quota: memory action throttle: a paused process keeps its GPU memory, so memory over quota can only be warned about or stopped")
		default:
			return fmt.Errorf("nvml: quota: memory action %v: want warn or stop", q.MemoryAction)
		}
	}
	if q.SMPercent > 100 {
		return fmt.Errorf("nvml: quota: SM share %d%% is above 100%%", q.SMPercent)
	}
	if q.SMPercent > 0 && q.SMAction != Warn && q.SMAction != Throttle && q.SMAction != Stop {
		return fmt.Errorf("nvml: quota: SM action %v: want warn, throttle or stop", q.SMAction)
	}
	if q.Grace < 0 {
		return fmt.Errorf("nvml: quota: grace %d is negative", q.Grace)
	}
	return nil
}

// Violation is a domain over its quota on one GPU at one sample.
type Violation struct {
	Domain   string
	GPU      string
	Resource Resource
	Used     uint64 // bytes or percent
	Limit    uint64
	// Consecutive counts the samples in a row this domain has been over on
	// this GPU and resource, this one included.
	Consecutive int
	// Action is what applies now: the quota's action once Consecutive
	// exceeds Grace, Warn before.
	Action Action
	// PauseFraction, for Throttle, is the part of the next period to keep
	// the domain frozen so that its average comes back to the limit:
	// 1 - limit/used.
	PauseFraction float64
	PIDs          []uint32
}

func (v Violation) String() string {
	return fmt.Sprintf("domain %q on %s: %s %d over limit %d (%d samples in a row): %s", v.Domain, v.GPU, v.Resource, v.Used, v.Limit, v.Consecutive, v.Action)
}

// Hooks are the daemon's side of enforcement. Warn must be set; Throttle
// and Stop must be set when a quota uses them.
type Hooks struct {
	Warn     func(Violation)
	Throttle func(Violation) error
	Stop     func(Violation) error
}

// Enforcer compares domain usage against quotas and applies actions. It is
// a pure state machine apart from the hooks: Evaluate decides, Apply acts.
type Enforcer struct {
	hooks  Hooks
	quotas map[string]map[string]Quota // domain → GPU → quota
	over   map[overKey]int
}

type overKey struct {
	domain, gpu string
	resource    Resource
}

// NewEnforcer makes an enforcer with no quotas.
func NewEnforcer(h Hooks) (*Enforcer, error) {
	if h.Warn == nil {
		return nil, errors.New("nvml: enforcer: the Warn hook is required (violations are never silent)")
	}
	return &Enforcer{hooks: h, quotas: map[string]map[string]Quota{}, over: map[overKey]int{}}, nil
}

// SetQuota sets (or with a zero Quota, clears) a domain's quota on a GPU.
func (e *Enforcer) SetQuota(domain, gpu string, q Quota) error {
	if err := q.Validate(); err != nil {
		return fmt.Errorf("domain %q on %s: %w", domain, gpu, err)
	}
	if (q.MemoryAction == Stop || q.SMAction == Stop) && e.hooks.Stop == nil {
		return fmt.Errorf("nvml: quota for domain %q: action stop needs the Stop hook", domain)
	}
	if q.SMAction == Throttle && e.hooks.Throttle == nil {
		return fmt.Errorf("nvml: quota for domain %q: action throttle needs the Throttle hook", domain)
	}
	if q == (Quota{}) {
		delete(e.quotas[domain], gpu)
		return nil
	}
	if e.quotas[domain] == nil {
		e.quotas[domain] = map[string]Quota{}
	}
	e.quotas[domain][gpu] = q
	return nil
}

// Evaluate returns the violations in usage, in a stable order, and updates
// the consecutive-sample counters (a domain back under its quota resets).
func (e *Enforcer) Evaluate(usage []DomainUsage) []Violation {
	var out []Violation
	seen := map[overKey]bool{}
	for _, d := range usage {
		for _, gpu := range slices.Sorted(maps.Keys(d.GPUs)) {
			g := d.GPUs[gpu]
			q, ok := e.quotas[d.Domain][gpu]
			if !ok {
				continue
			}
			if q.MemoryBytes > 0 && g.MemoryBytes > q.MemoryBytes {
				out = append(out, e.violation(seen, d.Domain, gpu, ResourceMemory, g.MemoryBytes, q.MemoryBytes, q.MemoryAction, q.Grace, g.PIDs))
			}
			if q.SMPercent > 0 && g.UtilizationKnown && g.SMPercent > q.SMPercent {
				v := e.violation(seen, d.Domain, gpu, ResourceSM, uint64(g.SMPercent), uint64(q.SMPercent), q.SMAction, q.Grace, g.PIDs)
				v.PauseFraction = 1 - float64(q.SMPercent)/float64(g.SMPercent)
				out = append(out, v)
			}
		}
	}
	for k := range e.over {
		if !seen[k] {
			delete(e.over, k)
		}
	}
	return out
}

func (e *Enforcer) violation(seen map[overKey]bool, domain, gpu string, r Resource, used, limit uint64, action Action, grace int, pids []uint32) Violation {
	k := overKey{domain, gpu, r}
	seen[k] = true
	e.over[k]++
	v := Violation{Domain: domain, GPU: gpu, Resource: r, Used: used, Limit: limit, Consecutive: e.over[k], Action: Warn, PIDs: slices.Clone(pids)}
	if v.Consecutive > grace {
		v.Action = action
	}
	return v
}

// Apply runs the hooks for each violation: every violation is warned
// about, and Throttle or Stop run when they apply. Hook errors are joined,
// each naming its violation; one failing hook does not stop the others.
func (e *Enforcer) Apply(violations []Violation) error {
	var errs []error
	for _, v := range violations {
		e.hooks.Warn(v)
		var err error
		switch v.Action {
		case Throttle:
			err = e.hooks.Throttle(v)
		case Stop:
			err = e.hooks.Stop(v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("nvml: %s: %w", v, err))
		}
	}
	return errors.Join(errs...)
}
