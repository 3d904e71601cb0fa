package nvml

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// SchedulerPolicy is a vGPU scheduler policy (NVML_VGPU_SCHEDULER_POLICY_*).
type SchedulerPolicy uint32

const (
	// BestEffort: round-robin among vGPUs with work, no guarantee.
	BestEffort SchedulerPolicy = nvml.VGPU_SCHEDULER_POLICY_BEST_EFFORT
	// EqualShare: each running vGPU gets an equal share of time.
	EqualShare SchedulerPolicy = nvml.VGPU_SCHEDULER_POLICY_EQUAL_SHARE
	// FixedShare: each vGPU gets a share fixed by its vGPU type, whether
	// the others run or not.
	FixedShare SchedulerPolicy = nvml.VGPU_SCHEDULER_POLICY_FIXED_SHARE
)

func (p SchedulerPolicy) String() string {
	switch p {
	case BestEffort:
		return "best-effort"
	case EqualShare:
		return "equal-share"
	case FixedShare:
		return "fixed-share"
	}
	return fmt.Sprintf("SchedulerPolicy(%d)", uint32(p))
}

// ParseSchedulerPolicy reads the names String writes.
func ParseSchedulerPolicy(s string) (SchedulerPolicy, error) {
	for _, p := range []SchedulerPolicy{BestEffort, EqualShare, FixedShare} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("nvml: scheduler policy %q: want best-effort, equal-share or fixed-share", s)
}

// SchedulerCaps is what the vGPU scheduler of a GPU offers.
type SchedulerCaps struct {
	Policies                         []SchedulerPolicy
	MinTimeslice, MaxTimeslice       time.Duration
	ARRSupported                     bool // adaptive round-robin
	MinARRFrequency, MaxARRFrequency uint32
	MinARRAvgFactor, MaxARRAvgFactor uint32
}

// SchedulerState is the vGPU scheduler's configuration. With ARR on, the
// driver adapts each vGPU's slice from its recent use: Frequency (for Set)
// and AvgFactor apply; with ARR off, Timeslice does. Timeslice is also
// reported with ARR on (the slice the driver chose).
type SchedulerState struct {
	Policy    SchedulerPolicy
	ARR       bool
	Timeslice time.Duration
	AvgFactor uint32
	Frequency uint32 // set only: scheduling frequency for ARR
}

func readSchedulerCaps(dev nvml.Device, uuid string) (SchedulerCaps, error) {
	raw, ret := dev.GetVgpuSchedulerCapabilities()
	if err := check("nvmlDeviceGetVgpuSchedulerCapabilities", uuid, ret); err != nil {
		return SchedulerCaps{}, notSupported("vGPU scheduler capabilities", err)
	}
	return decodeSchedulerCaps(raw), nil
}

func decodeSchedulerCaps(raw nvml.VgpuSchedulerCapabilities) SchedulerCaps {
	c := SchedulerCaps{
		MinTimeslice:    time.Duration(raw.MinTimeslice),
		MaxTimeslice:    time.Duration(raw.MaxTimeslice),
		ARRSupported:    raw.IsArrModeSupported != 0,
		MinARRFrequency: raw.MinFrequencyForARR,
		MaxARRFrequency: raw.MaxFrequencyForARR,
		MinARRAvgFactor: raw.MinAvgFactorForARR,
		MaxARRAvgFactor: raw.MaxAvgFactorForARR,
	}
	for _, p := range raw.SupportedSchedulers {
		if p != nvml.VGPU_SCHEDULER_POLICY_UNKNOWN && !slices.Contains(c.Policies, SchedulerPolicy(p)) {
			c.Policies = append(c.Policies, SchedulerPolicy(p))
		}
	}
	return c
}

// decodeSchedulerState reads the driver's state; the params union holds
// {avgFactor, timeslice} with ARR on and {timeslice} with it off, 32-bit
// words in host order (the C union's layout).
func decodeSchedulerState(raw nvml.VgpuSchedulerGetState) SchedulerState {
	s := SchedulerState{Policy: SchedulerPolicy(raw.SchedulerPolicy), ARR: raw.ArrMode == nvml.VGPU_SCHEDULER_ARR_ENABLE}
	first := binary.NativeEndian.Uint32(raw.SchedulerParams[0:4])
	second := binary.NativeEndian.Uint32(raw.SchedulerParams[4:8])
	if s.ARR {
		s.AvgFactor, s.Timeslice = first, time.Duration(second)
	} else {
		s.Timeslice = time.Duration(first)
	}
	return s
}

// encodeSchedulerState builds the driver's set request, after Validate.
func encodeSchedulerState(s SchedulerState) nvml.VgpuSchedulerSetState {
	raw := nvml.VgpuSchedulerSetState{SchedulerPolicy: uint32(s.Policy), EnableARRMode: nvml.VGPU_SCHEDULER_ARR_DISABLE}
	if s.ARR {
		raw.EnableARRMode = nvml.VGPU_SCHEDULER_ARR_ENABLE
		binary.NativeEndian.PutUint32(raw.SchedulerParams[0:4], s.AvgFactor)
		binary.NativeEndian.PutUint32(raw.SchedulerParams[4:8], s.Frequency)
	} else {
		binary.NativeEndian.PutUint32(raw.SchedulerParams[0:4], uint32(s.Timeslice.Nanoseconds()))
	}
	return raw
}

// Validate checks a requested state against the capabilities, naming the
// value that is out of range.
func (c SchedulerCaps) Validate(s SchedulerState) error {
	if !slices.Contains(c.Policies, s.Policy) {
		names := make([]string, len(c.Policies))
		for i, p := range c.Policies {
			names[i] = p.String()
		}
		return fmt.Errorf("nvml: scheduler policy %s is not offered (offered: %s)", s.Policy, strings.Join(names, ", "))
	}
	if s.Policy == BestEffort {
		return nil // the driver ignores the parameters
	}
	if s.ARR {
		if !c.ARRSupported {
			return fmt.Errorf("nvml: adaptive round-robin: %w", ErrNotSupported)
		}
		if s.Frequency < c.MinARRFrequency || s.Frequency > c.MaxARRFrequency {
			return fmt.Errorf("nvml: ARR frequency %d is outside [%d, %d]", s.Frequency, c.MinARRFrequency, c.MaxARRFrequency)
		}
		if s.AvgFactor < c.MinARRAvgFactor || s.AvgFactor > c.MaxARRAvgFactor {
			return fmt.Errorf("nvml: ARR averaging factor %d is outside [%d, %d]", s.AvgFactor, c.MinARRAvgFactor, c.MaxARRAvgFactor)
		}
		return nil
	}
	if s.Timeslice < c.MinTimeslice || s.Timeslice > c.MaxTimeslice {
		return fmt.Errorf("nvml: time slice %v is outside [%v, %v]", s.Timeslice, c.MinTimeslice, c.MaxTimeslice)
	}
	return nil
}
