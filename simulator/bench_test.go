package simulator

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/coprocd/coprocd/internal/benchref"
	"github.com/coprocd/coprocd/scheduler"
)

// BenchmarkAutomotiveHour simulates one hour of virtual time of the
// automotive mix (issue 3's target: under 10 s of wall time), trace
// recorded, under round-robin and under EDF with constant-bandwidth
// servers for the real-time tenants and weighted fair share for the rest. It reports virtual seconds per wall second, and as the same-run
// baseline the same number of events pushed through and popped from the
// bare event heap with no simulation behind them: x-baseline is what the
// simulation and the policy cost on top of the agenda alone.
func BenchmarkAutomotiveHour(b *testing.B) {
	for _, p := range []struct {
		name string
		f    PolicyFactory
	}{
		{"rrobin", roundRobin(2 * ms)},
		{"edf-cbs+fair", edfThenFair(2 * ms)},
	} {
		b.Run(p.name, func(b *testing.B) {
			sc := Automotive(time.Hour)
			sc.RecordTrace = true
			probe, err := Run(p.f, sc, 1)
			if err != nil {
				b.Fatal(err)
			}
			events := int(probe.Events)
			var wall time.Duration
			benchref.Compare(b,
				func(n int) {
					for i := 0; i < n; i++ {
						bareHeap(events, uint64(i))
					}
				},
				func(n int) {
					start := time.Now()
					for i := 0; i < n; i++ {
						if _, err := Run(p.f, sc, uint64(i)); err != nil {
							b.Fatal(err)
						}
					}
					wall = time.Since(start)
				})
			b.ReportMetric(float64(events), "events/op")
			b.ReportMetric(sc.Horizon.Seconds()*float64(b.N)/wall.Seconds(), "virtual-s/wall-s")
		})
	}
}

// bareHeap pushes and pops n events through the agenda, keeping it at the
// automotive mix's size (a handful of pending events), with times drawn
// like a simulation's: a little ahead of the last one popped.
func bareHeap(n int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	var q agenda
	var now time.Duration
	for i := 0; i < 6; i++ {
		q.push(event{at: time.Duration(rng.Int64N(int64(ms))), idx: int32(i)})
	}
	for i := 0; i < n; i++ {
		e := q.pop()
		now = e.at
		q.push(event{at: now + time.Duration(rng.Int64N(int64(5*ms))), class: e.class, idx: e.idx})
	}
}

// TestAutomotiveHourIsReproducibleByteForByte is the benchmark's second
// target: the same seed gives the same trace, byte for byte, over the full
// hour. It simulates two hours (about 5 s), so it is skipped with -short
// and under the race detector, where TestSameSeedGivesTheSameTraceByteForByte
// checks the same over 20 s of the same mix.
func TestAutomotiveHourIsReproducibleByteForByte(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("two hours of virtual time take a minute under -race or -short; TestSameSeedGivesTheSameTraceByteForByte covers determinism there")
	}
	sc := Automotive(time.Hour)
	sc.RecordTrace = true
	var traces [2][]byte
	for i := range traces {
		res := run(t, edfThenFair(2*ms), sc, 60)
		traces[i] = traceText(t, res)
		if i == 0 {
			checkAccounting(t, sc, res)
			for _, v := range res.VCoprocs {
				if v.AdmitErr != nil {
					t.Fatalf("%s refused: %v", v.Name, v.AdmitErr)
				}
			}
			for _, name := range []string{"cluster", "adas-lane", "adas-objects"} {
				if m := vc(t, res, name).DeadlineMisses; m != 0 {
					t.Errorf("%s missed %d deadlines under EDF/CBS", name, m)
				}
			}
		}
	}
	if !bytes.Equal(traces[0], traces[1]) {
		t.Fatalf("same seed, different traces (%d and %d bytes)", len(traces[0]), len(traces[1]))
	}
	t.Logf("one hour: trace of %d bytes", len(traces[0]))
}

// edfThenFair is the composition the automotive mix calls for: EDF with
// constant-bandwidth servers for the reservations, weighted fair share for
// the best-effort tenants in what they leave.
func edfThenFair(quantum time.Duration) PolicyFactory {
	return func(d Device) (scheduler.Policy, error) {
		fair, err := scheduler.NewWeightedFair(quantum, d.Costs)
		if err != nil {
			return nil, err
		}
		return scheduler.NewHierarchical(scheduler.NewEDF(scheduler.ReservationConfig{Costs: d.Costs, Label: d.Name}), fair)
	}
}
