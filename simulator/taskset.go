package simulator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/coprocd/coprocd/scheduler"
)

// maxDiscards bounds UUniFast-Discard's retries: at total/n near 1 almost
// every draw has a task above 1, and a caller asking for that should get an
// error, not a hang.
const maxDiscards = 10000

// UUniFast draws n task utilizations that sum to total, uniformly over the
// valid region (Bini & Buttazzo, "Measuring the performance of
// schedulability tests", 2005). For total > 1 it is UUniFast-Discard (Davis
// & Burns): a draw with a utilization above 1 is thrown away, so every
// utilization is in (0, 1]. The sum equals total up to floating-point
// rounding.
func UUniFast(rng *rand.Rand, n int, total float64) ([]float64, error) {
	if n <= 0 {
		return nil, fmt.Errorf("simulator: uunifast: %d tasks, need at least 1", n)
	}
	if !(total > 0) || total > float64(n) {
		return nil, fmt.Errorf("simulator: uunifast: total utilization %v must be in (0, %d] for %d tasks", total, n, n)
	}
	us := make([]float64, n)
	for attempt := 0; attempt < maxDiscards; attempt++ {
		sum := total
		ok := true
		for i := 0; i < n-1; i++ {
			next := sum * math.Pow(rng.Float64(), 1/float64(n-1-i))
			us[i] = sum - next
			sum = next
		}
		us[n-1] = sum
		for _, u := range us {
			if !(u > 0) || u > 1 {
				ok = false
				break
			}
		}
		if ok {
			return us, nil
		}
	}
	return nil, fmt.Errorf("simulator: uunifast: no draw of %d utilizations summing to %v with each in (0, 1] in %d attempts", n, total, maxDiscards)
}

// TaskSetSpec describes a random set of periodic real-time tasks.
type TaskSetSpec struct {
	// Tasks is the number of tasks.
	Tasks int
	// Utilization is the set's total utilization (sum of Exec/Period).
	Utilization float64
	// PeriodMin and PeriodMax bound the periods, drawn log-uniformly (the
	// usual choice: as many periods in [1, 10] ms as in [10, 100] ms) and
	// rounded down to a multiple of PeriodGranularity, which keeps the
	// hyperperiod bounded.
	PeriodMin, PeriodMax, PeriodGranularity time.Duration
	// Segment is each job's non-preemptible segment (0: the device's).
	Segment time.Duration
	// Device is the device the tasks run on ("" for the only one).
	Device string
}

// RandomTaskSet draws a task set: utilizations by UUniFast, log-uniform
// periods, implicit deadlines, execution time rounded down to the
// nanosecond (at least 1 ns). Each task is a Periodic vcoproc named
// "task<i>" whose Params reserve exactly its demand (Budget = Exec,
// Period = Deadline = its period), so an admission test sees the set as
// drawn.
func RandomTaskSet(rng *rand.Rand, spec TaskSetSpec) ([]VCoproc, error) {
	if spec.PeriodGranularity <= 0 {
		return nil, fmt.Errorf("simulator: task set: period granularity %v must be positive", spec.PeriodGranularity)
	}
	if spec.PeriodMin < spec.PeriodGranularity || spec.PeriodMax < spec.PeriodMin {
		return nil, fmt.Errorf("simulator: task set: periods [%v, %v] must satisfy granularity %v <= min <= max", spec.PeriodMin, spec.PeriodMax, spec.PeriodGranularity)
	}
	if spec.Segment < 0 {
		return nil, fmt.Errorf("simulator: task set: segment %v is negative", spec.Segment)
	}
	us, err := UUniFast(rng, spec.Tasks, spec.Utilization)
	if err != nil {
		return nil, err
	}
	lo, hi := math.Log(float64(spec.PeriodMin)), math.Log(float64(spec.PeriodMax))
	vcs := make([]VCoproc, spec.Tasks)
	for i, u := range us {
		period := time.Duration(math.Exp(lo + rng.Float64()*(hi-lo)))
		period -= period % spec.PeriodGranularity
		period = max(period, spec.PeriodMin-spec.PeriodMin%spec.PeriodGranularity)
		exec := max(time.Duration(u*float64(period)), 1)
		vcs[i] = VCoproc{
			Name:   fmt.Sprintf("task%d", i),
			Device: spec.Device,
			Params: scheduler.Params{Budget: exec, Period: period, Deadline: period},
			Workload: Periodic{
				JobSpec: JobSpec{Exec: exec, Segment: spec.Segment},
				Period:  period,
			},
		}
	}
	return vcs, nil
}
