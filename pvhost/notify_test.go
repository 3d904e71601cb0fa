package pvhost_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/pvhost"
	"github.com/coprocd/coprocd/pvhost/pvtest"
	"github.com/coprocd/coprocd/spec"
)

// TestRunnerEventsWakeASleepingSession: a job that ends on the device's
// runner (it waited for the guest's memory) while the session sleeps
// reaches the guest at once. The session's sleeps while jobs are in flight
// are bounded by an EventPoll of a minute here, so only the vcoproc's
// notifier kicking the doorbell can wake it within the test's 10 s.
func TestRunnerEventsWakeASleepingSession(t *testing.T) {
	h := pvtest.NewHost(t, pvtest.Options{Server: func(c *pvhost.Config) {
		c.PollWindow = -1 // sleep as soon as there is no work
		c.EventPoll = time.Minute
	}})
	h.SetSelf(pvtest.Domain("fe", "gpu0", 1<<20))
	c, err := frontend.Dial(h.Path, frontend.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	gpu := c.Devices()[0]
	ctx := context.Background()
	flag, err := c.Alloc(ctx, 8, spec.PVPermReadWrite)
	require.NoError(t, err)

	for round := uint64(1); round <= 3; round++ {
		job, err := gpu.Submit(ctx, spec.Encode(nil, spec.OpWait, flag.IOVA, round))
		require.NoError(t, err)
		time.Sleep(20 * time.Millisecond) // the job blocks; the session goes to sleep
		binary.LittleEndian.PutUint64(flag.Bytes, round)
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = gpu.WaitJob(wait, job)
		cancel()
		require.NoError(t, err, "round %d: the job's end did not wake the session", round)
	}
	assert.Zero(t, h.Server.LostDoorbells())
}
