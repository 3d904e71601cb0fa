package bench

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gpusim "github.com/coprocd/coprocd/backends/gpu/sim"
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

// TestReleasersFollowTheSimulatorsWorkloads: the guest's arrival processes
// have the simulator's semantics: exact periods after the offset, a closed
// loop at each completion, Poisson and on/off at their long-run rates.
func TestReleasersFollowTheSimulatorsWorkloads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ms := time.Millisecond
	p := newReleaser(GuestWorkload{Type: "periodic", PeriodNS: int64(10 * ms), OffsetNS: int64(3 * ms)})
	assert.False(t, p.closedLoop())
	at, ok := p.next(5*ms, rng)
	require.True(t, ok)
	assert.Equal(t, 8*ms, at, "the first release is the start (5 ms) plus the offset (3 ms)")
	at, _ = p.next(at, rng)
	assert.Equal(t, 18*ms, at, "then one every period")

	sat := newReleaser(GuestWorkload{Type: "saturating"})
	assert.True(t, sat.closedLoop())
	at, ok = sat.next(7*ms, rng)
	assert.True(t, ok)
	assert.Equal(t, 7*ms, at, "the next job at the completion")

	rate := func(w GuestWorkload, n int) float64 {
		r := newReleaser(w)
		var at time.Duration
		for i := 0; i < n; i++ {
			at, _ = r.next(at, rng)
		}
		return float64(n) / at.Seconds()
	}
	assert.InDelta(t, 200, rate(GuestWorkload{Type: "poisson", Rate: 200}, 20000), 10)
	onOff := rate(GuestWorkload{Type: "on_off", Rate: 400, OnMeanNS: int64(100 * ms), OffMeanNS: int64(300 * ms)}, 40000)
	assert.InDelta(t, 100, onOff, 10, "400/s a quarter of the time")

	w := GuestWorkload{ExecNS: int64(4 * ms), ExecMinNS: int64(3 * ms)}
	lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
	for i := 0; i < 2000; i++ {
		e := w.drawExec(rng)
		lo, hi = min(lo, e), max(hi, e)
	}
	assert.GreaterOrEqual(t, lo, 3*ms)
	assert.LessOrEqual(t, hi, 4*ms)
	assert.Less(t, lo, 3*ms+50*time.Microsecond)
	assert.Greater(t, hi, 4*ms-50*time.Microsecond)
}
