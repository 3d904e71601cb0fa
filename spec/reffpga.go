package spec

// The reference FPGA ("coprocd-reffpga") is the FPGA model coprocd is
// developed and tested against; backends/fpga/sim implements it. It is a card
// with RefFPGARegions partial-reconfiguration regions, a small on-board DDR
// (device memory, partitioned among domains) and a DMA engine behind the
// IOMMU.
//
// # Accelerators are chosen from the host's library, never loaded raw
//
// A guest never hands the device a bitstream. The host keeps a library of
// vetted partial bitstreams, one per accelerator in RefFPGAAccelerators, and
// the guest names the accelerator it wants by id in an INVOKE: the same
// KernelID + ArgBlock pair a GPU DISPATCH uses, so the mediator's scanner
// audits the id against the table and every buffer in the argument block
// against the domain's address space before anything runs. CAPS carries the
// bitmap of the ids the library holds.
//
// If no region holds the accelerator an INVOKE names, the device partially
// reconfigures one (the least recently used) before it runs the invocation;
// the reconfiguration is charged to the invoking context's device time, and
// the guest sees only a slower INVOKE. PREFETCH asks the host to stage an
// accelerator's bitstream in the card's bitstream cache ahead of time (AWS
// F1's "fpga-load-local-image -P"); it is a hint and cannot load anything.
//
// Loading a raw bitstream (LOAD_BITSTREAM), evicting the cache, the ICAP/PR
// port registers (PR_CTRL, PR_DATA), region isolation (DECOUPLE), port reset,
// the IOMMU page-table base and the user clock are the host's: privileged
// commands are refused by the scanner, privileged registers are denied and
// counted, and the engine refuses them again if one ever reached it.
//
// # Programming model
//
// The ring, doorbell, fence, status and interrupt registers have the same
// offsets and meaning as the reference GPU's (refgpu.go), so the mediator's
// generic handling applies unchanged. USER0..USER3 are per-context
// (pass-through) registers, saved and restored by the mediator on every
// switch, read and written by LOAD_REG and STORE_REG. Accelerators keep no
// state across invocations, and the device resets every region's port on a
// switch between contexts, so nothing an accelerator held reaches another
// domain.

// Opcodes of the reference FPGA that the reference GPU does not have. NOP,
// FENCE, COPY, LOAD_REG, STORE_REG and SET_PT_BASE keep the GPU's opcodes.
const (
	FPGAOpInvoke   Opcode = 0x10
	FPGAOpPrefetch Opcode = 0x11
	// Privileged: the host's, never a guest's.
	FPGAOpLoadBitstream Opcode = 0x50
	FPGAOpEvictCache    Opcode = 0x51
)

// Accelerator ids of the reference FPGA (the KernelID of an INVOKE).
const (
	AccelCRC32     uint64 = 1
	AccelFIR       uint64 = 2
	AccelAES128CTR uint64 = 3
	AccelMatMul    uint64 = 4
)

// Reference FPGA constants.
const (
	RefFPGAID          = 0x0C0D0003
	RefFPGAVersion     = 0x00010000 // 1.0
	RefFPGAWindowBytes = 0x1000
	RefFPGARegions     = 2 // partial-reconfiguration regions of the reference card
	RefFPGAUserReg     = 4 // number of USERn registers
	RefFPGAMaxFIRTaps  = 64
	RefFPGAMaxMatDim   = 512
	RefFPGAMaxBytes    = 64 << 20 // largest buffer one CRC32, AES or COPY covers
	RefFPGAMaxSamples  = 16 << 20 // largest FIR input in samples
)

// Register offsets of the reference FPGA that differ from the reference
// GPU's (ID, VERSION, CAPS, STATUS, INT_*, ERROR_*, RING_*, DOORBELL, FENCE
// and USER0.. share RegID... of refgpu.go).
const (
	FPGARegRegions   = 0x010 // read-only: number of PR regions
	FPGARegPRCtrl    = 0x100 // privileged: region select, start, status of a raw PR
	FPGARegPRData    = 0x108 // privileged: ICAP data port
	FPGARegDecouple  = 0x110 // privileged: isolate the regions from the static shell
	FPGARegPortReset = 0x114 // privileged: hold the AFU ports in reset
	FPGARegPTBase    = 0x118 // privileged: IOMMU page-table base
	FPGARegUserClock = 0x120 // privileged: accelerator clock
	FPGARegCacheCtrl = 0x124 // privileged: bitstream cache control
)

// Accelerator describes one entry of the host's bitstream library: the
// accelerator a guest can name in INVOKE, and the partial bitstream that
// implements it.
type Accelerator struct {
	ID   uint64
	Name string
	// BitstreamBytes is the size of the partial bitstream of one region, the
	// quantity reconfiguration time is proportional to. Sizes are those of
	// UltraScale+ regions of the logic each function needs; a host may
	// configure others.
	BitstreamBytes uint64
}

var refFPGAAccelerators = []Accelerator{
	{ID: AccelCRC32, Name: "crc32", BitstreamBytes: 4 << 20},
	{ID: AccelFIR, Name: "fir", BitstreamBytes: 6 << 20},
	{ID: AccelAES128CTR, Name: "aes128ctr", BitstreamBytes: 8 << 20},
	{ID: AccelMatMul, Name: "matmul", BitstreamBytes: 12 << 20},
}

// RefFPGAAccelerators returns the reference FPGA's bitstream library, by id.
// The result is a copy.
func RefFPGAAccelerators() []Accelerator {
	return append([]Accelerator(nil), refFPGAAccelerators...)
}

var refFPGA = buildRefFPGA()

// ReferenceFPGA returns the spec of the reference FPGA. The result is shared
// and must not be modified.
func ReferenceFPGA() *Device { return refFPGA }

func buildRefFPGA() *Device {
	const all32, all64 = 0xffffffff, ^uint64(0)
	var caps uint64
	for _, a := range refFPGAAccelerators {
		caps |= 1 << a.ID
	}
	regs := []Register{
		{Name: "ID", Offset: RegID, Width: 4, Class: ReadOnly, Role: RoleID, Reset: RefFPGAID, Doc: "device identification"},
		{Name: "VERSION", Offset: RegVersion, Width: 4, Class: ReadOnly, Role: RoleID, Reset: RefFPGAVersion, Doc: "major<<16 | minor"},
		{Name: "CAPS", Offset: RegCaps, Width: 8, Class: ReadOnly, Role: RoleID, Reset: caps, Doc: "bitmap of the accelerator ids in the host's library"},
		{Name: "REGIONS", Offset: FPGARegRegions, Width: 4, Class: ReadOnly, Role: RoleID, Reset: RefFPGARegions, Doc: "number of partial-reconfiguration regions"},
		{Name: "STATUS", Offset: RegStatus, Width: 4, Class: ReadOnly, Role: RoleStatus, Doc: "Status* bits of the vcoproc"},
		{Name: "INT_STATUS", Offset: RegIntStatus, Width: 4, Class: WriteOneToClear, Role: RoleIntStatus, Mask: IntFence | IntError | IntFault, Doc: "pending interrupts; write 1 to clear"},
		{Name: "INT_MASK", Offset: RegIntMask, Width: 4, Class: Emulated, Role: RoleIntMask, Reset: IntFence | IntError | IntFault, Mask: IntFence | IntError | IntFault, Doc: "interrupts that raise an event"},
		{Name: "ERROR_CODE", Offset: RegErrorCode, Width: 4, Class: ReadOnly, Role: RoleErrorCode, Doc: "ErrCode* of the last error"},
		{Name: "ERROR_ADDR", Offset: RegErrorAddr, Width: 8, Class: ReadOnly, Role: RoleErrorAddr, Doc: "address or register offset of the last error"},
		{Name: "RING_BASE", Offset: RegRingBase, Width: 8, Class: Emulated, Role: RoleRingBase, Mask: 0x0000_ffff_ffff_f000, Doc: "IOVA of the command ring, page aligned"},
		{Name: "RING_SIZE", Offset: RegRingSize, Width: 4, Class: Emulated, Role: RoleRingSize, Mask: all32 &^ 7, Doc: "ring size in bytes, a power of two from 64 to 1 MiB"},
		{Name: "RING_HEAD", Offset: RegRingHead, Width: 4, Class: ReadOnly, Role: RoleRingHead, Doc: "consumed up to this byte offset"},
		{Name: "RING_TAIL", Offset: RegRingTail, Width: 4, Class: Emulated, Role: RoleRingTail, Mask: all32 &^ 7, Doc: "produced up to this byte offset"},
		{Name: "DOORBELL", Offset: RegDoorbell, Width: 4, Class: Doorbell, Role: RoleDoorbell, Mask: all32, Doc: "any write kicks the ring"},
		{Name: "FENCE", Offset: RegFence, Width: 8, Class: ReadOnly, Role: RoleFence, Doc: "value of the last completed FENCE"},
		{Name: "PR_CTRL", Offset: FPGARegPRCtrl, Width: 8, Class: Privileged, Mask: all64, Doc: "host only: region select and start of a raw partial reconfiguration"},
		{Name: "PR_DATA", Offset: FPGARegPRData, Width: 8, Class: Privileged, Mask: all64, Doc: "host only: ICAP data port"},
		{Name: "DECOUPLE", Offset: FPGARegDecouple, Width: 4, Class: Privileged, Mask: all32, Doc: "host only: isolate the regions from the shell during PR"},
		{Name: "PORT_RESET", Offset: FPGARegPortReset, Width: 4, Class: Privileged, Mask: all32, Doc: "host only: hold the AFU ports in reset"},
		{Name: "PT_BASE", Offset: FPGARegPTBase, Width: 8, Class: Privileged, Mask: all64, Doc: "host only: IOMMU page-table base"},
		{Name: "USER_CLOCK", Offset: FPGARegUserClock, Width: 4, Class: Privileged, Reset: 250, Mask: all32, Doc: "host only: accelerator clock in MHz"},
		{Name: "CACHE_CTRL", Offset: FPGARegCacheCtrl, Width: 4, Class: Privileged, Mask: all32, Doc: "host only: bitstream cache control"},
	}
	for i := 0; i < RefFPGAUserReg; i++ {
		regs = append(regs, Register{
			Name: "USER" + string(rune('0'+i)), Offset: uint32(RegUser0 + 8*i), Width: 8,
			Class: PassThrough, Mask: all64, Doc: "per-context general register (LOAD_REG, STORE_REG)",
		})
	}

	addr := func(name string, acc DMAAccess, ext Extent, align uint64) Operand {
		return Operand{Name: name, Kind: Address, Access: acc, Extent: ext, Align: align}
	}
	val := func(name string, max uint64) Operand { return Operand{Name: name, Kind: Value, Max: max} }
	fixed := func(n uint64) Extent { return Extent{Fixed: n} }
	scaled := func(scale uint64, factors ...int) Extent { return Extent{Scale: scale, Factors: factors} }
	var maxID uint64
	for _, a := range refFPGAAccelerators {
		maxID = max(maxID, a.ID)
	}
	cmds := []CommandDef{
		{Op: OpNop, Name: "NOP", Doc: "does nothing"},
		{Op: OpFence, Name: "FENCE", Operands: []Operand{addr("addr", DMAWrite, fixed(8), 8), val("value", 0)},
			Doc: "writes value (64-bit) to addr, sets FENCE, raises IntFence"},
		{Op: OpCopy, Name: "COPY", Operands: []Operand{
			addr("dst", DMAWrite, scaled(1, 2), 1),
			addr("src", DMARead, scaled(1, 2), 1),
			val("bytes", RefFPGAMaxBytes)}, Doc: "copies bytes from src to dst (memmove semantics), e.g. between host memory and on-board DDR"},
		{Op: FPGAOpInvoke, Name: "INVOKE", Operands: []Operand{{Name: "accel", Kind: KernelID}, {Name: "args", Kind: ArgBlock, Align: 8}},
			Doc: "runs accelerator accel with the argument block at args, reconfiguring a region first if none holds it"},
		{Op: FPGAOpPrefetch, Name: "PREFETCH", Operands: []Operand{val("accel", maxID)},
			Doc: "hint: stage accel's bitstream in the card's bitstream cache; an id not in the library fails the job"},
		{Op: OpLoadReg, Name: "LOAD_REG", Operands: []Operand{{Name: "reg", Kind: RegisterOffset}, val("value", 0)},
			Doc: "writes value to a per-context register"},
		{Op: OpStoreReg, Name: "STORE_REG", Operands: []Operand{{Name: "reg", Kind: RegisterOffset}, addr("addr", DMAWrite, fixed(8), 8)},
			Doc: "writes a per-context register's value to addr"},
		{Op: FPGAOpLoadBitstream, Name: "LOAD_BITSTREAM", Privileged: true, Operands: []Operand{val("region", RefFPGARegions-1), val("addr", 0), val("bytes", 0)},
			Doc: "host only: streams a raw partial bitstream into a region through the ICAP"},
		{Op: FPGAOpEvictCache, Name: "EVICT_CACHE", Privileged: true, Doc: "host only: empties the bitstream cache"},
		{Op: OpSetPTBase, Name: "SET_PT_BASE", Privileged: true, Operands: []Operand{val("base", 0)}, Doc: "host only: loads PT_BASE"},
	}

	accels := []KernelDef{
		{ID: AccelCRC32, Name: "crc32", Args: []Operand{
			val("n", RefFPGAMaxBytes),
			addr("src", DMARead, scaled(1, 0), 1),
			addr("out", DMAWrite, fixed(4), 4)},
			Doc: "out = CRC-32 (IEEE 802.3, as hash/crc32.ChecksumIEEE) of src[0:n], little-endian uint32"},
		{ID: AccelFIR, Name: "fir", Args: []Operand{
			val("n", RefFPGAMaxSamples), val("taps", RefFPGAMaxFIRTaps),
			addr("x", DMARead, scaled(2, 0), 2),
			addr("h", DMARead, scaled(2, 1), 2),
			addr("y", DMAWrite, scaled(8, 0), 8)},
			Doc: "y[i] = sum over j < taps, j <= i of h[j]*x[i-j]; x and h int16, y int64, little-endian; the filter starts from a zero state"},
		{ID: AccelAES128CTR, Name: "aes128ctr", Args: []Operand{
			val("n", RefFPGAMaxBytes),
			addr("key", DMARead, fixed(16), 1),
			addr("iv", DMARead, fixed(16), 1),
			addr("src", DMARead, scaled(1, 0), 1),
			addr("dst", DMAWrite, scaled(1, 0), 1)},
			Doc: "dst[0:n] = src[0:n] XOR the AES-128 CTR keystream of key from the 128-bit big-endian counter iv (crypto/cipher.NewCTR)"},
		{ID: AccelMatMul, Name: "matmul", Args: []Operand{
			val("m", RefFPGAMaxMatDim), val("n", RefFPGAMaxMatDim), val("k", RefFPGAMaxMatDim),
			addr("a", DMARead, scaled(4, 0, 2), 4),
			addr("b", DMARead, scaled(4, 2, 1), 4),
			addr("c", DMAWrite, scaled(4, 0, 1), 4)},
			Doc: "C = A×B over int32 with wrapping arithmetic, row-major, A m×k, B k×n, C m×n"},
	}

	return mustDevice(&Device{
		Class:          ClassFPGA,
		Model:          "coprocd-reffpga",
		Registers:      must(NewRegisterMap(RefFPGAWindowBytes, regs)),
		Commands:       must(NewCommandSet(cmds, accels)),
		HasRing:        true,
		MaxSubmitWords: 1 << 16,
	})
}
