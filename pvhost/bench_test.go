package pvhost_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/pvhost"
	"github.com/coprocd/coprocd/pvhost/pvtest"
	"github.com/coprocd/coprocd/spec"
)

// BenchmarkBusySessionCPU: what a session with a job in flight costs the
// machine while the job runs, with EventPoll at its old default (200 µs)
// and at its present one. The job is a WAIT on guest memory, so the device
// does nothing but poll that word; the guest sleeps in WaitJob. Reported
// per second of waiting: cpu-ms/s, the CPU time of this whole process
// (host, device runner, guest), and switches/s, its voluntary context
// switches. The difference between the two is the session's periodic
// look for events (the notifier brings every unmasked one at once).
// Each iteration is 100 ms of waiting.
func BenchmarkBusySessionCPU(b *testing.B) {
	for _, poll := range []time.Duration{200 * time.Microsecond, pvhost.DefaultEventPoll} {
		b.Run(fmt.Sprintf("EventPoll=%v", poll), func(b *testing.B) {
			h := pvtest.NewHost(b, pvtest.Options{Server: func(c *pvhost.Config) { c.EventPoll = poll }})
			h.SetSelf(pvtest.Domain("busy", "gpu0", 1<<20))
			c, err := frontend.Dial(h.Path, frontend.Options{})
			require.NoError(b, err)
			defer c.Close()
			gpu := c.Devices()[0]
			ctx := context.Background()
			flag, err := c.Alloc(ctx, 8, spec.PVPermReadWrite)
			require.NoError(b, err)
			job, err := gpu.Submit(ctx, spec.Encode(nil, spec.OpWait, flag.IOVA, 1))
			require.NoError(b, err)
			waited := make(chan error, 1)
			go func() { waited <- gpu.WaitJob(ctx, job) }()
			time.Sleep(20 * time.Millisecond) // everyone settles into waiting
			reportProcessCPU(b)
			binary.LittleEndian.PutUint64(flag.Bytes, 1)
			require.NoError(b, <-waited)
		})
	}
}

// reportProcessCPU lets b.N × 100 ms pass and reports what this process
// spent meanwhile: cpu-ms/s (user and system CPU time) and switches/s
// (voluntary context switches), per second of wall time.
func reportProcessCPU(b *testing.B) {
	var before, after unix.Rusage
	require.NoError(b, unix.Getrusage(unix.RUSAGE_SELF, &before))
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	require.NoError(b, unix.Getrusage(unix.RUSAGE_SELF, &after))
	cpu := time.Duration(unix.TimevalToNsec(after.Utime) - unix.TimevalToNsec(before.Utime) +
		unix.TimevalToNsec(after.Stime) - unix.TimevalToNsec(before.Stime))
	b.ReportMetric(float64(cpu.Milliseconds())/elapsed.Seconds(), "cpu-ms/s")
	b.ReportMetric(float64(after.Nvcsw-before.Nvcsw)/elapsed.Seconds(), "switches/s")
}
