package spec

// The reference GPU ("coprocd-refgpu") is the device model every part of
// coprocd is developed and tested against. backends/gpu/sim implements it;
// real GPUs reached through other backends expose their own specs.
//
// Programming model, in the order a guest driver follows it:
//
//  1. Map a page-aligned ring and data buffers into the domain's I/O address
//     space; write RING_BASE and RING_SIZE (a power of two, 64 B to 1 MiB).
//  2. Write commands (the wire format of command.go) into the ring at
//     RING_TAIL, advance RING_TAIL (a byte offset, wrapping at RING_SIZE),
//     and write anything to DOORBELL.
//  3. The mediator fetches [RING_HEAD, RING_TAIL) through the domain's IOMMU
//     context, audits it, and queues it as one job; RING_HEAD moves to
//     RING_TAIL once the job is accepted (or refused: see ERROR_CODE).
//  4. A FENCE writes its value to memory, updates FENCE, and raises IntFence.
//
// A DISPATCH runs Groups workgroups of RefGPUWorkgroupSize lanes; each
// kernel's doc says which elements workgroup g handles. Workgroups share a
// local memory of RefGPULocalMemoryBytes that the device clears at every
// launch and every context switch (so the LeftoverLocals leak, CVE-2023-4969,
// cannot happen on it).

// Opcodes of the reference GPU.
const (
	OpNop      Opcode = 0x00
	OpFence    Opcode = 0x01
	OpCopy     Opcode = 0x02
	OpFill     Opcode = 0x03
	OpDispatch Opcode = 0x04
	OpWait     Opcode = 0x05
	OpLoadReg  Opcode = 0x06
	OpStoreReg Opcode = 0x07
	// Privileged: the host's, never a guest's.
	OpSetPTBase     Opcode = 0x40
	OpSetClock      Opcode = 0x41
	OpInvalidateTLB Opcode = 0x42
)

// Kernel ids of the reference GPU.
const (
	KernelSaxpy     uint64 = 1
	KernelSgemm     uint64 = 2
	KernelReduceSum uint64 = 3
	KernelLocalRead uint64 = 4
)

// Reference GPU constants.
const (
	RefGPUID               = 0x0C0D0001
	RefGPUVersion          = 0x00010000 // 1.0
	RefGPUWorkgroupSize    = 64
	RefGPULocalMemoryBytes = 16 << 10
	RefGPUWindowBytes      = 0x1000
	RefGPUMaxGroups        = 1 << 20
	// RefGPUCapsPreemptWorkgroup is set in CAPS when the device can be
	// preempted between the workgroups of a DISPATCH (else at command
	// boundaries only). The low bits of CAPS are a bitmap of kernel ids.
	RefGPUCapsPreemptWorkgroup = 1 << 32
)

// Register offsets of the reference GPU, for drivers and tests.
const (
	RegID         = 0x000
	RegVersion    = 0x004
	RegCaps       = 0x008
	RegStatus     = 0x020
	RegIntStatus  = 0x024
	RegIntMask    = 0x028
	RegErrorCode  = 0x030
	RegErrorAddr  = 0x038
	RegRingBase   = 0x040
	RegRingSize   = 0x048
	RegRingHead   = 0x04C
	RegRingTail   = 0x050
	RegDoorbell   = 0x054
	RegFence      = 0x058
	RegUser0      = 0x080 // USER0..USER7, 8 bytes apart
	RegClockCtrl  = 0x100
	RegPTBase     = 0x108
	RegReset      = 0x110
	RegPower      = 0x114
	RefGPUUserReg = 8 // number of USERn registers
)

var refGPU = buildRefGPU()

// ReferenceGPU returns the spec of the reference GPU. The result is shared
// and must not be modified.
func ReferenceGPU() *Device { return refGPU }

func buildRefGPU() *Device {
	const all32, all64 = 0xffffffff, ^uint64(0)
	regs := []Register{
		{Name: "ID", Offset: RegID, Width: 4, Class: ReadOnly, Role: RoleID, Reset: RefGPUID, Doc: "device identification"},
		{Name: "VERSION", Offset: RegVersion, Width: 4, Class: ReadOnly, Role: RoleID, Reset: RefGPUVersion, Doc: "major<<16 | minor"},
		{Name: "CAPS", Offset: RegCaps, Width: 8, Class: ReadOnly, Role: RoleID, Reset: RefGPUCapsPreemptWorkgroup | 1<<KernelSaxpy | 1<<KernelSgemm | 1<<KernelReduceSum | 1<<KernelLocalRead, Doc: "capability bits"},
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
		{Name: "CLOCK_CTRL", Offset: RegClockCtrl, Width: 4, Class: Privileged, Reset: 1, Mask: all32, Doc: "core clock enable and divider"},
		{Name: "PT_BASE", Offset: RegPTBase, Width: 8, Class: Privileged, Mask: all64, Doc: "IOMMU page-table base"},
		{Name: "RESET", Offset: RegReset, Width: 4, Class: Privileged, Mask: all32, Doc: "engine reset"},
		{Name: "POWER", Offset: RegPower, Width: 4, Class: Privileged, Reset: 1, Mask: all32, Doc: "power state"},
	}
	for i := 0; i < RefGPUUserReg; i++ {
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
	const maxCopy = 64 << 20
	cmds := []CommandDef{
		{Op: OpNop, Name: "NOP", Doc: "does nothing"},
		{Op: OpFence, Name: "FENCE", Operands: []Operand{addr("addr", DMAWrite, fixed(8), 8), val("value", 0)},
			Doc: "writes value (64-bit) to addr, sets FENCE, raises IntFence"},
		{Op: OpCopy, Name: "COPY", Operands: []Operand{
			addr("dst", DMAWrite, Extent{Scale: 1, Factors: []int{2}}, 1),
			addr("src", DMARead, Extent{Scale: 1, Factors: []int{2}}, 1),
			val("bytes", maxCopy)}, Doc: "copies bytes from src to dst (memmove semantics)"},
		{Op: OpFill, Name: "FILL", Operands: []Operand{
			addr("dst", DMAWrite, Extent{Scale: 4, Factors: []int{1}}, 4),
			val("words", maxCopy/4), val("pattern", 0xffffffff)}, Doc: "fills words 32-bit words at dst with pattern"},
		{Op: OpDispatch, Name: "DISPATCH", Operands: []Operand{
			{Name: "kernel", Kind: KernelID}, val("groups", RefGPUMaxGroups), {Name: "args", Kind: ArgBlock, Align: 8}},
			Doc: "runs groups workgroups of kernel with the argument block at args"},
		{Op: OpWait, Name: "WAIT", Operands: []Operand{addr("addr", DMARead, fixed(8), 8), val("value", 0)},
			Doc: "waits until the 64-bit value at addr is at least value"},
		{Op: OpLoadReg, Name: "LOAD_REG", Operands: []Operand{{Name: "reg", Kind: RegisterOffset}, val("value", 0)},
			Doc: "writes value to a per-context register"},
		{Op: OpStoreReg, Name: "STORE_REG", Operands: []Operand{{Name: "reg", Kind: RegisterOffset}, addr("addr", DMAWrite, fixed(8), 8)},
			Doc: "writes a per-context register's value to addr"},
		{Op: OpSetPTBase, Name: "SET_PT_BASE", Privileged: true, Operands: []Operand{val("base", 0)}, Doc: "host only: loads PT_BASE"},
		{Op: OpSetClock, Name: "SET_CLOCK", Privileged: true, Operands: []Operand{val("ctrl", 0)}, Doc: "host only: loads CLOCK_CTRL"},
		{Op: OpInvalidateTLB, Name: "INVALIDATE_TLB", Privileged: true, Doc: "host only: flushes the IOTLB"},
	}

	const maxElems = 1 << 24
	const maxDim = 4096
	kernels := []KernelDef{
		{ID: KernelSaxpy, Name: "saxpy", Args: []Operand{
			val("n", maxElems), val("alpha", 0xffffffff),
			addr("x", DMARead, Extent{Scale: 4, Factors: []int{0}}, 4),
			addr("y", DMAReadWrite, Extent{Scale: 4, Factors: []int{0}}, 4)},
			Doc: "y[i] = alpha*x[i] + y[i] over float32; alpha is float32 bits; workgroup g handles i in [64g, 64g+64)"},
		{ID: KernelSgemm, Name: "sgemm", Args: []Operand{
			val("m", maxDim), val("n", maxDim), val("k", maxDim),
			addr("a", DMARead, Extent{Scale: 4, Factors: []int{0, 2}}, 4),
			addr("b", DMARead, Extent{Scale: 4, Factors: []int{2, 1}}, 4),
			addr("c", DMAWrite, Extent{Scale: 4, Factors: []int{0, 1}}, 4)},
			Doc: "C = A×B, float32, row-major, A m×k, B k×n, C m×n; workgroup g computes row g of C"},
		{ID: KernelReduceSum, Name: "reduce_sum", Args: []Operand{
			val("n", maxElems),
			addr("x", DMARead, Extent{Scale: 4, Factors: []int{0}}, 4),
			addr("out", DMAReadWrite, fixed(4), 4)},
			Doc: "out += sum of x[0:n] over float32; workgroup g reduces [64g, 64g+64) in local memory and adds it to out"},
		{ID: KernelLocalRead, Name: "local_read", Args: []Operand{
			val("n", RefGPULocalMemoryBytes/4),
			addr("out", DMAWrite, Extent{Scale: 4, Factors: []int{0}}, 4)},
			Doc: "copies local memory, unwritten, to out[0:n]; workgroup g copies words [64g, 64g+64): the LeftoverLocals listener pattern, kept so tests can prove local memory never leaks"},
	}

	return mustDevice(&Device{
		Class:          ClassGPU,
		Model:          "coprocd-refgpu",
		Registers:      must(NewRegisterMap(RefGPUWindowBytes, regs)),
		Commands:       must(NewCommandSet(cmds, kernels)),
		HasRing:        true,
		MaxSubmitWords: 1 << 16,
	})
}
