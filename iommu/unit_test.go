package iommu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnitWithoutContext(t *testing.T) {
	u := NewUnit("gpu0")
	assert.Equal(t, "gpu0", u.Device())
	assert.Nil(t, u.Active())

	calls := []struct {
		name   string
		access Perm
		do     func() error
	}{
		{"Read", Read, func() error { return u.Read(0x1000, make([]byte, 4)) }},
		{"Write", Write, func() error { return u.Write(0x1000, []byte{1}) }},
		{"ReadU32", Read, func() error { _, err := u.ReadU32(0x1000); return err }},
		{"ReadU64", Read, func() error { _, err := u.ReadU64(0x1000); return err }},
		{"WriteU32", Write, func() error { return u.WriteU32(0x1000, 1) }},
		{"WriteU64", Write, func() error { return u.WriteU64(0x1000, 1) }},
		{"Translate", ReadWrite, func() error { _, err := u.Translate(0x1000, ReadWrite); return err }},
		{"Check", Read, func() error { return u.Check(0x1000, 8, Read) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			assert.ErrorIs(t, err, ErrNoContext)
			var f *Fault
			require.ErrorAs(t, err, &f)
			assert.Equal(t, Fault{Device: "gpu0", IOVA: 0x1000, Access: c.access, Reason: ErrNoContext}, *f)
		})
	}
	err := u.Write(0x7f000000, []byte{1})
	assert.EqualError(t, err, `iommu: device "gpu0": write at IOVA 0x7f000000: no IOMMU context is active on the device`)
	// Every call above but Check (which records nothing) counts, and so does this Write.
	assert.Equal(t, uint64(len(calls)), u.Stats().NoContextFaults)
}

func TestUnitSwitchesContexts(t *testing.T) {
	const iova = 0x4000
	ivi, memIVI := mapped(t, "ivi", iova, 1, ReadWrite)
	cluster, memCluster := mapped(t, "cluster", iova, 1, ReadWrite)
	u := NewUnit("gpu0")

	u.Activate(ivi)
	assert.Same(t, ivi, u.Active())
	require.NoError(t, u.WriteU64(iova, 0x1717))
	require.NoError(t, u.Write(iova+8, []byte("ivi")))

	u.Activate(cluster)
	assert.Same(t, cluster, u.Active())
	require.NoError(t, u.WriteU32(iova, 0xc1))
	v, err := u.ReadU64(iova)
	require.NoError(t, err)
	assert.Equal(t, uint64(0xc1)|uint64(memCluster[4])<<32|uint64(memCluster[5])<<40|
		uint64(memCluster[6])<<48|uint64(memCluster[7])<<56, v, "the device sees only the active domain's memory")
	w, err := u.ReadU32(iova)
	require.NoError(t, err)
	assert.Equal(t, uint32(0xc1), w)
	b, err := u.Translate(iova+8, Read)
	require.NoError(t, err)
	assert.Equal(t, memCluster[8:PageSize], b)
	require.NoError(t, u.Check(iova, PageSize, ReadWrite))

	assert.Equal(t, []byte{0x17, 0x17, 0, 0, 0, 0, 0, 0, 'i', 'v', 'i'}, memIVI[:11], "ivi's memory kept ivi's writes")

	u.Activate(ivi)
	dst := make([]byte, 3)
	require.NoError(t, u.Read(iova+8, dst))
	assert.Equal(t, "ivi", string(dst))

	u.Deactivate()
	assert.Nil(t, u.Active())
	_, err = u.ReadU64(iova)
	assert.ErrorIs(t, err, ErrNoContext)
	assert.Equal(t, uint64(4), u.Stats().Switches)

	u.Activate(ivi)
	u.Activate(ivi)
	assert.Equal(t, uint64(5), u.Stats().Switches, "re-activating the active context is no switch")
}

func TestUnitFaultsNameDeviceAndDomain(t *testing.T) {
	c, _ := mapped(t, "ivi", 0x1000, 1, Read)
	u := NewUnit("gpu0")
	u.Activate(c)

	err := u.WriteU64(0x1000, 1)
	assert.EqualError(t, err, `iommu: device "gpu0": domain "ivi": write at IOVA 0x1000: permission denied (page is mapped r)`)
	assert.ErrorIs(t, err, ErrPermission)
	_, err = u.ReadU32(0x9000)
	assert.ErrorIs(t, err, ErrNotMapped)
	err = u.Check(0x1000, 2*PageSize, Read)
	var f *Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, Fault{Device: "gpu0", Domain: "ivi", IOVA: 0x2000, Access: Read, Reason: ErrNotMapped}, *f)
	for _, do := range []func() error{
		func() error { return u.Read(0x9000, make([]byte, 1)) },
		func() error { return u.Write(0x9000, make([]byte, 1)) },
		func() error { _, err := u.ReadU64(0x9000); return err },
		func() error { return u.WriteU32(0x9000, 0) },
		func() error { _, err := u.Translate(0x9000, Read); return err },
	} {
		require.ErrorAs(t, do(), &f)
		assert.Equal(t, "gpu0", f.Device)
		assert.Equal(t, "ivi", f.Domain)
	}

	// The faults are the domain's: recorded in its context.
	faults := c.Faults()
	require.Len(t, faults, 7)
	assert.Equal(t, uint64(0x1000), faults[0].IOVA)
	assert.Equal(t, Write, faults[0].Access)
}
