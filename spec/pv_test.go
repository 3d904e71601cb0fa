package spec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPVLayoutsAreSound checks what the C header and both codecs rely on:
// fields are naturally aligned, in offset order, do not overlap, and fill
// the fixed part exactly; message types are unique.
func TestPVLayoutsAreSound(t *testing.T) {
	types := map[PVType]string{}
	names := map[string]bool{}
	for _, l := range PVLayouts {
		require.False(t, names[l.Name], "layout %s twice", l.Name)
		names[l.Name] = true
		if l.Type != 0 {
			prev, dup := types[l.Type]
			require.False(t, dup, "type 0x%02x used by %s and %s", l.Type, prev, l.Name)
			types[l.Type] = l.Name
			got, ok := PVLayoutOf(l.Type)
			require.True(t, ok)
			assert.Equal(t, l.Name, got.Name)
		}
		next := 0
		for _, f := range l.Fields {
			assert.Equal(t, next, f.Offset, "%s.%s starts at %d, previous field ends at %d", l.Name, f.Name, f.Offset, next)
			if f.Kind != PVChars {
				assert.Zero(t, f.Offset%f.Size(), "%s.%s at %d is not aligned to %d", l.Name, f.Name, f.Offset, f.Size())
			}
			assert.Positive(t, f.Size(), "%s.%s", l.Name, f.Name)
			next = f.Offset + f.Size()
		}
		assert.Equal(t, l.Bytes, next, "%s: fields end at %d, layout is %d bytes", l.Name, next, l.Bytes)
		assert.Zero(t, l.Bytes%8, "%s: %d bytes is not a multiple of 8", l.Name, l.Bytes)
	}
	_, ok := PVLayoutOf(0)
	assert.False(t, ok)
}

func TestPVStatusNamesAreComplete(t *testing.T) {
	for s := uint32(0); s <= PVStatusJobFailed; s++ {
		assert.NotEmpty(t, PVStatusNames[s], "status %d has no name", s)
	}
}

func TestPVNeedEvent(t *testing.T) {
	// The consumer sleeps waiting for slot 10.
	assert.True(t, PVNeedEvent(10, 11, 10), "producing slot 10 kicks")
	assert.True(t, PVNeedEvent(10, 15, 8), "a batch across slot 10 kicks")
	assert.False(t, PVNeedEvent(10, 10, 8), "slots 8 and 9 do not")
	assert.False(t, PVNeedEvent(10, 20, 11), "an event behind old (a busy consumer) does not")
	// Wrap-around of the free-running index.
	assert.True(t, PVNeedEvent(0xffffffff, 1, 0xfffffffe))
	assert.True(t, PVNeedEvent(0, 2, 0xffffffff))
}

func TestPVRingGeometry(t *testing.T) {
	assert.Equal(t, uint64(4096+2*256*64), PVRingBytes(256, 256))
	assert.Equal(t, uint64(8192), PVRingBytes(16, 16))
	assert.True(t, PVValidRingSlots(16))
	assert.True(t, PVValidRingSlots(4096))
	assert.False(t, PVValidRingSlots(8))
	assert.False(t, PVValidRingSlots(100))
	assert.False(t, PVValidRingSlots(8192))
	// A maximal inline SUBMIT fits PVMaxMessageSlots and half the ring.
	for _, n := range []uint32{16, 256, 4096} {
		w := PVMaxInlineWords(n)
		slots := (PVRingHeaderBytes + 8 + 8*w + PVSlotBytes - 1) / PVSlotBytes
		assert.LessOrEqual(t, slots, PVMaxMessageSlots)
		assert.LessOrEqual(t, uint32(slots), n/2)
	}
	assert.Less(t, PVWelFixed+PVMaxDevices*PVDevInfoBytes+PVSockHeaderBytes, PVMaxSocketMessage+1)
}
