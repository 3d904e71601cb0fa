package benchref

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCompareReportsTheRatio runs a benchmark whose subject is slower than
// its baseline by construction and checks what Compare reports.
func TestCompareReportsTheRatio(t *testing.T) {
	spin := func(d time.Duration) {
		for start := time.Now(); time.Since(start) < d; {
		}
	}
	res := testing.Benchmark(func(b *testing.B) {
		Compare(b,
			func(n int) {
				for i := 0; i < n; i++ {
					spin(2 * time.Microsecond)
				}
			},
			func(n int) {
				for i := 0; i < n; i++ {
					spin(8 * time.Microsecond)
				}
			})
	})
	require.Contains(t, res.Extra, "baseline-ns/op")
	require.Contains(t, res.Extra, "x-baseline")
	assert.GreaterOrEqual(t, res.Extra["baseline-ns/op"], 2000.0)
	assert.Greater(t, res.Extra["x-baseline"], 1.5, "the subject spins four times longer")
}
