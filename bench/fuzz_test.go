package bench

import (
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
