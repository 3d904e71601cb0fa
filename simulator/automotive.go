package simulator

import (
	"time"

	"github.com/coprocd/coprocd/scheduler"
)

// Automotive is the reference automotive mix from the design brief, on one
// GPU that preempts at 2 ms command boundaries and switches in 30 µs:
//
//   - cluster: the instrument cluster, a frame every 1/60 s (16.666667 ms)
//     due before the next, 3–4 ms of rendering in 0.5 ms draw calls;
//   - ivi: infotainment flooding the device with 20 ms jobs made of 2 ms
//     kernels (a closed loop: it always has work);
//   - adas-lane: lane keeping, 3 ms every 33.3 ms, due in 25 ms;
//   - adas-objects: object detection, 4–6 ms every 50 ms in 1 ms layers.
//
// The Params give each tenant what the policies of issue 3 read: a
// reservation with its priority for the real-time ones (budget with 25%
// headroom), a weight for all.
func Automotive(horizon time.Duration) Scenario {
	const frame = time.Second / 60
	return Scenario{
		Horizon: horizon,
		Devices: []Device{{Name: "gpu0", Costs: scheduler.Costs{SwitchCost: 30 * time.Microsecond, MaxNonPreemptible: 2 * time.Millisecond}}},
		VCoprocs: []VCoproc{
			{
				Name:     "cluster",
				Params:   scheduler.Params{Weight: 4, Priority: 30, Budget: 5 * time.Millisecond, Period: frame},
				Workload: Periodic{JobSpec: JobSpec{Exec: 4 * time.Millisecond, ExecMin: 3 * time.Millisecond, Segment: 500 * time.Microsecond}, Period: frame},
			},
			{
				Name:     "ivi",
				Params:   scheduler.Params{Weight: 1},
				Workload: Saturating{JobSpec{Exec: 20 * time.Millisecond, Segment: 2 * time.Millisecond}},
			},
			{
				Name:     "adas-lane",
				Params:   scheduler.Params{Weight: 2, Priority: 20, Budget: 3750 * time.Microsecond, Period: 100 * time.Millisecond / 3, Deadline: 25 * time.Millisecond},
				Workload: Periodic{JobSpec: JobSpec{Exec: 3 * time.Millisecond, Segment: time.Millisecond, Deadline: 25 * time.Millisecond}, Period: 100 * time.Millisecond / 3, Offset: 2 * time.Millisecond},
			},
			{
				Name:     "adas-objects",
				Params:   scheduler.Params{Weight: 2, Priority: 10, Budget: 7500 * time.Microsecond, Period: 50 * time.Millisecond},
				Workload: Periodic{JobSpec: JobSpec{Exec: 6 * time.Millisecond, ExecMin: 4 * time.Millisecond, Segment: time.Millisecond}, Period: 50 * time.Millisecond, Offset: 5 * time.Millisecond},
			},
		},
	}
}
