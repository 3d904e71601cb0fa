package bench

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/simulator"
)

// FuzzParse: no input makes the parser panic, and whatever it accepts the
// simulator accepts too (the parser's checks cover the simulator's), so a
// scenario that parses never fails later with an error without a line.
func FuzzParse(f *testing.F) {
	for _, name := range Shipped() {
		data, err := shipped.ReadFile("scenarios/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(goodScenario))
	f.Add([]byte(minimal))
	f.Add([]byte("name: x\ndevices: [{name: g}]\ndomains: [{name: a, stop: 0%, workload: {type: periodic, period: 1GHz, exec: 1ns}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		if len(sc.Domains()) > 16 {
			return // a short run of every accepted scenario is the point; keep it short
		}
		sim, err := sc.Build(10*time.Microsecond, 1, true)
		if err != nil {
			if sc.file.TaskSets != nil || strings.Contains(err.Error(), "with horizon") {
				// A task set the draw refuses, or a stop given as a share of
				// the horizon that falls before an absolute start at this
				// shorter horizon: both named in the error.
				return
			}
			t.Fatalf("parsed but does not build: %v", err)
		}
		rr := func(d simulator.Device) (scheduler.Policy, error) {
			return scheduler.NewRoundRobin(time.Millisecond, d.Costs)
		}
		if _, err := simulator.Run(rr, sim, 1); err != nil {
			t.Fatalf("parsed but the simulator refuses it: %v", err)
		}
	})
}

// FuzzParseGuestSpec: no input makes the guest's spec parser panic, and a
// spec it accepts plans every job its workload can release (the shortest
// and the longest, and so all between) and survives a round trip.
func FuzzParseGuestSpec(f *testing.F) {
	good, err := json.Marshal(validGuestSpec())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"domain":"a","socket":"/s","horizon_ns":1000000000,"slots":1,"max_elements":64,"workload":{"type":"on_off","exec_ns":1000,"rate":5,"on_mean_ns":1,"off_mean_ns":1},"cost_model":{"ClockHz":1000000000,"IssueCycles":100,"BytesPerCycle":64,"FlopsPerCycle":64,"LaunchCycles":200}}`))
	f.Add([]byte(`{"domain":"a","workload":{"type":"saturating","exec_ns":-5}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseGuestSpec(data)
		if err != nil {
			return
		}
		costs, err := newLiveCosts(s.Cost)
		if err != nil {
			t.Fatalf("accepted a spec whose cost model is refused: %v", err)
		}
		n, err := s.plan(costs)
		if err != nil {
			t.Fatalf("accepted a spec whose jobs cannot be planned: %v", err)
		}
		for _, exec := range []int64{s.Workload.ExecMinNS, s.Workload.ExecNS} {
			if exec == 0 {
				continue
			}
			p, err := costs.plan(time.Duration(exec), n)
			if err != nil {
				t.Fatalf("no plan for a %d ns job of an accepted spec: %v", exec, err)
			}
			if costs.cycleCount(p) != costs.m.DurationToCycles(time.Duration(exec)) {
				t.Fatalf("the plan for %d ns costs %d cycles, want %d", exec, costs.cycleCount(p), costs.m.DurationToCycles(time.Duration(exec)))
			}
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseGuestSpec(again)
		if err != nil || back != s {
			t.Fatalf("round trip: %v, %+v != %+v", err, back, s)
		}
	})
}
