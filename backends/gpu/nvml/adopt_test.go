package nvml

import (
	"fmt"
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
	uuid := migOn(t, before, 1)
	a, err := before.Allocate(uuid, "tenant-a", "3g.20gb")
	require.NoError(t, err)
	b, err := before.Allocate(uuid, "tenant-b", "2g.10gb")
	require.NoError(t, err)

	after := open(t, server)
	unowned, err := after.Unowned()
	require.NoError(t, err)
	require.Len(t, unowned, 2, "both instances are still on the GPU, nobody's yet")
	assert.Equal(t, Instance{GPU: uuid, ID: a.GPUInstanceID, Profile: "3g.20gb", Placement: a.Placement}, unowned[0])

	got, err := after.Adopt(uuid, "tenant-a", "3g.20gb", a.GPUInstanceID, a.ComputeInstanceID, a.Placement)
	require.NoError(t, err)
	assert.Equal(t, a.ID, got.ID)
	assert.Equal(t, a.Nodes, got.Nodes, "the same capability nodes")
	assert.Equal(t, a.Placement, got.Placement)

	unowned, err = after.Unowned()
	require.NoError(t, err)
	require.Len(t, unowned, 1)
	assert.Equal(t, b.GPUInstanceID, unowned[0].ID)
	assert.Contains(t, unowned[0].String(), "(2g.10gb at ")

	_, err = after.Adopt(uuid, "tenant-c", "3g.20gb", a.GPUInstanceID, a.ComputeInstanceID, a.Placement)
	assert.ErrorContains(t, err, `already allocated to domain "tenant-a"`)
	_, err = after.Adopt(uuid, "tenant-b", "3g.20gb", b.GPUInstanceID, b.ComputeInstanceID, b.Placement)
	assert.ErrorIs(t, err, ErrInstanceGone, "gi of another profile")
	_, err = after.Adopt(uuid, "tenant-b", "2g.10gb", b.GPUInstanceID, b.ComputeInstanceID+7, b.Placement)
	assert.ErrorIs(t, err, ErrInstanceGone, "no such compute instance")
	_, err = after.Adopt(uuid, "tenant-b", "ts-1/2", b.GPUInstanceID, b.ComputeInstanceID, b.Placement)
	assert.ErrorContains(t, err, `"ts-1/2" is not a MIG profile of this GPU`)

	// The adopted allocation is released like one made here.
	require.NoError(t, after.Release(got.ID))
	unowned, err = after.Unowned()
	require.NoError(t, err)
	assert.Len(t, unowned, 1, "only tenant-b's instance is left")
	_, err = after.Adopt(uuid, "tenant-a", "3g.20gb", a.GPUInstanceID, a.ComputeInstanceID, a.Placement)
	assert.ErrorIs(t, err, ErrInstanceGone, "destroyed")
}

// TestAdoptRefusesAnotherPlacement: a GPU instance with the recorded IDs
// and profile but at another placement is not the recorded one (IDs are
// reused after a GPU reset): it is refused, so never released (destroyed)
// by coprocd, and stays listed as unowned.
func TestAdoptRefusesAnotherPlacement(t *testing.T) {
	server := newServer(t)
	before := open(t, server)
	uuid := migOn(t, before, 1)
	a, err := before.Allocate(uuid, "tenant-a", "3g.20gb")
	require.NoError(t, err)

	after := open(t, server)
	elsewhere := Placement{Start: a.Placement.Start + a.Placement.Size, Size: a.Placement.Size}
	_, err = after.Adopt(uuid, "tenant-a", "3g.20gb", a.GPUInstanceID, a.ComputeInstanceID, elsewhere)
	require.ErrorIs(t, err, ErrInstanceMismatch)
	assert.NotErrorIs(t, err, ErrInstanceGone, "the instance is there, it is not ours")
	assert.ErrorContains(t, err, fmt.Sprintf("is at %d:%d, the recorded one was at %d:%d",
		a.Placement.Start, a.Placement.Size, elsewhere.Start, elsewhere.Size))
	assert.Empty(t, after.Allocations(""), "nothing adopted")
	unowned, err := after.Unowned()
	require.NoError(t, err)
	assert.Equal(t, []Instance{{GPU: uuid, ID: a.GPUInstanceID, Profile: "3g.20gb", Placement: a.Placement}}, unowned,
		"still reported, and still on the GPU")

	_, err = after.Adopt(uuid, "", "3g.20gb", a.GPUInstanceID, a.ComputeInstanceID, a.Placement)
	assert.ErrorContains(t, err, "empty domain name", "as Allocate refuses it")
	_, err = after.Adopt(uuid, "tenant-a", "7g.80gb", a.GPUInstanceID, a.ComputeInstanceID, a.Placement)
	assert.ErrorContains(t, err, `"7g.80gb" is not a MIG profile of this GPU`)
	assert.Empty(t, after.Allocations(""))
}
