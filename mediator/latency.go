package mediator

import "time"

// LatencyBuckets are the upper bounds of the job-latency histogram in
// VCoprocStats: 10 µs doubling up to about 10.5 s, then +Inf.
var LatencyBuckets = func() []time.Duration {
	b := make([]time.Duration, 21)
	for i := range b {
		b[i] = 10 * time.Microsecond << i
	}
	return b
}()

// Latency is a job-latency histogram (submission to completion) with the
// bounds of LatencyBuckets; Counts has one more entry, for +Inf.
type Latency struct {
	Counts [22]uint64
	Sum    time.Duration
	Max    time.Duration
}

func (l *Latency) observe(d time.Duration) {
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	l.Counts[i]++
	l.Sum += d
	l.Max = max(l.Max, d)
}

// Count is the number of observations.
func (l *Latency) Count() uint64 {
	var n uint64
	for _, c := range l.Counts {
		n += c
	}
	return n
}

// jobEnded records the latency of the vcoproc's oldest job (jobs complete
// in submission order) and counts a deadline miss when the vcoproc has a
// reservation whose relative deadline (or period) the job overran.
func (v *VCoproc) jobEnded(now time.Duration) {
	if len(v.submitted) == 0 {
		return
	}
	lat := now - v.submitted[0]
	v.submitted = v.submitted[1:]
	v.stats.Latency.observe(lat)
	deadline := v.params.Deadline
	if deadline == 0 {
		deadline = v.params.Period
	}
	if deadline > 0 && lat > deadline {
		v.stats.DeadlineMisses++
	}
}
