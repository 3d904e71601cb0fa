// Package benchref measures a benchmark against a baseline in the same run.
//
// The machines coprocd is developed and tested on are shared and noisy, so an
// absolute ns/op says little on its own. Every performance target in the
// repository is therefore reported next to a baseline operation timed in the
// same process, right after the subject, and as a ratio of the two. A reader
// compares ratios across runs and machines, not nanoseconds.
package benchref

import (
	"testing"
	"time"
)

// Compare times subject(b.N) as the benchmark proper (ns/op, allocs/op come
// from it) and then baseline(b.N) outside the benchmark timer. It reports the
// baseline's ns/op as "baseline-ns/op" and subject/baseline as "x-baseline".
//
// Both functions run a whole loop of n operations so that no indirect call
// sits inside the measured loop.
func Compare(b *testing.B, baseline, subject func(n int)) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	subject(b.N)
	b.StopTimer()
	subjectNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)

	start := time.Now()
	baseline(b.N)
	baseNs := float64(time.Since(start).Nanoseconds()) / float64(b.N)

	b.ReportMetric(baseNs, "baseline-ns/op")
	if baseNs > 0 {
		b.ReportMetric(subjectNs/baseNs, "x-baseline")
	}
}
