package engine

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

func TestCheckOperands(t *testing.T) {
	bad := errors.New("bad")
	def, _ := spec.ReferenceGPU().Commands.Lookup(spec.OpCopy)
	assert.NoError(t, CheckOperands("COPY", def.Operands, []uint64{0x1000, 0x2000, 64}, bad))
	err := CheckOperands("COPY", def.Operands, []uint64{0x1000, 0x2000, 1 << 40}, bad)
	assert.ErrorIs(t, err, bad)
	assert.ErrorContains(t, err, "bytes = 1099511627776 is over its limit")
	err = CheckOperands("COPY", def.Operands, []uint64{math.MaxUint64 - 4, 0x2000, 64}, bad)
	assert.ErrorContains(t, err, "wraps around the address space")
	fence, _ := spec.ReferenceGPU().Commands.Lookup(spec.OpFence)
	assert.ErrorContains(t, CheckOperands("FENCE", fence.Operands, []uint64{0x1004, 1}, bad), "not aligned to 8 bytes")
}

func TestCycles(t *testing.T) {
	assert.Equal(t, time.Microsecond, CyclesToDuration(1000, 1e9))
	assert.Equal(t, 2*time.Nanosecond, CyclesToDuration(3, 2e9), "rounds up")
	assert.Equal(t, time.Duration(math.MaxInt64), CyclesToDuration(math.MaxUint64, 1))
	assert.Equal(t, uint64(1500), DurationToCycles(time.Microsecond, 1.5e9))
	assert.Zero(t, DurationToCycles(-time.Second, 1e9))
	assert.Equal(t, uint64(math.MaxUint64), DurationToCycles(time.Duration(math.MaxInt64), math.MaxUint64))
	for c := uint64(0); c < 5000; c += 7 {
		assert.GreaterOrEqual(t, DurationToCycles(CyclesToDuration(c, 3e9), 3e9), c)
	}
	assert.Equal(t, uint64(3), CeilDiv(9, 4))
	assert.Equal(t, uint64(2), CeilDiv(8, 4))
}

func TestCopyIsAMemmoveThroughTheUnit(t *testing.T) {
	mem := make([]byte, 3*iommu.PageSize)
	for i := range mem {
		mem[i] = byte(i)
	}
	want := append([]byte(nil), mem...)
	copy(want[100:], want[0:5000]) // overlapping, dst after src
	ctx := iommu.NewContext("d")
	require.NoError(t, ctx.Map(0x10000, mem, iommu.ReadWrite))
	u := iommu.NewUnit("dev")
	u.Activate(ctx)
	require.NoError(t, Copy(u, make([]byte, 64), 0x10000+100, 0x10000, 5000))
	assert.Equal(t, want, mem)

	err := Copy(u, make([]byte, 64), 0x10000, 0x10000+2*iommu.PageSize, 2*iommu.PageSize)
	assert.ErrorIs(t, err, iommu.ErrNotMapped, "the source runs past the mapping")
}
