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

	var calls []bool // the notifier runs on the delivering goroutine: this one
	g.vc.SetNotifier(func(raised bool) { calls = append(calls, raised) })
	refuse()
	assert.Equal(t, []bool{true}, calls)
	assert.False(t, fired(), "the channel fired although a notifier is set")
	require.Len(t, g.vc.Events(), 1, "the event is queued as without a notifier")

	// A masked interrupt fires no channel, but the notifier hears of its
	// event, raised false.
	g.write(spec.RegIntMask, 4, spec.IntFence|spec.IntFault)
	refuse()
	assert.Equal(t, []bool{true, false}, calls)
	require.Len(t, g.vc.Events(), 1, "the masked event is queued")
	g.vc.SetNotifier(nil)
	refuse()
	assert.False(t, fired(), "a masked interrupt fired the channel")
	g.write(spec.RegIntMask, 4, spec.IntFence|spec.IntFault|spec.IntError)

	refuse()
	assert.Equal(t, []bool{true, false}, calls, "a notifier that was unset was called")
	assert.True(t, fired(), "the channel did not come back")
}
