package regfile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/spec"
)

func TestFileHoldsHardwareRegistersOnly(t *testing.T) {
	f := New(spec.ReferenceGPU().Registers)
	assert.Equal(t, uint64(spec.RefGPUID), f.Read(spec.RegID))
	assert.Equal(t, uint64(1), f.Read(spec.RegClockCtrl), "privileged, at its reset value")
	assert.Nil(t, f.Lookup(spec.RegRingTail), "emulated: the mediator's")
	assert.Nil(t, f.Lookup(spec.RegUser0+4), "inside a register")
	assert.Nil(t, f.Lookup(1<<20))
	assert.Zero(t, f.Read(spec.RegRingTail))

	f.Write(spec.RegUser0, 42)
	assert.Equal(t, uint64(42), f.Read(spec.RegUser0))
	f.Write(spec.RegID, 7)
	assert.Equal(t, uint64(spec.RefGPUID), f.Read(spec.RegID), "identification is read-only")
	f.Write(spec.RegRingTail, 8) // not in the file: ignored

	f.Set(spec.RegCaps, 3)
	assert.Equal(t, uint64(3), f.Read(spec.RegCaps))
	r := f.Lookup(spec.RegClockCtrl)
	require.NotNil(t, r)
	r.Write(1 << 40)
	assert.Equal(t, uint64(0), r.Value, "a 32-bit mask keeps the high bits out")
}
