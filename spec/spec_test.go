package spec

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRegisterMapRejectsBadTables(t *testing.T) {
	ok := Register{Name: "A", Offset: 0, Width: 4, Class: Emulated}
	cases := []struct {
		name string
		size uint32
		regs []Register
		want string
	}{
		{"zero window", 0, nil, "not a positive multiple of 4"},
		{"no name", 16, []Register{{Offset: 0, Width: 4, Class: Emulated}}, "has no name"},
		{"duplicate name", 16, []Register{ok, {Name: "A", Offset: 4, Width: 4, Class: Emulated}}, "used twice"},
		{"bad width", 16, []Register{{Name: "B", Width: 2, Class: Emulated}}, "width 2"},
		{"unaligned", 16, []Register{{Name: "B", Offset: 4, Width: 8, Class: Emulated}}, "not aligned"},
		{"outside", 16, []Register{{Name: "B", Offset: 16, Width: 4, Class: Emulated}}, "outside the 16-byte window"},
		{"no class", 16, []Register{{Name: "B", Width: 4}}, "invalid access class"},
		{"wide reset", 16, []Register{{Name: "B", Width: 4, Class: Emulated, Reset: 1 << 40}}, "wider than 32 bits"},
		{"overlap", 16, []Register{{Name: "B", Offset: 0, Width: 8, Class: Emulated}, {Name: "C", Offset: 4, Width: 4, Class: Emulated}}, "overlap at 0x0004"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewRegisterMap(c.size, c.regs)
			assert.ErrorContains(t, err, c.want)
		})
	}
}

func TestDecode(t *testing.T) {
	m := ReferenceGPU().Registers
	idx, err := m.Decode(RegRingBase, 8)
	require.NoError(t, err)
	assert.Equal(t, "RING_BASE", m.At(idx).Name)

	cases := []struct {
		off  uint32
		size uint8
		want error
		msg  string
	}{
		{RefGPUWindowBytes, 4, ErrOutOfRange, "4-byte access at 0x1000: outside the register window"},
		{RefGPUWindowBytes - 4, 8, ErrOutOfRange, "outside"},
		{RegRingBase + 2, 4, ErrUnaligned, "not aligned"},
		{RegRingBase, 3, ErrBadSize, "not 1, 2, 4 or 8"},
		{0x0F00, 4, ErrNoRegister, "no register there"},
		{RegRingBase + 4, 4, ErrWrongWidth, "RING_BASE is 8 bytes at 0x0040, access it whole"},
		{RegStatus, 8, ErrWrongWidth, "STATUS is 4 bytes"},
		{RegStatus, 2, ErrWrongWidth, "access width does not match"},
	}
	for _, c := range cases {
		_, err := m.Decode(c.off, c.size)
		require.Error(t, err, "0x%x/%d", c.off, c.size)
		assert.True(t, errors.Is(err, c.want), "0x%x/%d: %v", c.off, c.size, err)
		assert.ErrorContains(t, err, c.msg)
		var ae *AccessError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, c.off, ae.Offset)
	}
}

func TestDecodeEveryRegister(t *testing.T) {
	m := ReferenceGPU().Registers
	for i, r := range m.Registers() {
		idx, err := m.Decode(r.Offset, r.Width)
		require.NoError(t, err, r.Name)
		assert.Equal(t, i, idx)
		byName, ok := m.ByName(r.Name)
		assert.True(t, ok)
		assert.Equal(t, i, byName)
	}
}

func TestExtent(t *testing.T) {
	e := Extent{Fixed: 8, Scale: 4, Factors: []int{0, 1}}
	n, err := e.Bytes([]uint64{3, 5})
	require.NoError(t, err)
	assert.Equal(t, uint64(8+4*15), n)

	_, err = e.Bytes([]uint64{math.MaxUint64, 2})
	assert.ErrorContains(t, err, "overflows")
	_, err = Extent{Fixed: math.MaxUint64, Scale: 1, Factors: []int{0}}.Bytes([]uint64{1})
	assert.ErrorContains(t, err, "overflows")
	_, err = Extent{Scale: 1, Factors: []int{3}}.Bytes([]uint64{1})
	assert.ErrorContains(t, err, "operand 3 of 1")
}

func TestNewCommandSetRejectsBadTables(t *testing.T) {
	cases := []struct {
		name string
		cmds []CommandDef
		kern []KernelDef
		want string
	}{
		{"dup opcode", []CommandDef{{Op: 1, Name: "A"}, {Op: 1, Name: "B"}}, nil, "defined twice"},
		{"too many operands", []CommandDef{{Op: 1, Name: "A", Operands: make([]Operand, MaxOperands+1)}}, nil, "at most 8"},
		{"bad kind", []CommandDef{{Op: 1, Name: "A", Operands: []Operand{{Name: "x"}}}}, nil, "invalid kind"},
		{"address without access", []CommandDef{{Op: 1, Name: "A", Operands: []Operand{{Name: "x", Kind: Address}}}}, nil, "without a valid access"},
		{"unbounded factor", []CommandDef{{Op: 1, Name: "A", Operands: []Operand{
			{Name: "x", Kind: Address, Access: DMARead, Extent: Extent{Scale: 1, Factors: []int{1}}}, {Name: "n", Kind: Value}}}}, nil, "bounded value operand"},
		{"block without kernel", []CommandDef{{Op: 1, Name: "A", Operands: []Operand{{Name: "b", Kind: ArgBlock}}}}, nil, "exactly one kernel"},
		{"kernel arg kind", nil, []KernelDef{{ID: 1, Name: "k", Args: []Operand{{Name: "r", Kind: RegisterOffset}}}}, "only in commands"},
		{"dup kernel", nil, []KernelDef{{ID: 1, Name: "k"}, {ID: 1, Name: "j"}}, "kernel id 1 defined twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewCommandSet(c.cmds, c.kern)
			assert.ErrorContains(t, err, c.want)
		})
	}
}

func TestReferenceGPU(t *testing.T) {
	d := ReferenceGPU()
	require.NoError(t, d.Validate())
	assert.Equal(t, ClassGPU, d.Class)
	for _, op := range []Opcode{OpNop, OpFence, OpCopy, OpFill, OpDispatch, OpWait, OpLoadReg, OpStoreReg} {
		def, ok := d.Commands.Lookup(op)
		require.True(t, ok, "opcode 0x%x", op)
		assert.False(t, def.Privileged, def.Name)
	}
	for _, op := range []Opcode{OpSetPTBase, OpSetClock, OpInvalidateTLB} {
		def, ok := d.Commands.Lookup(op)
		require.True(t, ok)
		assert.True(t, def.Privileged, def.Name)
	}
	for _, k := range []uint64{KernelSaxpy, KernelSgemm, KernelReduceSum, KernelLocalRead} {
		_, ok := d.Commands.Kernel(k)
		assert.True(t, ok, "kernel %d", k)
	}
	// Every class the mediator handles appears in the reference map.
	seen := map[AccessClass]bool{}
	for _, r := range d.Registers.Registers() {
		seen[r.Class] = true
	}
	for c := PassThrough; c <= Privileged; c++ {
		assert.True(t, seen[c], c.String())
	}
	assert.Equal(t, "RING_TAIL", d.Registers.At(d.Ring.Tail).Name)
	assert.Equal(t, "DOORBELL", d.Registers.At(d.Ring.Doorbell).Name)
}

func TestEncode(t *testing.T) {
	words := Encode(nil, OpFence, 0x1000, 7)
	assert.Equal(t, []uint64{uint64(OpFence) | 2<<HeaderCountShift, 0x1000, 7}, words)
	c := Command{Op: OpFence, N: 2, Operands: [MaxOperands]uint64{0x1000, 7}}
	assert.Equal(t, uint64(7), c.Operand(1))
	assert.Equal(t, uint64(0), c.Operand(2))
	assert.Equal(t, "privileged", Privileged.String())
	assert.Equal(t, "AccessClass(9)", AccessClass(9).String())
	assert.Equal(t, "read-write", DMAReadWrite.String())
}
