package mediator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/spec"
)

// TestSetNotifierReplacesTheChannel: with a notifier set, an interrupt
// calls it instead of firing Notify's channel (the event is queued all the
// same); SetNotifier(nil) gives the channel back.
func TestSetNotifierReplacesTheChannel(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	refuse := func() {
		t.Helper()
		_, err := g.vc.Submit(spec.Encode(nil, spec.OpNop, 1)) // wrong operand count: IntError
		require.Error(t, err)
	}
	fired := func() bool {
		select {
		case <-g.vc.Notify():
			return true
		default:
			return false
		}
	}

	calls := 0 // the notifier runs on the delivering goroutine: this one
	g.vc.SetNotifier(func() { calls++ })
	refuse()
	assert.Equal(t, 1, calls)
	assert.False(t, fired(), "the channel fired although a notifier is set")
	require.Len(t, g.vc.Events(), 1, "the event is queued as without a notifier")

	g.vc.SetNotifier(nil)
	refuse()
	assert.Equal(t, 1, calls, "a notifier that was unset was called")
	assert.True(t, fired(), "the channel did not come back")
}
