package bench

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gpusim "github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/simulator"
)

func validGuestSpec() GuestSpec {
	return GuestSpec{Domain: "a", Socket: "/run/coprocd/pv/a.sock", HorizonNS: int64(time.Second),
		Workload: GuestWorkload{Type: "periodic", ExecNS: int64(time.Millisecond), PeriodNS: int64(10 * time.Millisecond)},
		Cost:     gpusim.DefaultCostModel(), MaxElements: liveMaxElements, Slots: 4}
}

func specJSON(t *testing.T, edit func(*GuestSpec)) string {
	t.Helper()
	s := validGuestSpec()
	if edit != nil {
		edit(&s)
	}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}

// TestGuestSpecRefusesBadWorkloads: every impossible spec is refused with
// what is wrong, before the guest connects.
func TestGuestSpecRefusesBadWorkloads(t *testing.T) {
	s, err := ParseGuestSpec([]byte(specJSON(t, nil)))
	require.NoError(t, err)
	assert.Equal(t, validGuestSpec(), s)

	for _, tc := range []struct {
		name string
		json string
		want string
	}{
		{"not JSON", "{", "the spec is not valid JSON for a guest"},
		{"unknown field", `{"domain": "a", "colour": "red"}`, `unknown field "colour"`},
		{"two values", specJSON(t, nil) + " {}", "more than one JSON value"},
		{"no domain", specJSON(t, func(s *GuestSpec) { s.Domain = "" }), "names no domain"},
		{"no socket", specJSON(t, func(s *GuestSpec) { s.Socket = "" }), `bench guest "a": no socket`},
		{"no horizon", specJSON(t, func(s *GuestSpec) { s.HorizonNS = 0 }), "horizon_ns 0 must be in"},
		{"start at the horizon", specJSON(t, func(s *GuestSpec) { s.StartNS = s.HorizonNS }), "start_ns 1000000000 must be in [0, horizon_ns"},
		{"stop before start", specJSON(t, func(s *GuestSpec) { s.StartNS, s.StopNS = 500, 100 }), "stop_ns 100 must be 0 or in (start_ns 500"},
		{"no slots", specJSON(t, func(s *GuestSpec) { s.Slots = 0 }), "slots 0 must be in [1, 64]"},
		{"too little data", specJSON(t, func(s *GuestSpec) { s.MaxElements = 10 }), "max_elements 10 must be in [64,"},
		{"no type", specJSON(t, func(s *GuestSpec) { s.Workload.Type = "" }), "the workload has no type"},
		{"unknown type", specJSON(t, func(s *GuestSpec) { s.Workload.Type = "sometimes" }), `unknown workload type "sometimes"`},
		{"no exec", specJSON(t, func(s *GuestSpec) { s.Workload.ExecNS = 0 }), "needs a positive exec_ns"},
		{"negative", specJSON(t, func(s *GuestSpec) { s.Workload.OffsetNS = -1 }), "workload offset_ns -1 must be in"},
		{"exec_min above exec", specJSON(t, func(s *GuestSpec) { s.Workload.ExecMinNS = 2 * s.Workload.ExecNS }), "exec_min_ns 2000000 exceeds exec_ns 1000000"},
		{"no period", specJSON(t, func(s *GuestSpec) { s.Workload.PeriodNS = 0 }), "period_ns must be positive"},
		{"jitter", specJSON(t, func(s *GuestSpec) { s.Workload.JitterNS = s.Workload.PeriodNS }), "jitter_ns 10000000 must be below period_ns"},
		{"poisson without rate", specJSON(t, func(s *GuestSpec) { s.Workload.Type = "poisson" }), "poisson workload: rate 0 must be in (0, 1e+06]"},
		{"on_off without means", specJSON(t, func(s *GuestSpec) { s.Workload.Type, s.Workload.Rate = "on_off", 10 }), "on_mean_ns and off_mean_ns must be positive"},
		{"job too short", specJSON(t, func(s *GuestSpec) { s.Workload.ExecNS = 100 }), "a job of 100ns is shorter than the shortest job"},
		{"job too long", specJSON(t, func(s *GuestSpec) { s.Workload.ExecNS = int64(time.Hour) }), "more than one inline submission carries"},
		{"depth of an open loop", specJSON(t, func(s *GuestSpec) { s.Workload.Depth = 2 }), "workload depth 2: only a saturating workload keeps more than one job in flight"},
		{"depth above the slots", specJSON(t, func(s *GuestSpec) { s.Workload.Type, s.Workload.Depth = "saturating", 9 }), "depth 9 is more than the 4 slots"},
		{"bad cost model", specJSON(t, func(s *GuestSpec) { s.Cost.BytesPerCycle = 0 }), "BytesPerCycle is 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseGuestSpec([]byte(tc.json))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestGuestCommandErrors: the hidden guest command refuses a missing or
// bad spec, and a guest whose domain socket is not there says so.
func TestGuestCommandErrors(t *testing.T) {
	_, _, err := runCommand(t, "guest")
	assert.ErrorIs(t, err, errGuestUsage)
	_, _, err = runCommand(t, "guest", "--spec", `{"domain": "a", "workload": {"type": "periodic"}}`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `bench guest "a": no socket`)

	missing := filepath.Join(t.TempDir(), "pv", "a.sock")
	_, _, err = runCommand(t, "guest", "--spec", specJSON(t, func(s *GuestSpec) { s.Socket = missing }))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `bench guest "a": frontend: dial `+missing)

	var out strings.Builder
	err = RunGuest(context.Background(), GuestSpec{}, strings.NewReader(""), &out)
	assert.ErrorContains(t, err, "names no domain")
	assert.Empty(t, out.String(), "nothing on stdout before the spec is good")
}

func TestReadStart(t *testing.T) {
	t0, err := readStart(strings.NewReader("start 123456789\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(123456789), t0)
	for in, want := range map[string]string{
		"":              "waiting for the start instant on stdin: EOF",
		"begin 5\n":     `"begin 5" is not "start <CLOCK_MONOTONIC ns>"`,
		"start soon\n":  `start instant "soon" is not a positive integer`,
		"start -1\n":    `start instant "-1" is not a positive integer`,
		"start 1 2\n":   `"start 1 2" is not`,
		"start 42":      "", // no newline at EOF is fine
		"\n":            `"" is not "start`,
		"start 0\n":     `start instant "0" is not a positive integer`,
		"start 1e9\n":   `start instant "1e9"`,
		"START 1000\n":  `"START 1000" is not`,
		"start 99999\n": "",
	} {
		_, err := readStart(strings.NewReader(in))
		if want == "" {
			assert.NoError(t, err, "%q", in)
			continue
		}
		require.Error(t, err, "%q", in)
		assert.Contains(t, err.Error(), want, "%q", in)
	}
}

// guestReleases replays a guest's open-loop workload the way the guest
// does (live_guest.go's run: its workload rebuilt for the simulator, the
// simulator's stream for its domain, the first release from the start,
// then each job's execution time before the next release) and returns its
// releases and execution times before the horizon.
func guestReleases(s GuestSpec) (at, exec []time.Duration) {
	wl := s.Workload.simWorkload()
	jobs, rng, src := wl.Jobs(), simulator.NewRand(s.Seed, s.Domain), simulator.NewSource(wl)
	next, ok := src.Next(time.Duration(s.StartNS), rng)
	for ok && next < time.Duration(s.HorizonNS) {
		at, exec = append(at, next), append(exec, jobs.DrawExec(rng))
		next, ok = src.Next(next, rng)
	}
	return at, exec
}

// TestGuestArrivalsAreTheSimulators: a guest draws the simulator's own
// arrivals. For every open-loop workload type, the releases and execution
// times the guest replays are those of the scenario's workload under the
// simulator's stream, and a simulated run of the scenario releases as
// many jobs and serves as much work as the guest's replay holds.
func TestGuestArrivalsAreTheSimulators(t *testing.T) {
	const seed = 7
	ms := time.Millisecond
	horizon := 2 * time.Second
	jobs := simulator.JobSpec{Exec: 400 * time.Microsecond, ExecMin: 100 * time.Microsecond}
	workloads := map[string]simulator.Workload{
		"periodic": simulator.Periodic{JobSpec: jobs, Period: 10 * ms, Offset: 3 * ms, ReleaseJitter: 2 * ms},
		"poisson":  simulator.Poisson{JobSpec: jobs, Rate: 300},
		"on_off":   simulator.OnOff{JobSpec: jobs, Rate: 400, OnMean: 50 * ms, OffMean: 150 * ms},
	}
	for name, w := range workloads {
		t.Run(name, func(t *testing.T) {
			gw, err := guestWorkload(w)
			require.NoError(t, err)
			s := GuestSpec{Domain: "tenant-" + name, Seed: seed, StartNS: int64(5 * ms), HorizonNS: int64(horizon), Workload: gw}

			// The simulator's workload, under the simulator's stream for the
			// domain, in the simulator's order.
			rng, src := simulator.NewRand(seed, s.Domain), simulator.NewSource(w)
			var wantAt, wantExec []time.Duration
			next, ok := src.Next(5*ms, rng)
			for ok && next < horizon {
				wantAt, wantExec = append(wantAt, next), append(wantExec, w.Jobs().DrawExec(rng))
				next, ok = src.Next(next, rng)
			}
			at, exec := guestReleases(s)
			require.NotEmpty(t, at)
			assert.Equal(t, wantAt, at, "release instants")
			assert.Equal(t, wantExec, exec, "execution times")
			assert.Less(t, slices.Min(exec), slices.Max(exec), "execution times are drawn, not constant")

			// A simulated run of the same tenant releases the same jobs: the
			// same count, and the same work served before the horizon (alone
			// on a device that switches for free, it runs them first come,
			// first served).
			res, err := simulator.Run(func(d simulator.Device) (scheduler.Policy, error) {
				return scheduler.NewRoundRobin(ms, d.Costs)
			}, simulator.Scenario{Horizon: horizon, Devices: []simulator.Device{{Name: "gpu0"}},
				VCoprocs: []simulator.VCoproc{{Name: s.Domain, Params: scheduler.Params{Weight: 1}, Workload: w, Start: 5 * ms}}}, seed)
			require.NoError(t, err)
			v := res.VCoprocs[0]
			assert.Equal(t, len(at), v.Released)
			var served, free time.Duration
			for i := range at {
				start := max(free, at[i])
				free = start + exec[i]
				served += min(free, horizon) - min(start, horizon)
			}
			assert.Equal(t, served, v.Service)
		})
	}

	// A closed loop releases at the start and at each completion.
	sat := simulator.NewSource(simulator.Saturating{JobSpec: jobs})
	assert.True(t, sat.ClosedLoop())
	at, ok := sat.Next(7*ms, nil)
	assert.True(t, ok)
	assert.Equal(t, 7*ms, at)
}
