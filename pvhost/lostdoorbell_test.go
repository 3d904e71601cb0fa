package pvhost_test

import (
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/pvhost"
	"github.com/coprocd/coprocd/pvhost/pvtest"
	"github.com/coprocd/coprocd/spec"
)

// TestLostDoorbellIsCountedAndDescribed: a guest that breaks the
// event-index rule (publishes a request past the event index of a sleeping
// session and does not kick) is served anyway once the bounded sleep ends,
// and the loss is counted and logged with the rings' state: the detector
// that TestNoLostWakeups (package frontend) relies on does see a loss.
func TestLostDoorbellIsCountedAndDescribed(t *testing.T) {
	log := &testutil.SyncBuffer{}
	h := pvtest.NewHost(t, pvtest.Options{Server: func(c *pvhost.Config) {
		c.PollWindow = -1 // sleep as soon as there is no work
		c.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}})
	h.SetSelf(pvtest.Domain("deaf", "gpu0", 0))
	g := welcomed(t, h)

	// One proper round trip, after which the session arms the request
	// ring at index 1 and sleeps.
	require.Equal(t, uint32(spec.PVStatusOK), g.result(g.send(pvwire.Request{Type: spec.PVPing})).Status)
	prodEvent := ctlWord(g.mem, spec.PVCtlReqProdEvent)
	require.NoError(t, pvtest.WaitFor(5*time.Second, func() bool { return atomic.LoadUint32(prodEvent) == 1 }))
	time.Sleep(20 * time.Millisecond) // from arming to the sleep itself
	require.Zero(t, h.Server.LostDoorbells())

	// The broken guest: publish, ignore Publish's "kick", never kick.
	g.tag++
	require.NoError(t, g.req.PutRequest(&pvwire.Request{Type: spec.PVPing, Tag: g.tag}, nil))
	require.True(t, g.req.Publish(), "the session armed at this request: the rule says kick")
	start := time.Now()
	r := g.result(g.tag)
	assert.Equal(t, uint32(spec.PVStatusOK), r.Status, "the bounded sleep recovers the request")
	assert.GreaterOrEqual(t, time.Since(start), pvhost.MaxSleep/2, "served without a doorbell, so it waited for the sleep's end")

	assert.Equal(t, uint64(1), h.Server.LostDoorbells())
	text := log.String()
	assert.Contains(t, text, "a doorbell was lost: the guest published requests past the request ring's event index and nobody kicked")
	assert.Contains(t, text, "armed=1")
	assert.Contains(t, text, "request ring prod 2 cons 1 prod_event 1")
	assert.Contains(t, text, "doorbell_count=0")
}
