package pvhost_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/pvhost"
	"github.com/coprocd/coprocd/pvhost/pvtest"
)

// BenchmarkIdleSessionsCPU: what idle sessions cost the machine — guests
// connected and doing nothing, for 100 ms per iteration. Reported:
// cpu-ms/s, the CPU time of this whole process (host and guests), and
// switches/s, its voluntary context switches.
func BenchmarkIdleSessionsCPU(b *testing.B) {
	for _, n := range []int{1, 32} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			h := pvtest.NewHost(b, pvtest.Options{})
			domains := make([]pvhost.DomainConfig, n)
			for i := range domains {
				domains[i] = pvtest.Domain(fmt.Sprintf("idle%d", i), "gpu0", 1<<20)
			}
			h.SetSelf(domains...)
			for range n {
				c, err := frontend.Dial(h.Path, frontend.Options{})
				require.NoError(b, err)
				b.Cleanup(func() { _ = c.Close() })
			}
			time.Sleep(300 * time.Millisecond) // everyone settles into sleeping
			reportProcessCPU(b)
		})
	}
}
