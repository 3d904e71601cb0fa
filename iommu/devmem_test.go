package iommu

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

func newDeviceMemory(t *testing.T, size, granule uint64) *DeviceMemory {
	t.Helper()
	m, err := NewDeviceMemory(size, granule)
	require.NoError(t, err)
	return m
}

func TestNewDeviceMemoryArguments(t *testing.T) {
	tests := []struct {
		size, granule uint64
		words         string
	}{
		{mib, 0, "granule 0"},
		{mib, 100, "granule 100"},
		{mib, PageSize + 1, "granule 4097"},
		{0, PageSize, "size 0"},
		{mib + PageSize, 64 * kib, "size 1052672 is not a non-zero multiple of the granule (64 KiB)"},
	}
	for _, tt := range tests {
		m, err := NewDeviceMemory(tt.size, tt.granule)
		assert.Nil(t, m)
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.ErrorContains(t, err, tt.words)
	}
	m := newDeviceMemory(t, 32*mib, 64*kib)
	assert.Equal(t, uint64(32*mib), m.Size())
	assert.Equal(t, uint64(64*kib), m.Granule())
	assert.Equal(t, uint64(32*mib), m.FreeBytes())
}

func TestDeviceMemoryQuota(t *testing.T) {
	m := newDeviceMemory(t, 64*mib, mib)

	_, err := m.Alloc("ivi", mib)
	assert.ErrorIs(t, err, ErrQuota)
	assert.EqualError(t, err, `iommu: device memory: domain "ivi" asks 1 MiB but has no quota; SetQuota first: device-memory quota exceeded`)

	m.SetQuota("ivi", 0)
	_, err = m.Alloc("ivi", mib)
	assert.ErrorIs(t, err, ErrQuota, "a zero quota allows nothing")

	m.SetQuota("ivi", 16*mib)
	assert.Equal(t, uint64(16*mib), m.Quota("ivi"))
	a, err := m.Alloc("ivi", 12*mib)
	require.NoError(t, err)
	assert.Equal(t, uint64(12*mib), m.Used("ivi"))

	_, err = m.Alloc("ivi", 8*mib)
	assert.ErrorIs(t, err, ErrQuota)
	assert.EqualError(t, err, `iommu: device memory: domain "ivi" asks 8 MiB, quota 16 MiB with 12 MiB in use: device-memory quota exceeded`)
	_, err = m.Alloc("ivi", 4*mib+1)
	assert.EqualError(t, err, `iommu: device memory: domain "ivi" asks 5 MiB (4194305 bytes rounded up to the 1 MiB granule), quota 16 MiB with 12 MiB in use: device-memory quota exceeded`)
	_, err = m.Alloc("ivi", ^uint64(0))
	assert.ErrorIs(t, err, ErrQuota, "a huge size neither wraps nor passes")

	b, err := m.Alloc("ivi", 4*mib)
	require.NoError(t, err, "exactly up to the quota")
	assert.Equal(t, uint64(16*mib), m.Used("ivi"))

	// Lowering the quota keeps what is held and refuses more.
	m.SetQuota("ivi", 8*mib)
	_, err = m.Alloc("ivi", mib)
	assert.ErrorIs(t, err, ErrQuota)
	require.NoError(t, m.Free(a))
	require.NoError(t, m.Free(b))
	assert.Zero(t, m.Used("ivi"))

	_, err = m.Alloc("ivi", 0)
	assert.ErrorIs(t, err, ErrInvalidArgument)

	assert.Zero(t, m.Quota("nobody"))
	assert.Zero(t, m.Used("nobody"))
	assert.Zero(t, m.FreeAll("nobody"))
}

func TestDeviceMemoryOutOfMemoryAndCoalescing(t *testing.T) {
	m := newDeviceMemory(t, 16*mib, mib)
	m.SetQuota("ivi", 64*mib)

	var as [4]*Allocation
	for i := range as {
		a, err := m.Alloc("ivi", 4*mib)
		require.NoError(t, err)
		assert.Equal(t, uint64(i)*4*mib, a.Offset, "first fit from the bottom")
		assert.Equal(t, uint64(4*mib), a.Size)
		assert.Equal(t, "ivi", a.Domain)
		as[i] = a
	}
	_, err := m.Alloc("ivi", mib)
	assert.ErrorIs(t, err, ErrOutOfMemory)
	assert.EqualError(t, err, `iommu: device memory: domain "ivi" asks 1 MiB: out of device memory: 0 bytes free, largest free run 0 bytes`)

	require.NoError(t, m.Free(as[0]))
	require.NoError(t, m.Free(as[2]))
	s := m.Stats()
	assert.Equal(t, uint64(2), s.FreeRuns, "two runs that do not touch")
	assert.Equal(t, uint64(8*mib), s.Free)
	assert.Equal(t, uint64(4*mib), s.LargestFree)
	_, err = m.Alloc("ivi", 8*mib)
	assert.EqualError(t, err, `iommu: device memory: domain "ivi" asks 8 MiB: out of device memory: 8 MiB free, largest free run 4 MiB`)

	require.NoError(t, m.Free(as[1])) // joins both neighbours
	s = m.Stats()
	assert.Equal(t, uint64(1), s.FreeRuns)
	assert.Equal(t, uint64(12*mib), s.LargestFree)
	a, err := m.Alloc("ivi", 12*mib)
	require.NoError(t, err)
	assert.Zero(t, a.Offset)

	require.NoError(t, m.Free(as[3])) // the only free run
	require.NoError(t, m.Free(a))     // joins the run after it
	s = m.Stats()
	assert.Equal(t, DeviceMemoryStats{Size: 16 * mib, Granule: mib, Free: 16 * mib, LargestFree: 16 * mib,
		FreeRuns: 1, Allocations: 0, Scrubbed: 28 * mib}, s)
}

func TestDeviceMemoryFreeOrderings(t *testing.T) {
	// Every order of freeing three neighbours ends in one run.
	orders := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, order := range orders {
		m := newDeviceMemory(t, 3*PageSize, PageSize)
		m.SetQuota("d", 3*PageSize)
		var as [3]*Allocation
		for i := range as {
			var err error
			as[i], err = m.Alloc("d", PageSize)
			require.NoError(t, err)
		}
		for _, i := range order {
			require.NoError(t, m.Free(as[i]))
		}
		assert.Equal(t, uint64(1), m.Stats().FreeRuns, "order %v", order)
		assert.Equal(t, uint64(3*PageSize), m.Stats().LargestFree)
	}
}

// TestDeviceMemoryScrubbedBetweenOwners is the LeftoverLocals test
// (CVE-2023-4969): a domain writes a secret into device memory through its
// IOMMU context, frees it; the next domain gets the same range and must read
// zeros.
func TestDeviceMemoryScrubbedBetweenOwners(t *testing.T) {
	const iova = 0x100000
	m := newDeviceMemory(t, mib, 64*kib)
	m.SetQuota("A", mib)
	m.SetQuota("B", mib)
	secret := bytes.Repeat([]byte("hunter2!"), 64*kib/8)

	a, err := m.Alloc("A", 64*kib)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 64*kib), a.Bytes(), "fresh memory reads as zeros")
	ctxA := NewContext("A")
	require.NoError(t, ctxA.Map(iova, a.Bytes(), ReadWrite))
	require.NoError(t, ctxA.Write(iova, secret))
	assert.Equal(t, secret, a.Bytes(), "the write landed in device memory")
	require.NoError(t, ctxA.Unmap(iova, 64*kib))
	require.NoError(t, m.Free(a))
	assert.Nil(t, a.Bytes(), "a freed allocation has no bytes")

	b, err := m.Alloc("B", 64*kib)
	require.NoError(t, err)
	require.Equal(t, a.Offset, b.Offset, "B gets the very range A had")
	ctxB := NewContext("B")
	require.NoError(t, ctxB.Map(iova, b.Bytes(), Read))
	got := make([]byte, 64*kib)
	require.NoError(t, ctxB.Read(iova, got))
	assert.Equal(t, make([]byte, 64*kib), got, "B must not see A's secret")
	assert.Equal(t, uint64(64*kib), m.Stats().Scrubbed)
}

func TestDeviceMemoryFreeAll(t *testing.T) {
	m := newDeviceMemory(t, 8*mib, mib)
	m.SetQuota("ivi", 8*mib)
	m.SetQuota("cluster", 8*mib)
	var ivi []*Allocation
	for range 3 {
		a, err := m.Alloc("ivi", mib)
		require.NoError(t, err)
		copy(a.Bytes(), bytes.Repeat([]byte{0x1f}, mib))
		ivi = append(ivi, a)
		c, err := m.Alloc("cluster", mib) // interleaved with ivi's
		require.NoError(t, err)
		copy(c.Bytes(), bytes.Repeat([]byte{0xc1}, mib))
	}
	assert.Equal(t, uint64(3*mib), m.FreeAll("ivi"))
	assert.Zero(t, m.Used("ivi"))
	assert.Equal(t, uint64(8*mib), m.Quota("ivi"), "the quota stays")
	assert.Equal(t, uint64(3*mib), m.Used("cluster"))
	assert.Equal(t, uint64(5*mib), m.FreeBytes())
	for _, a := range ivi {
		assert.Nil(t, a.Bytes())
		assert.ErrorIs(t, m.Free(a), ErrNotAllocated, "FreeAll freed it already")
		assert.Equal(t, make([]byte, mib), m.mem[a.Offset:a.Offset+mib], "scrubbed")
	}
	for off := uint64(mib); off < 6*mib; off += 2 * mib {
		assert.Equal(t, bytes.Repeat([]byte{0xc1}, mib), m.mem[off:off+mib], "cluster's memory is untouched")
	}
	assert.Equal(t, uint64(3), m.Stats().Allocations)
	assert.Zero(t, m.FreeAll("ivi"))
}

func TestDeviceMemoryBadFree(t *testing.T) {
	m := newDeviceMemory(t, mib, 64*kib)
	other := newDeviceMemory(t, mib, 64*kib)
	m.SetQuota("ivi", mib)
	other.SetQuota("ivi", mib)

	a, err := m.Alloc("ivi", 64*kib)
	require.NoError(t, err)
	foreign, err := other.Alloc("ivi", 64*kib)
	require.NoError(t, err)

	assert.ErrorIs(t, m.Free(nil), ErrNotAllocated)
	err = m.Free(foreign)
	assert.ErrorIs(t, err, ErrNotAllocated)
	assert.ErrorContains(t, err, "belongs to another device memory")
	assert.ErrorIs(t, m.Free(&Allocation{Domain: "ivi", Size: 64 * kib}), ErrNotAllocated, "a made-up allocation")
	assert.Equal(t, uint64(64*kib), m.Used("ivi"))
	assert.NotNil(t, foreign.Bytes(), "the foreign allocation is untouched")

	// Editing the exported fields does not redirect Free.
	a.Offset, a.Size = 128*kib, mib
	require.NoError(t, m.Free(a))
	err = m.Free(a)
	assert.ErrorIs(t, err, ErrNotAllocated)
	assert.EqualError(t, err, `iommu: device memory: double free of domain "ivi"'s allocation at offset 0x0 (64 KiB): not a live allocation`)
	assert.Equal(t, uint64(mib), m.FreeBytes())
	assert.Equal(t, uint64(1), m.Stats().FreeRuns)
}

func TestAllocationBytesIsCapped(t *testing.T) {
	m := newDeviceMemory(t, mib, 64*kib)
	m.SetQuota("ivi", mib)
	a, err := m.Alloc("ivi", 64*kib)
	require.NoError(t, err)
	b, err := m.Alloc("ivi", 64*kib)
	require.NoError(t, err)
	bs := a.Bytes()
	assert.Len(t, bs, 64*kib)
	assert.Equal(t, 64*kib, cap(bs), "append cannot spill into the neighbour")
	_ = append(bs, 0xff)
	assert.Zero(t, b.Bytes()[0])
}
