package spec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReferenceFPGATables(t *testing.T) {
	d := ReferenceFPGA()
	require.NoError(t, d.Validate())
	assert.Equal(t, ClassFPGA, d.Class)
	require.True(t, d.HasRing)

	// Every library entry is an INVOKE-able accelerator and CAPS lists it.
	caps, ok := d.Registers.ByName("CAPS")
	require.True(t, ok)
	capBits := d.Registers.At(caps).Reset
	lib := RefFPGAAccelerators()
	require.Len(t, lib, len(d.Commands.Kernels()))
	for _, a := range lib {
		k, ok := d.Commands.Kernel(a.ID)
		if assert.True(t, ok, "accelerator %s has no argument table", a.Name) {
			assert.Equal(t, a.Name, k.Name)
		}
		assert.NotZero(t, capBits&(1<<a.ID), "CAPS lacks %s", a.Name)
		assert.NotZero(t, a.BitstreamBytes)
	}
	lib[0].BitstreamBytes = 1
	assert.NotEqual(t, uint64(1), RefFPGAAccelerators()[0].BitstreamBytes, "the library is handed out as a copy")

	// Raw bitstream loading, cache eviction and PT_BASE are host-only; the
	// guest's commands are not.
	for _, c := range d.Commands.Commands() {
		host := c.Op == FPGAOpLoadBitstream || c.Op == FPGAOpEvictCache || c.Op == OpSetPTBase
		assert.Equal(t, host, c.Privileged, "command %s", c.Name)
	}
	// The PR/ICAP port, isolation, reset, page tables and clock registers
	// are host-only; USERn are per-context.
	for _, name := range []string{"PR_CTRL", "PR_DATA", "DECOUPLE", "PORT_RESET", "PT_BASE", "USER_CLOCK", "CACHE_CTRL"} {
		i, ok := d.Registers.ByName(name)
		require.True(t, ok, name)
		assert.Equal(t, Privileged, d.Registers.At(i).Class, name)
	}
	var user int
	for _, r := range d.Registers.Registers() {
		if r.Class == PassThrough {
			user++
		}
	}
	assert.Equal(t, RefFPGAUserReg, user)
}

// The registers the mediator handles generically sit where the reference
// GPU has them, so a driver's ring code serves both devices.
func TestReferenceFPGASharesTheGPURingLayout(t *testing.T) {
	g, f := ReferenceGPU(), ReferenceFPGA()
	for _, role := range []Role{RoleStatus, RoleIntStatus, RoleIntMask, RoleErrorCode, RoleErrorAddr, RoleRingBase, RoleRingSize, RoleRingHead, RoleRingTail, RoleDoorbell, RoleFence} {
		gi, ok := g.Registers.ByRole(role)
		require.True(t, ok)
		fi, ok := f.Registers.ByRole(role)
		require.True(t, ok, "role %d", role)
		assert.Equal(t, g.Registers.At(gi).Offset, f.Registers.At(fi).Offset, "role %d", role)
		assert.Equal(t, g.Registers.At(gi).Name, f.Registers.At(fi).Name)
	}
}

// Extents of the accelerators' buffers follow the argument values, and the
// largest allowed arguments cannot overflow them.
func TestReferenceFPGAExtents(t *testing.T) {
	d := ReferenceFPGA()
	fir, _ := d.Commands.Kernel(AccelFIR)
	args := []uint64{1000, 16, 0, 0, 0}
	want := map[string]uint64{"x": 2000, "h": 32, "y": 8000}
	for _, o := range fir.Args {
		if o.Kind != Address {
			continue
		}
		n, err := o.Extent.Bytes(args)
		require.NoError(t, err)
		assert.Equal(t, want[o.Name], n, o.Name)
	}
	for _, k := range d.Commands.Kernels() {
		maxArgs := make([]uint64, len(k.Args))
		for i, o := range k.Args {
			maxArgs[i] = o.Max
		}
		for _, o := range k.Args {
			if o.Kind == Address {
				n, err := o.Extent.Bytes(maxArgs)
				require.NoError(t, err, "%s.%s", k.Name, o.Name)
				assert.LessOrEqual(t, n, uint64(1<<30), "%s.%s", k.Name, o.Name)
			}
		}
	}
}
