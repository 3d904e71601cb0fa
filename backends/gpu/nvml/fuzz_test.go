package nvml

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

func giInfo(slices uint32, mb uint64) nvml.GpuInstanceProfileInfo {
	return nvml.GpuInstanceProfileInfo{SliceCount: slices, MemorySizeMB: mb}
}

func FuzzParseProcDevices(f *testing.F) {
	f.Add([]byte("Character devices:\n  1 mem\n195 nvidia-frontend\n\nBlock devices:\n  8 sd\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		majors, err := ParseProcDevices(data)
		if err != nil && majors != nil {
			t.Fatalf("error %v with a result", err)
		}
	})
}

func FuzzParseMIGMinors(f *testing.F) {
	f.Add([]byte("config 1\nmonitor 2\ngpu0/gi1/access 12\ngpu0/gi1/ci0/access 13\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		table, err := ParseMIGMinors(data)
		if err != nil {
			return
		}
		for name, minor := range table {
			if minor >= 1<<20 || name == "" {
				t.Fatalf("entry %q = %d escaped the checks", name, minor)
			}
		}
	})
}

// FuzzSchedulerState decodes any driver state and checks that a state
// which validates encodes into what the driver expects.
func FuzzSchedulerState(f *testing.F) {
	f.Add(uint32(3), uint32(1), uint64(5_000_000), uint32(0), uint32(0), false)
	f.Add(uint32(2), uint32(2), uint64(0), uint32(33), uint32(480), true)
	f.Fuzz(func(t *testing.T, policy, arrMode uint32, params uint64, avg, freq uint32, arr bool) {
		var raw nvml.VgpuSchedulerGetState
		raw.SchedulerPolicy, raw.ArrMode = policy, arrMode
		binary.NativeEndian.PutUint64(raw.SchedulerParams[:], params)
		_ = decodeSchedulerState(raw)

		caps := SchedulerCaps{Policies: []SchedulerPolicy{BestEffort, EqualShare, FixedShare}, MinTimeslice: time.Millisecond, MaxTimeslice: 30 * time.Millisecond,
			ARRSupported: true, MinARRFrequency: 100, MaxARRFrequency: 960, MinARRAvgFactor: 1, MaxARRAvgFactor: 60}
		s := SchedulerState{Policy: SchedulerPolicy(policy), ARR: arr, Timeslice: time.Duration(params % (1 << 33)), AvgFactor: avg, Frequency: freq}
		if caps.Validate(s) != nil || s.Policy == BestEffort {
			return
		}
		enc := encodeSchedulerState(s)
		first := binary.NativeEndian.Uint32(enc.SchedulerParams[0:4])
		if arr {
			second := binary.NativeEndian.Uint32(enc.SchedulerParams[4:8])
			if first != avg || second != freq || enc.EnableARRMode != nvml.VGPU_SCHEDULER_ARR_ENABLE {
				t.Fatalf("ARR state %+v encoded as %+v", s, enc)
			}
		} else if time.Duration(first) != s.Timeslice {
			t.Fatalf("state %+v encoded time slice %d", s, first)
		}
	})
}
