package nvml

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAdoptAfterRestart: a second manager on the same GPUs (a restarted
// daemon) sees the first one's MIG instances as unowned, adopts them back
// with the same nodes, and then places new instances around them.
func TestAdoptAfterRestart(t *testing.T) {
	server := newServer(t)
	before := open(t, server)
	uuid := before.GPUs()[1].UUID
	_, err := before.SetMIGMode(uuid, true)
	require.NoError(t, err)
	a, err := before.Allocate(uuid, "tenant-a", "3g.20gb")
	require.NoError(t, err)
	b, err := before.Allocate(uuid, "tenant-b", "2g.10gb")
	require.NoError(t, err)

	after := open(t, server)
	unowned, err := after.Unowned()
	require.NoError(t, err)
	require.Len(t, unowned, 2, "both instances are still on the GPU, nobody's yet")
	assert.Equal(t, Instance{GPU: uuid, ID: a.GPUInstanceID, Profile: "3g.20gb", Placement: a.Placement}, unowned[0])

	got, err := after.Adopt(uuid, "tenant-a", "3g.20gb", a.GPUInstanceID, a.ComputeInstanceID)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	assert.Equal(t, a.Nodes, got.Nodes, "the same capability nodes")
	assert.Equal(t, a.Placement, got.Placement)

	unowned, err = after.Unowned()
	require.NoError(t, err)
	require.Len(t, unowned, 1)
	assert.Equal(t, b.GPUInstanceID, unowned[0].ID)
	assert.Contains(t, unowned[0].String(), "(2g.10gb at ")

	_, err = after.Adopt(uuid, "tenant-c", "3g.20gb", a.GPUInstanceID, a.ComputeInstanceID)
	assert.ErrorContains(t, err, `already allocated to domain "tenant-a"`)
	_, err = after.Adopt(uuid, "tenant-b", "3g.20gb", b.GPUInstanceID, b.ComputeInstanceID)
	assert.ErrorIs(t, err, ErrInstanceGone, "gi of another profile")
	_, err = after.Adopt(uuid, "tenant-b", "2g.10gb", b.GPUInstanceID, b.ComputeInstanceID+7)
	assert.ErrorIs(t, err, ErrInstanceGone, "no such compute instance")
	_, err = after.Adopt(uuid, "tenant-b", "ts-1/2", b.GPUInstanceID, b.ComputeInstanceID)
	assert.ErrorContains(t, err, `"ts-1/2" is not a MIG profile of this GPU`)

	// The adopted allocation is released like one made here.
	require.NoError(t, after.Release(got.ID))
	unowned, err = after.Unowned()
	require.NoError(t, err)
	assert.Len(t, unowned, 1, "only tenant-b's instance is left")
	_, err = after.Adopt(uuid, "tenant-a", "3g.20gb", a.GPUInstanceID, a.ComputeInstanceID)
	assert.ErrorIs(t, err, ErrInstanceGone, "destroyed")
}
