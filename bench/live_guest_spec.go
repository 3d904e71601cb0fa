package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	gpusim "github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/simulator"
	"github.com/coprocd/coprocd/spec"
)

// GuestSpec is what one live guest process runs: its domain's socket and
// device, its workload, and the cost model its jobs are sized by. The
// harness passes it as JSON on the guest's command line (coprocd bench
// guest --spec '{...}'); instants are nanoseconds from the run's start,
// which the harness sends on the guest's stdin once every guest is ready.
type GuestSpec struct {
	Domain string `json:"domain"`
	// Socket is the domain's paravirtual socket.
	Socket string `json:"socket"`
	// Device is the vcoproc's device; "" takes the session's only device.
	Device string `json:"device,omitempty"`
	// Seed keys the guest's random stream with the domain's name.
	Seed uint64 `json:"seed"`
	// StartNS is when the workload begins releasing jobs, StopNS when it
	// stops (0: at the horizon), HorizonNS when the run ends.
	StartNS   int64         `json:"start_ns"`
	StopNS    int64         `json:"stop_ns,omitempty"`
	HorizonNS int64         `json:"horizon_ns"`
	Workload  GuestWorkload `json:"workload"`
	// Cost is the device's cost model, which turns execution times into
	// jobs (live_job.go).
	Cost gpusim.CostModel `json:"cost_model"`
	// MaxElements bounds each job's saxpy data; Slots is how many jobs
	// may be on the device at once (more wait in the guest).
	MaxElements uint64 `json:"max_elements"`
	Slots       int    `json:"slots"`
}

// GuestWorkload is a scenario workload (simulator/workload.go) in
// nanoseconds. Deadlines and segments are the harness's business, not
// the guest's: the reference GPU preempts between workgroups.
type GuestWorkload struct {
	Type      string  `json:"type"` // periodic, saturating, poisson, on_off
	ExecNS    int64   `json:"exec_ns"`
	ExecMinNS int64   `json:"exec_min_ns,omitempty"`
	PeriodNS  int64   `json:"period_ns,omitempty"`
	OffsetNS  int64   `json:"offset_ns,omitempty"`
	JitterNS  int64   `json:"jitter_ns,omitempty"`
	Rate      float64 `json:"rate,omitempty"`
	OnMeanNS  int64   `json:"on_mean_ns,omitempty"`
	OffMeanNS int64   `json:"off_mean_ns,omitempty"`
	// Depth is how many jobs a saturating workload keeps in flight (0 or
	// 1: one, the scenario's closed loop). The exclusive baseline keeps
	// two, so that one domain alone saturates the device instead of
	// leaving it idle for each job's round trip.
	Depth int `json:"depth,omitempty"`
}

// Limits of a guest spec.
const (
	maxGuestSlots     = 64
	defaultGuestSlots = 16
)

// guestWorkload turns a simulator workload into a guest's.
func guestWorkload(w simulator.Workload) (GuestWorkload, error) {
	j := w.Jobs()
	g := GuestWorkload{ExecNS: int64(j.Exec), ExecMinNS: int64(j.ExecMin)}
	switch w := w.(type) {
	case simulator.Periodic:
		g.Type, g.PeriodNS, g.OffsetNS, g.JitterNS = "periodic", int64(w.Period), int64(w.Offset), int64(w.ReleaseJitter)
	case simulator.Saturating:
		g.Type = "saturating"
	case simulator.Poisson:
		g.Type, g.Rate = "poisson", w.Rate
	case simulator.OnOff:
		g.Type, g.Rate, g.OnMeanNS, g.OffMeanNS = "on_off", w.Rate, int64(w.OnMean), int64(w.OffMean)
	default:
		return GuestWorkload{}, fmt.Errorf("bench: live mode cannot replay a %T workload", w)
	}
	return g, nil
}

// simWorkload is the simulator workload w stands for (without deadline or
// segment, which the guest does not use): the guest replays its release
// process and execution times with the simulator's own code.
func (w GuestWorkload) simWorkload() simulator.Workload {
	f := workloadFile{Type: w.Type, Exec: Duration(w.ExecNS), ExecMin: Duration(w.ExecMinNS), Period: Duration(w.PeriodNS),
		Offset: Duration(w.OffsetNS), Jitter: Duration(w.JitterNS), Rate: w.Rate, OnMean: Duration(w.OnMeanNS), OffMean: Duration(w.OffMeanNS)}
	return f.build()
}

// ParseGuestSpec reads a guest spec strictly: unknown fields, trailing
// data and impossible values are errors that say what is wrong.
func ParseGuestSpec(data []byte) (GuestSpec, error) {
	var s GuestSpec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return GuestSpec{}, fmt.Errorf("bench guest: the spec is not valid JSON for a guest: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return GuestSpec{}, errors.New("bench guest: the spec holds more than one JSON value")
	}
	if err := s.Validate(); err != nil {
		return GuestSpec{}, err
	}
	return s, nil
}

// Validate checks every field, and that the jobs can be planned on the
// cost model (a too short or too long execution time is found here, before
// the guest connects).
func (s GuestSpec) Validate() error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("bench guest %q: "+format, append([]any{s.Domain}, a...)...)
	}
	if s.Domain == "" {
		return errors.New("bench guest: the spec names no domain")
	}
	if s.Socket == "" {
		return fail("no socket (the domain's paravirtual socket, <runtime_dir>/pv/<domain>.sock)")
	}
	if s.HorizonNS <= 0 || time.Duration(s.HorizonNS) > MaxHorizon {
		return fail("horizon_ns %d must be in (0, %d]", s.HorizonNS, int64(MaxHorizon))
	}
	if s.StartNS < 0 || s.StartNS >= s.HorizonNS {
		return fail("start_ns %d must be in [0, horizon_ns %d)", s.StartNS, s.HorizonNS)
	}
	if s.StopNS != 0 && (s.StopNS <= s.StartNS || s.StopNS > s.HorizonNS) {
		return fail("stop_ns %d must be 0 or in (start_ns %d, horizon_ns %d]", s.StopNS, s.StartNS, s.HorizonNS)
	}
	if s.Slots < 1 || s.Slots > maxGuestSlots {
		return fail("slots %d must be in [1, %d]", s.Slots, maxGuestSlots)
	}
	if s.MaxElements < spec.RefGPUWorkgroupSize || s.MaxElements > 1<<24 {
		return fail("max_elements %d must be in [%d, %d]", s.MaxElements, spec.RefGPUWorkgroupSize, 1<<24)
	}
	if err := s.Workload.validate(); err != nil {
		return fail("%v", err)
	}
	if s.Workload.Depth > s.Slots {
		return fail("depth %d is more than the %d slots", s.Workload.Depth, s.Slots)
	}
	costs, err := newLiveCosts(s.Cost)
	if err != nil {
		return fail("%v", err)
	}
	if _, err := s.plan(costs); err != nil {
		return fail("%v", err)
	}
	return nil
}

// plan checks that the workload's shortest and longest jobs can be
// planned and returns the data every job carries.
func (s GuestSpec) plan(costs liveCosts) (elements uint64, err error) {
	w := s.Workload
	shortest := time.Duration(w.ExecNS)
	if w.ExecMinNS > 0 {
		shortest = time.Duration(w.ExecMinNS)
	}
	if elements, err = costs.elementsFor(shortest, s.MaxElements); err != nil {
		return 0, err
	}
	if _, err := costs.plan(time.Duration(w.ExecNS), elements); err != nil {
		return 0, err
	}
	return elements, nil
}

func (w GuestWorkload) validate() error {
	for _, d := range []struct {
		key string
		v   int64
	}{{"exec_ns", w.ExecNS}, {"exec_min_ns", w.ExecMinNS}, {"period_ns", w.PeriodNS}, {"offset_ns", w.OffsetNS},
		{"jitter_ns", w.JitterNS}, {"on_mean_ns", w.OnMeanNS}, {"off_mean_ns", w.OffMeanNS}} {
		if d.v < 0 || time.Duration(d.v) > MaxHorizon {
			return fmt.Errorf("workload %s %d must be in [0, %d]", d.key, d.v, int64(MaxHorizon))
		}
	}
	if w.ExecNS <= 0 {
		return errors.New("the workload needs a positive exec_ns (each job's execution time)")
	}
	if w.Depth < 0 || (w.Depth > 1 && w.Type != "saturating") {
		return fmt.Errorf("workload depth %d: only a saturating workload keeps more than one job in flight", w.Depth)
	}
	if w.ExecMinNS > w.ExecNS {
		return fmt.Errorf("workload exec_min_ns %d exceeds exec_ns %d", w.ExecMinNS, w.ExecNS)
	}
	rate := func() error {
		if !(w.Rate > 0) || math.IsInf(w.Rate, 0) || w.Rate > maxRate {
			return fmt.Errorf("%s workload: rate %v must be in (0, %g] jobs per second", w.Type, w.Rate, float64(maxRate))
		}
		return nil
	}
	switch w.Type {
	case "periodic":
		if w.PeriodNS <= 0 {
			return errors.New("periodic workload: period_ns must be positive")
		}
		if w.JitterNS >= w.PeriodNS {
			return fmt.Errorf("periodic workload: jitter_ns %d must be below period_ns %d", w.JitterNS, w.PeriodNS)
		}
	case "saturating":
	case "poisson":
		return rate()
	case "on_off":
		if err := rate(); err != nil {
			return err
		}
		if w.OnMeanNS <= 0 || w.OffMeanNS <= 0 {
			return fmt.Errorf("on_off workload: on_mean_ns and off_mean_ns must be positive (got %d and %d)", w.OnMeanNS, w.OffMeanNS)
		}
	case "":
		return errors.New("the workload has no type (periodic, saturating, poisson or on_off)")
	default:
		return fmt.Errorf("unknown workload type %q (periodic, saturating, poisson or on_off)", w.Type)
	}
	return nil
}
