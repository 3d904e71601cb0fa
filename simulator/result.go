package simulator

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// Result is what a run measured.
type Result struct {
	// Policy is the name of the policy that ran (of the first device).
	Policy string
	// Seed is the seed the run drew from.
	Seed uint64
	// Span is the simulated span, the scenario's horizon.
	Span time.Duration
	// Events is the number of events the run processed; StaleEvents of
	// them were device steps superseded before they came due.
	Events, StaleEvents uint64
	Devices             []DeviceResult
	VCoprocs            []VCoprocResult
	// Trace is who held each device when, when the scenario asked for it:
	// each device's spans in time order, tiling [0, Span) exactly, with
	// adjacent spans of the same kind and vcoproc merged.
	Trace []Span
}

// DeviceResult is one device's account. Busy + Switching + Idle = Span
// exactly: every nanosecond of virtual time is one of the three.
type DeviceResult struct {
	Name string
	// Busy is time spent running vcoprocs' work, Switching time spent in
	// context switches, Idle the rest.
	Busy, Switching, Idle time.Duration
	// Utilization is Busy / Span.
	Utilization float64
	// Switches counts changes of the vcoproc whose context the device
	// holds; each costs the device's SwitchCost.
	Switches int
	// Decisions counts the policy's Pick calls.
	Decisions int
	// Fairness is Jain's index of service per weight over the admitted
	// vcoprocs on this device (1 when there are none).
	Fairness float64
}

// VCoprocResult is one vcoproc's account.
type VCoprocResult struct {
	Name, Device string
	// Weight is Params.Weight, with 0 read as 1.
	Weight uint32
	// AdmitErr is the policy's refusal; a refused vcoproc did not run.
	AdmitErr error
	// Service is the device time its work ran, switches excluded.
	Service time.Duration
	// Released, Completed count its jobs; Pending were released but not
	// finished at the horizon.
	Released, Completed, Pending int
	// DeadlineMisses counts jobs that finished after their deadline or
	// were unfinished at the horizon with their deadline already past.
	DeadlineMisses int
	// MaxLateness is the largest completion minus deadline among the
	// jobs that finished late.
	MaxLateness time.Duration
	// Response summarises completion minus release over finished jobs.
	Response Latency
	// Share is Service / Span; BusyShare is Service over its device's
	// Busy time; PerWeight is Service in seconds divided by Weight.
	Share, BusyShare, PerWeight float64
}

// Latency summarises a set of durations. Percentiles are nearest-rank over
// the exact samples (no histogram error).
type Latency struct {
	Count               int
	Min, Mean, Max      time.Duration
	P50, P90, P99, P999 time.Duration
	// Samples are all the durations, sorted ascending.
	Samples []time.Duration
}

// Percentile returns the nearest-rank p-quantile, p in [0, 1]; zero when
// there are no samples.
func (l Latency) Percentile(p float64) time.Duration {
	n := len(l.Samples)
	if n == 0 {
		return 0
	}
	rank := int(p*float64(n) + 0.999999999) // ceil, robust to p·n rounding just above an integer
	return l.Samples[min(max(rank, 1), n)-1]
}

// Summarise sorts samples in place and summarises them: exact mean and
// extremes, nearest-rank percentiles. It is exported so that a harness
// measuring outside the simulator (bench's live mode) reports its latencies
// with the same arithmetic.
func Summarise(samples []time.Duration) Latency {
	l := Latency{Count: len(samples), Samples: samples}
	if len(samples) == 0 {
		return l
	}
	slices.Sort(samples)
	var sum float64
	for _, s := range samples {
		sum += float64(s)
	}
	l.Min, l.Max = samples[0], samples[len(samples)-1]
	l.Mean = time.Duration(sum / float64(len(samples)))
	l.P50, l.P90, l.P99, l.P999 = l.Percentile(0.5), l.Percentile(0.9), l.Percentile(0.99), l.Percentile(0.999)
	return l
}

// Jain returns Jain's fairness index (Σx)² / (n·Σx²) of xs: 1 when all are
// equal, 1/n when one has everything. It is 1 for an empty or all-zero
// input.
func Jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 1
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// SpanKind is what a device did during a span.
type SpanKind uint8

const (
	SpanIdle   SpanKind = iota // nothing ran
	SpanSwitch                 // switching to VCoproc's context
	SpanRun                    // VCoproc's work ran
)

func (k SpanKind) String() string {
	switch k {
	case SpanIdle:
		return "idle"
	case SpanSwitch:
		return "switch"
	case SpanRun:
		return "run"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Span is one stretch of a device's time.
type Span struct {
	Start, End time.Duration
	// Device and VCoproc index the scenario's slices; VCoproc is -1 for
	// idle spans.
	Device, VCoproc int32
	Kind            SpanKind
}

// WriteTrace writes the trace as text, one span per line:
//
//	<device> <start ns> <end ns> <idle|switch|run> [<vcoproc>]
//
// after a header line naming the policy, seed and span. Times are integers,
// so the same run writes the same bytes everywhere.
func (r *Result) WriteTrace(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "# coprocd simulator trace v1 policy=%s seed=%d span=%d\n", r.Policy, r.Seed, int64(r.Span))
	buf := make([]byte, 0, 128)
	for _, sp := range r.Trace {
		buf = buf[:0]
		buf = append(buf, r.Devices[sp.Device].Name...)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(sp.Start), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(sp.End), 10)
		buf = append(buf, ' ')
		buf = append(buf, sp.Kind.String()...)
		if sp.VCoproc >= 0 {
			buf = append(buf, ' ')
			buf = append(buf, r.VCoprocs[sp.VCoproc].Name...)
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("simulator: writing the trace: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("simulator: writing the trace: %w", err)
	}
	return nil
}

func (r *Result) vcoprocIndex(name string) (int, error) {
	for i := range r.VCoprocs {
		if r.VCoprocs[i].Name == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("simulator: no vcoproc %q in the result", name)
}

func (r *Result) needTrace() error {
	if r.Trace == nil {
		return fmt.Errorf("simulator: the result has no trace; set Scenario.RecordTrace")
	}
	return nil
}

// overlap is the length of [a, b) ∩ [from, to).
func overlap(a, b, from, to time.Duration) time.Duration {
	return max(min(b, to)-max(a, from), 0)
}

// ServiceBetween is the device time the named vcoproc's work ran in
// [from, to), read from the trace.
func (r *Result) ServiceBetween(vcoproc string, from, to time.Duration) (time.Duration, error) {
	if err := r.needTrace(); err != nil {
		return 0, err
	}
	vi, err := r.vcoprocIndex(vcoproc)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, sp := range r.Trace {
		if sp.Kind == SpanRun && int(sp.VCoproc) == vi {
			total += overlap(sp.Start, sp.End, from, to)
		}
	}
	return total, nil
}

// BusyBetween is the time the named device spent running work in
// [from, to), read from the trace.
func (r *Result) BusyBetween(device string, from, to time.Duration) (time.Duration, error) {
	if err := r.needTrace(); err != nil {
		return 0, err
	}
	di := slices.IndexFunc(r.Devices, func(d DeviceResult) bool { return d.Name == device })
	if di < 0 {
		return 0, fmt.Errorf("simulator: no device %q in the result", device)
	}
	var total time.Duration
	for _, sp := range r.Trace {
		if sp.Kind == SpanRun && int(sp.Device) == di {
			total += overlap(sp.Start, sp.End, from, to)
		}
	}
	return total, nil
}

// MaxLag is the largest normalised service lag between vcoprocs a and b
// over any interval [t1, t2) inside [from, to):
//
//	| S_a(t1,t2)/w_a − S_b(t1,t2)/w_b |
//
// with S the service from the trace and w the weights. It is the quantity
// fair-queueing bounds are stated in; both vcoprocs should be backlogged
// throughout [from, to) for the bound to apply.
func (r *Result) MaxLag(a, b string, from, to time.Duration) (time.Duration, error) {
	if err := r.needTrace(); err != nil {
		return 0, err
	}
	ai, err := r.vcoprocIndex(a)
	if err != nil {
		return 0, err
	}
	bi, err := r.vcoprocIndex(b)
	if err != nil {
		return 0, err
	}
	wa, wb := float64(r.VCoprocs[ai].Weight), float64(r.VCoprocs[bi].Weight)
	// D(t) = S_a(from,t)/w_a − S_b(from,t)/w_b is piecewise linear with
	// kinks only at span ends, so its extremes are at span ends; the
	// largest lag over an interval is max D − min D.
	var d, lo, hi float64
	for _, sp := range r.Trace {
		if sp.Kind != SpanRun {
			continue
		}
		ov := float64(overlap(sp.Start, sp.End, from, to))
		switch int(sp.VCoproc) {
		case ai:
			d += ov / wa
		case bi:
			d -= ov / wb
		default:
			continue
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	return time.Duration(hi - lo), nil
}

// result assembles the Result once the loop is done.
func (s *sim) result(sc Scenario, seed uint64) *Result {
	r := &Result{
		Policy:      s.devs[0].pol.Name(),
		Seed:        seed,
		Span:        s.horizon,
		Events:      s.events,
		StaleEvents: s.stale,
		Trace:       s.trace,
	}
	if sc.RecordTrace && r.Trace == nil {
		r.Trace = []Span{}
	}
	span := s.horizon.Seconds()
	for _, d := range s.devs {
		r.Devices = append(r.Devices, DeviceResult{
			Name:        d.cfg.Name,
			Busy:        d.busy,
			Switching:   d.switching,
			Idle:        d.idle,
			Utilization: d.busy.Seconds() / span,
			Switches:    d.switches,
			Decisions:   d.picks,
		})
	}
	perWeight := make([][]float64, len(s.devs))
	for _, v := range s.vcs {
		d := &r.Devices[v.dev.idx]
		vr := VCoprocResult{
			Name:        v.cfg.Name,
			Device:      d.Name,
			Weight:      v.weight,
			AdmitErr:    v.admitErr,
			Service:     v.service,
			Released:    v.released,
			Completed:   v.finished,
			Pending:     v.queue.len(),
			MaxLateness: v.maxLateness,
			Response:    Summarise(v.responses),
			Share:       v.service.Seconds() / span,
			PerWeight:   v.service.Seconds() / float64(v.weight),
		}
		vr.DeadlineMisses = v.misses
		for _, j := range v.queue.all() {
			if j.hasDeadline && j.deadline < s.horizon {
				vr.DeadlineMisses++
			}
		}
		if d.Busy > 0 {
			vr.BusyShare = v.service.Seconds() / d.Busy.Seconds()
		}
		if v.admitErr == nil {
			perWeight[v.dev.idx] = append(perWeight[v.dev.idx], vr.PerWeight)
		}
		r.VCoprocs = append(r.VCoprocs, vr)
	}
	for i := range r.Devices {
		r.Devices[i].Fairness = Jain(perWeight[i])
	}
	return r
}
