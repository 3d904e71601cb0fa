package spec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReferenceDSPTables(t *testing.T) {
	d := ReferenceDSP()
	require.NoError(t, d.Validate())
	assert.Equal(t, ClassDSP, d.Class)
	assert.False(t, d.HasRing, "the DSP takes calls through Submit only")

	regs := d.Registers
	for name, off := range map[string]uint32{
		"ID": RegDSPID, "SESSIONS": RegDSPSessions, "STATUS": RegDSPStatus, "FENCE": RegDSPFence,
		"MBOX0": RegDSPMbox0, "MBOX3": RegDSPMbox0 + 24, "CONTEXT_BANK": RegDSPContextBank, "TCM_CTRL": RegDSPTCMCtrl,
	} {
		i, ok := regs.ByName(name)
		require.True(t, ok, name)
		assert.Equal(t, off, regs.At(i).Offset, name)
	}
	i, _ := regs.ByName("SESSIONS")
	assert.EqualValues(t, RefDSPMaxSessions, regs.At(i).Reset)
	for _, name := range []string{"CLOCK_CTRL", "CONTEXT_BANK", "RESET", "POWER", "TCM_CTRL"} {
		i, _ := regs.ByName(name)
		assert.Equal(t, Privileged, regs.At(i).Class, name)
	}
	pass := 0
	for _, r := range regs.Registers() {
		if r.Class == PassThrough {
			pass++
		}
	}
	assert.Equal(t, RefDSPMailboxes, pass)

	for _, op := range []Opcode{OpDSPSetContextBank, OpDSPSetClock, OpDSPInvalidateTLB, OpDSPScrubTCM} {
		c, ok := d.Commands.Lookup(op)
		require.True(t, ok)
		assert.True(t, c.Privileged, c.Name)
	}
	call, ok := d.Commands.Lookup(OpDSPCall)
	require.True(t, ok)
	assert.Len(t, call.Operands, 6)
	assert.Equal(t, 7*RefDSPMaxSubmitCmds, d.MaxSubmitWords)

	// Every service has a buffer table whose extents name bounded value
	// arguments of that service, and every buffer table a service.
	require.Len(t, d.Commands.Kernels(), len(refDSPBuffers))
	var caps uint64
	for _, k := range d.Commands.Kernels() {
		caps |= 1 << k.ID
		b, ok := RefDSPServiceBuffers(k.ID)
		require.True(t, ok, k.Name)
		for _, e := range []Extent{b.In, b.Out} {
			for _, f := range e.Factors {
				require.Less(t, f, len(k.Args), k.Name)
				assert.Equal(t, Value, k.Args[f].Kind, k.Name)
				assert.NotZero(t, k.Args[f].Max, k.Name)
			}
		}
		// At their limits, the buffers fit a CALL.
		max := make([]uint64, len(k.Args))
		for i, a := range k.Args {
			max[i] = a.Max
		}
		in, out, err := RefDSPCallBuffers(k.ID, max)
		require.NoError(t, err)
		assert.LessOrEqual(t, in, uint64(RefDSPMaxCallBytes), k.Name)
		assert.LessOrEqual(t, out, uint64(RefDSPMaxCallBytes), k.Name)
	}
	i, _ = regs.ByName("CAPS")
	assert.Equal(t, caps, regs.At(i).Reset)
}

func TestRefDSPCallBuffers(t *testing.T) {
	in, out, err := RefDSPCallBuffers(DSPServiceFIR, []uint64{64, 240, 0x1000})
	require.NoError(t, err)
	assert.Equal(t, [2]uint64{960, 960}, [2]uint64{in, out})
	in, out, err = RefDSPCallBuffers(DSPServiceFFT, []uint64{4096, 0})
	require.NoError(t, err)
	assert.Equal(t, [2]uint64{32768, 32768}, [2]uint64{in, out})
	in, out, err = RefDSPCallBuffers(DSPServiceMix, []uint64{2, 240, 0x1000})
	require.NoError(t, err)
	assert.Equal(t, [2]uint64{1920, 960}, [2]uint64{in, out})

	_, _, err = RefDSPCallBuffers(99, nil)
	assert.ErrorContains(t, err, "unknown DSP service 99")
	_, _, err = RefDSPCallBuffers(DSPServiceFIR, []uint64{1})
	assert.ErrorContains(t, err, "extent refers to operand 1 of 1")
}
