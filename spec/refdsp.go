package spec

import "fmt"

// The reference DSP ("coprocd-refdsp") is the signal-processing coprocessor
// every part of coprocd is tested against for the DSP class.
// backends/dsp/sim implements it; a Qualcomm Hexagon reached through
// FastRPC (backends/dsp/rproc) is the real device it stands for.
//
// # Programming model
//
// A DSP is driven by remote procedure calls, not by command rings: a client
// opens a session (a protection domain on the DSP, with its own SMMU context
// bank) and invokes services in it, each call running to completion on the
// DSP. The reference DSP keeps that shape:
//
//  1. Attaching a vcoproc opens a session. A device has RefDSPMaxSessions
//     of them (FastRPC's FASTRPC_MAX_SESSIONS, 14); attaching beyond that
//     fails. SESSIONS reads the limit.
//  2. The guest maps its buffers into its I/O address space (guest memory,
//     or TCM: device memory allocated with AllocDeviceMemory) and submits a
//     command buffer (Submit; there is no ring and no doorbell) with CALL
//     commands: CALL(service, in, in_len, out, out_len, args), the FastRPC
//     shape of one input buffer, one output buffer and a block of scalars.
//  3. The mediator's scanner checks that [in, in+in_len) is mapped readable
//     and [out, out+out_len) writable in the domain's own address space,
//     reads the service's argument block once and audits it with the
//     service's table (its coefficient or gain buffer included), and
//     snapshots it. The backend then checks what the table cannot say:
//     in_len and out_len must equal what RefDSPServiceBuffers gives for the
//     arguments, and the call's cost must fit the host's per-call budget; a
//     job failing either is refused before anything of it runs.
//  4. A call runs to its end once started: the DSP cannot be preempted
//     inside a call, only between commands. The host therefore bounds calls
//     instead (the budget above) and the scheduler's blocking term is the
//     longest call the limits below allow.
//  5. FENCE writes its value to memory, updates FENCE and raises IntFence.
//
// Per-session state the guest sees is MBOX0..MBOX3 (pass-through: saved and
// restored with the session); LOAD_REG and STORE_REG reach them from a
// command buffer. The clock, the SMMU context bank, reset, power and the TCM
// controller belong to the host: their registers and the commands that
// would touch them (SET_CONTEXT_BANK, SET_CLOCK, INVALIDATE_TLB, SCRUB_TCM)
// are privileged, denied to guests and counted.
//
// # Data formats
//
// Samples are little-endian float32. Complex samples are interleaved
// (re, im) float32 pairs. Every buffer is 4-byte aligned.

// Opcodes of the reference DSP.
const (
	OpDSPNop      Opcode = 0x00
	OpDSPFence    Opcode = 0x01
	OpDSPLoadReg  Opcode = 0x06
	OpDSPStoreReg Opcode = 0x07
	OpDSPCall     Opcode = 0x10
	// Privileged: the host's, never a guest's.
	OpDSPSetContextBank Opcode = 0x40
	OpDSPSetClock       Opcode = 0x41
	OpDSPInvalidateTLB  Opcode = 0x42
	OpDSPScrubTCM       Opcode = 0x43
)

// Service ids of the reference DSP (the KernelID operand of CALL).
const (
	// DSPServiceFIR filters samples float32 values with taps coefficients:
	// out[n] = Σ_{k=0}^{min(taps-1, n)} coeffs[k]·in[n-k], accumulated in
	// float32 in increasing k, each product rounded to float32 before it is
	// added. Samples before in[0] are zero (every call starts from rest).
	DSPServiceFIR uint64 = 1
	// DSPServiceFFT transforms n complex samples (n a power of two from 2
	// to RefDSPMaxFFTPoints): out[k] = Σ_t in[t]·e^{∓2πi·kt/n}, the minus
	// sign forward; the inverse (inverse = 1) is scaled by 1/n. Radix-2,
	// decimation in time, float32.
	DSPServiceFFT uint64 = 2
	// DSPServiceMix mixes channels interleaved channels of frames frames
	// down to one: out[f] = clamp(Σ_c gains[c]·in[f·channels+c], -1, 1),
	// accumulated in float32 in increasing c.
	DSPServiceMix uint64 = 3
)

// Reference DSP constants.
const (
	RefDSPID          = 0x0C0D0002
	RefDSPVersion     = 0x00010000 // 1.0
	RefDSPWindowBytes = 0x1000
	// RefDSPMaxSessions is the number of sessions (protection domains) one
	// device holds: FastRPC's FASTRPC_MAX_SESSIONS.
	RefDSPMaxSessions = 14
	// RefDSPTCMBytes is the tightly coupled memory shared out among
	// sessions (Hexagon V66's VTCM), in granules of RefDSPTCMGranule.
	RefDSPTCMBytes   = 256 << 10
	RefDSPTCMGranule = 4 << 10
	// Limits of one CALL.
	RefDSPMaxCallBytes  = 2 << 20 // in_len, out_len
	RefDSPMaxTaps       = 1024
	RefDSPMaxSamples    = 64 << 10 // FIR samples, mixer frames
	RefDSPMaxFFTPoints  = 64 << 10
	RefDSPMaxChannels   = 8
	RefDSPMailboxes     = 4 // MBOX0..MBOX3
	RefDSPMaxSubmitCmds = 1 << 10
)

// Register offsets of the reference DSP, for drivers and tests. The
// identification, status, interrupt, error and fence registers sit where
// the reference GPU has them.
const (
	RegDSPID          = 0x000
	RegDSPVersion     = 0x004
	RegDSPCaps        = 0x008
	RegDSPSessions    = 0x010
	RegDSPTCMSize     = 0x014
	RegDSPStatus      = 0x020
	RegDSPIntStatus   = 0x024
	RegDSPIntMask     = 0x028
	RegDSPErrorCode   = 0x030
	RegDSPErrorAddr   = 0x038
	RegDSPFence       = 0x058
	RegDSPMbox0       = 0x080 // MBOX0..MBOX3, 8 bytes apart
	RegDSPClockCtrl   = 0x100
	RegDSPContextBank = 0x108
	RegDSPReset       = 0x110
	RegDSPPower       = 0x114
	RegDSPTCMCtrl     = 0x118
)

// DSPServiceBuffers is what one service needs of a CALL's in and out
// buffers, as extents over the service's argument block (Extent.Factors
// index the service's Args).
type DSPServiceBuffers struct {
	Service uint64
	In, Out Extent
}

var refDSP = buildRefDSP()

var refDSPBuffers = []DSPServiceBuffers{
	{Service: DSPServiceFIR, In: Extent{Scale: 4, Factors: []int{1}}, Out: Extent{Scale: 4, Factors: []int{1}}},
	{Service: DSPServiceFFT, In: Extent{Scale: 8, Factors: []int{0}}, Out: Extent{Scale: 8, Factors: []int{0}}},
	{Service: DSPServiceMix, In: Extent{Scale: 4, Factors: []int{0, 1}}, Out: Extent{Scale: 4, Factors: []int{1}}},
}

// ReferenceDSP returns the spec of the reference DSP. The result is shared
// and must not be modified.
func ReferenceDSP() *Device { return refDSP }

// RefDSPServiceBuffers returns the in and out extents of a service of the
// reference DSP. The result is shared and must not be modified.
func RefDSPServiceBuffers(service uint64) (DSPServiceBuffers, bool) {
	for _, b := range refDSPBuffers {
		if b.Service == service {
			return b, true
		}
	}
	return DSPServiceBuffers{}, false
}

// RefDSPCallBuffers computes the in_len and out_len a CALL of service with
// the argument snapshot args must carry.
func RefDSPCallBuffers(service uint64, args []uint64) (in, out uint64, err error) {
	b, ok := RefDSPServiceBuffers(service)
	if !ok {
		return 0, 0, fmt.Errorf("unknown DSP service %d", service)
	}
	if in, err = b.In.Bytes(args); err != nil {
		return 0, 0, fmt.Errorf("service %d in buffer: %w", service, err)
	}
	if out, err = b.Out.Bytes(args); err != nil {
		return 0, 0, fmt.Errorf("service %d out buffer: %w", service, err)
	}
	return in, out, nil
}

func buildRefDSP() *Device {
	const all32, all64 = 0xffffffff, ^uint64(0)
	const ints = IntFence | IntError | IntFault
	regs := []Register{
		{Name: "ID", Offset: RegDSPID, Width: 4, Class: ReadOnly, Role: RoleID, Reset: RefDSPID, Doc: "device identification"},
		{Name: "VERSION", Offset: RegDSPVersion, Width: 4, Class: ReadOnly, Role: RoleID, Reset: RefDSPVersion, Doc: "major<<16 | minor"},
		{Name: "CAPS", Offset: RegDSPCaps, Width: 8, Class: ReadOnly, Role: RoleID, Reset: 1<<DSPServiceFIR | 1<<DSPServiceFFT | 1<<DSPServiceMix, Doc: "bitmap of service ids"},
		{Name: "SESSIONS", Offset: RegDSPSessions, Width: 4, Class: ReadOnly, Role: RoleID, Reset: RefDSPMaxSessions, Doc: "sessions (protection domains) the device holds"},
		{Name: "TCM_SIZE", Offset: RegDSPTCMSize, Width: 4, Class: ReadOnly, Role: RoleID, Reset: RefDSPTCMBytes, Doc: "bytes of tightly coupled memory shared out among sessions"},
		{Name: "STATUS", Offset: RegDSPStatus, Width: 4, Class: ReadOnly, Role: RoleStatus, Doc: "Status* bits of the vcoproc"},
		{Name: "INT_STATUS", Offset: RegDSPIntStatus, Width: 4, Class: WriteOneToClear, Role: RoleIntStatus, Mask: ints, Doc: "pending interrupts; write 1 to clear"},
		{Name: "INT_MASK", Offset: RegDSPIntMask, Width: 4, Class: Emulated, Role: RoleIntMask, Reset: ints, Mask: ints, Doc: "interrupts that raise an event"},
		{Name: "ERROR_CODE", Offset: RegDSPErrorCode, Width: 4, Class: ReadOnly, Role: RoleErrorCode, Doc: "ErrCode* of the last error"},
		{Name: "ERROR_ADDR", Offset: RegDSPErrorAddr, Width: 8, Class: ReadOnly, Role: RoleErrorAddr, Doc: "address, word or job of the last error"},
		{Name: "FENCE", Offset: RegDSPFence, Width: 8, Class: ReadOnly, Role: RoleFence, Doc: "value of the last completed FENCE"},
		{Name: "CLOCK_CTRL", Offset: RegDSPClockCtrl, Width: 4, Class: Privileged, Reset: 1, Mask: all32, Doc: "core clock enable and divider"},
		{Name: "CONTEXT_BANK", Offset: RegDSPContextBank, Width: 8, Class: Privileged, Mask: all64, Doc: "SMMU context bank of the running session"},
		{Name: "RESET", Offset: RegDSPReset, Width: 4, Class: Privileged, Mask: all32, Doc: "DSP subsystem reset"},
		{Name: "POWER", Offset: RegDSPPower, Width: 4, Class: Privileged, Reset: 1, Mask: all32, Doc: "power state"},
		{Name: "TCM_CTRL", Offset: RegDSPTCMCtrl, Width: 4, Class: Privileged, Mask: all32, Doc: "TCM partitioning and scrub control"},
	}
	for i := 0; i < RefDSPMailboxes; i++ {
		regs = append(regs, Register{
			Name: fmt.Sprintf("MBOX%d", i), Offset: uint32(RegDSPMbox0 + 8*i), Width: 8,
			Class: PassThrough, Mask: all64, Doc: "per-session mailbox register (LOAD_REG, STORE_REG)",
		})
	}

	addr := func(name string, acc DMAAccess, ext Extent) Operand {
		return Operand{Name: name, Kind: Address, Access: acc, Extent: ext, Align: 4}
	}
	val := func(name string, max uint64) Operand { return Operand{Name: name, Kind: Value, Max: max} }
	cmds := []CommandDef{
		{Op: OpDSPNop, Name: "NOP", Doc: "does nothing"},
		{Op: OpDSPFence, Name: "FENCE", Operands: []Operand{
			{Name: "addr", Kind: Address, Access: DMAWrite, Extent: Extent{Fixed: 8}, Align: 8}, val("value", 0)},
			Doc: "writes value (64-bit) to addr, sets FENCE, raises IntFence"},
		{Op: OpDSPCall, Name: "CALL", Operands: []Operand{
			{Name: "service", Kind: KernelID},
			addr("in", DMARead, Extent{Scale: 1, Factors: []int{2}}), val("in_len", RefDSPMaxCallBytes),
			addr("out", DMAWrite, Extent{Scale: 1, Factors: []int{4}}), val("out_len", RefDSPMaxCallBytes),
			{Name: "args", Kind: ArgBlock, Align: 8}},
			Doc: "runs service to completion on in[0:in_len] into out[0:out_len] with the argument block at args; lengths must match the service's (RefDSPServiceBuffers)"},
		{Op: OpDSPLoadReg, Name: "LOAD_REG", Operands: []Operand{{Name: "reg", Kind: RegisterOffset}, val("value", 0)},
			Doc: "writes value to a per-session register"},
		{Op: OpDSPStoreReg, Name: "STORE_REG", Operands: []Operand{{Name: "reg", Kind: RegisterOffset},
			{Name: "addr", Kind: Address, Access: DMAWrite, Extent: Extent{Fixed: 8}, Align: 8}},
			Doc: "writes a per-session register's value to addr"},
		{Op: OpDSPSetContextBank, Name: "SET_CONTEXT_BANK", Privileged: true, Operands: []Operand{val("bank", 0)}, Doc: "host only: selects the SMMU context bank"},
		{Op: OpDSPSetClock, Name: "SET_CLOCK", Privileged: true, Operands: []Operand{val("ctrl", 0)}, Doc: "host only: loads CLOCK_CTRL"},
		{Op: OpDSPInvalidateTLB, Name: "INVALIDATE_TLB", Privileged: true, Doc: "host only: flushes the SMMU TLB"},
		{Op: OpDSPScrubTCM, Name: "SCRUB_TCM", Privileged: true, Operands: []Operand{val("offset", 0), val("bytes", 0)}, Doc: "host only: zeroes TCM"},
	}

	services := []KernelDef{
		{ID: DSPServiceFIR, Name: "fir", Args: []Operand{
			val("taps", RefDSPMaxTaps), val("samples", RefDSPMaxSamples),
			addr("coeffs", DMARead, Extent{Scale: 4, Factors: []int{0}})},
			Doc: "FIR filter: in and out hold samples float32; coeffs holds taps float32 (at least one)"},
		{ID: DSPServiceFFT, Name: "fft", Args: []Operand{
			val("n", RefDSPMaxFFTPoints), val("inverse", 1)},
			Doc: "complex FFT of n points (a power of two, at least 2): in and out hold n interleaved (re, im) float32 pairs; inverse = 1 scales by 1/n"},
		{ID: DSPServiceMix, Name: "mix", Args: []Operand{
			val("channels", RefDSPMaxChannels), val("frames", RefDSPMaxSamples),
			addr("gains", DMARead, Extent{Scale: 4, Factors: []int{0}})},
			Doc: "mixer: in holds frames×channels interleaved float32, out frames float32, gains channels float32 (at least one channel)"},
	}

	return mustDevice(&Device{
		Class:     ClassDSP,
		Model:     "coprocd-refdsp",
		Registers: must(NewRegisterMap(RefDSPWindowBytes, regs)),
		Commands:  must(NewCommandSet(cmds, services)),
		// A CALL is 7 words: RefDSPMaxSubmitCmds calls per buffer.
		MaxSubmitWords: 7 * RefDSPMaxSubmitCmds,
	})
}
