package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
)

func TestQueue(t *testing.T) {
	var q Queue
	assert.Nil(t, q.Head())
	q.Pop() // popping an empty queue is a no-op
	assert.EqualError(t, q.Push("ctr", nil), `sim: Enqueue on "ctr": nil job`)
	assert.Zero(t, q.Len())

	a, b := &coproc.Job{ID: 1}, &coproc.Job{ID: 2}
	require.NoError(t, q.Push("ctr", a))
	require.NoError(t, q.Push("ctr", b))
	assert.Equal(t, 2, q.Len())
	assert.Same(t, a, q.Head())
	assert.Equal(t, []*coproc.Job{a, b}, q.Jobs())
	q.Pop()
	assert.Same(t, b, q.Head())
	q.Pop()
	assert.Zero(t, q.Len())

	// A queue that empties keeps its array: one job at a time allocates
	// nothing once warm.
	allocs := testing.AllocsPerRun(100, func() {
		_ = q.Push("ctr", a)
		q.Pop()
	})
	assert.Zero(t, allocs)

	require.NoError(t, q.Push("ctr", a))
	q.Clear()
	assert.Zero(t, q.Len())
}
