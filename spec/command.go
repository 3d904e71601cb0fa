package spec

import (
	"fmt"
	"math/bits"
)

// Opcode identifies a command in a device's command set.
type Opcode uint16

// OperandKind says how the command scanner treats an operand.
type OperandKind uint8

const (
	// Value is a plain number, checked only against Max.
	Value OperandKind = iota + 1
	// Address is a device address (IOVA) in the submitting domain's address
	// space. Extent gives how many bytes from it the command touches and
	// Access whether it reads, writes or both; the scanner checks that the
	// whole extent is mapped with that access before anything runs.
	Address
	// RegisterOffset names a register of the device's own map; the scanner
	// applies the register's access class (a privileged register is denied).
	RegisterOffset
	// KernelID names a kernel of the device's kernel table.
	KernelID
	// ArgBlock is the IOVA of the argument block of the kernel named by the
	// command's KernelID operand. The scanner reads the block, audits it with
	// the kernel's Args table and snapshots it into the shadow command, so
	// that the guest cannot change it after the audit.
	ArgBlock
)

// DMAAccess is the direction of a device access through an Address operand.
type DMAAccess uint8

const (
	DMARead DMAAccess = 1 << iota
	DMAWrite
	DMAReadWrite = DMARead | DMAWrite
)

func (a DMAAccess) String() string {
	switch a {
	case DMARead:
		return "read"
	case DMAWrite:
		return "write"
	case DMAReadWrite:
		return "read-write"
	}
	return fmt.Sprintf("DMAAccess(%d)", a)
}

// Extent is the number of bytes an Address operand covers:
// Fixed + Scale × the product of the operands listed in Factors (indices into
// the same operand list). An extent whose computation overflows 64 bits is an
// error, never a wrapped small number.
type Extent struct {
	Fixed   uint64
	Scale   uint64
	Factors []int
}

// Bytes computes the extent for the operand values given.
func (e Extent) Bytes(operands []uint64) (uint64, error) {
	if len(e.Factors) == 0 {
		return e.Fixed, nil
	}
	n := e.Scale
	for _, f := range e.Factors {
		if f < 0 || f >= len(operands) {
			return 0, fmt.Errorf("extent refers to operand %d of %d", f, len(operands))
		}
		hi, lo := bits.Mul64(n, operands[f])
		if hi != 0 {
			return 0, fmt.Errorf("extent overflows 64 bits")
		}
		n = lo
	}
	sum, carry := bits.Add64(n, e.Fixed, 0)
	if carry != 0 {
		return 0, fmt.Errorf("extent overflows 64 bits")
	}
	return sum, nil
}

// Operand describes one operand of a command or one word of a kernel's
// argument block.
type Operand struct {
	Name   string
	Kind   OperandKind
	Access DMAAccess // for Address
	Extent Extent    // for Address
	// Max bounds a Value (inclusive); 0 means no bound. Limits keep a single
	// command from occupying the device for longer than its watchdog allows
	// and keep extents computable.
	Max uint64
	// Align is the alignment an Address must have (0 or 1: none).
	Align uint64
}

// CommandDef is one entry of a command set.
type CommandDef struct {
	Op   Opcode
	Name string
	// Privileged commands are host-only: a guest submission containing one
	// is refused as a whole.
	Privileged bool
	Operands   []Operand
	Doc        string
}

// KernelDef is a compute kernel a DISPATCH can launch. Its argument block
// is len(Args) little-endian 64-bit words at the ArgBlock IOVA.
type KernelDef struct {
	ID   uint64
	Name string
	Args []Operand
	Doc  string
}

// ArgBlockBytes is the size of the kernel's argument block.
func (k *KernelDef) ArgBlockBytes() uint64 { return 8 * uint64(len(k.Args)) }

// MaxOperands bounds the operand count of any command so that a decoded
// Command needs no allocation for its operands.
const MaxOperands = 8

// CommandSet is a device's command table. It is immutable once built.
type CommandSet struct {
	byOp    map[Opcode]*CommandDef
	defs    []CommandDef
	kernels map[uint64]*KernelDef
	kdefs   []KernelDef
}

// NewCommandSet validates the tables and builds a command set.
func NewCommandSet(cmds []CommandDef, kernels []KernelDef) (*CommandSet, error) {
	s := &CommandSet{
		byOp:    make(map[Opcode]*CommandDef, len(cmds)),
		defs:    append([]CommandDef(nil), cmds...),
		kernels: make(map[uint64]*KernelDef, len(kernels)),
		kdefs:   append([]KernelDef(nil), kernels...),
	}
	for i := range s.defs {
		d := &s.defs[i]
		if _, dup := s.byOp[d.Op]; dup {
			return nil, fmt.Errorf("spec: opcode 0x%02x defined twice", d.Op)
		}
		if len(d.Operands) > MaxOperands {
			return nil, fmt.Errorf("spec: command %s has %d operands, at most %d", d.Name, len(d.Operands), MaxOperands)
		}
		if err := checkOperands(d.Name, d.Operands, true); err != nil {
			return nil, err
		}
		s.byOp[d.Op] = d
	}
	for i := range s.kdefs {
		k := &s.kdefs[i]
		if _, dup := s.kernels[k.ID]; dup {
			return nil, fmt.Errorf("spec: kernel id %d defined twice", k.ID)
		}
		if err := checkOperands("kernel "+k.Name, k.Args, false); err != nil {
			return nil, err
		}
		s.kernels[k.ID] = k
	}
	return s, nil
}

func checkOperands(owner string, ops []Operand, isCommand bool) error {
	kernels, blocks := 0, 0
	for i, o := range ops {
		switch o.Kind {
		case Value, Address, RegisterOffset:
		case KernelID:
			kernels++
		case ArgBlock:
			blocks++
		default:
			return fmt.Errorf("spec: %s operand %d (%s): invalid kind %d", owner, i, o.Name, o.Kind)
		}
		if !isCommand && (o.Kind == KernelID || o.Kind == ArgBlock || o.Kind == RegisterOffset) {
			return fmt.Errorf("spec: %s argument %s: kind %d is allowed only in commands", owner, o.Name, o.Kind)
		}
		if o.Kind == Address {
			if o.Access == 0 || o.Access > DMAReadWrite {
				return fmt.Errorf("spec: %s operand %s: address without a valid access", owner, o.Name)
			}
			for _, f := range o.Extent.Factors {
				if f < 0 || f >= len(ops) || ops[f].Kind != Value || ops[f].Max == 0 {
					return fmt.Errorf("spec: %s operand %s: extent factor %d must be a bounded value operand", owner, o.Name, f)
				}
			}
		}
	}
	if blocks != kernels || blocks > 1 {
		return fmt.Errorf("spec: %s: an argument block needs exactly one kernel operand", owner)
	}
	return nil
}

// Lookup returns the definition of op.
func (s *CommandSet) Lookup(op Opcode) (*CommandDef, bool) {
	d, ok := s.byOp[op]
	return d, ok
}

// Kernel returns the kernel with the given id.
func (s *CommandSet) Kernel(id uint64) (*KernelDef, bool) {
	k, ok := s.kernels[id]
	return k, ok
}

// Commands returns the command definitions in table order.
func (s *CommandSet) Commands() []CommandDef { return s.defs }

// Kernels returns the kernel definitions in table order.
func (s *CommandSet) Kernels() []KernelDef { return s.kdefs }

// Command is one decoded command: what the scanner produced from the guest's
// buffer and what a backend executes. For a DISPATCH, Args holds the
// snapshot of the kernel's argument block taken during the audit; the
// backend reads arguments from it, never from guest memory.
type Command struct {
	Op       Opcode
	N        uint8 // operands in use
	Operands [MaxOperands]uint64
	Args     []uint64
}

// Operand returns operand i (0 when out of range).
func (c *Command) Operand(i int) uint64 {
	if i < 0 || i >= int(c.N) {
		return 0
	}
	return c.Operands[i]
}

// Wire format of a command buffer: a sequence of little-endian 64-bit words.
// Each command is a header word followed by its operand words:
//
//	bits  0..15  opcode
//	bits 16..23  operand count (must equal the definition's)
//	bits 24..63  zero (reserved; a set bit is refused)
const (
	HeaderOpcodeMask   = 0xffff
	HeaderCountShift   = 16
	HeaderCountMask    = 0xff
	HeaderReservedMask = ^uint64(0xffffff)
)

// Header builds the header word of a command with n operands.
func Header(op Opcode, n int) uint64 {
	return uint64(op) | uint64(n&HeaderCountMask)<<HeaderCountShift
}

// Encode appends the wire form of a command to buf. It is a convenience
// for guest drivers, tests and benchmarks; nothing on the host trusts it.
func Encode(buf []uint64, op Opcode, operands ...uint64) []uint64 {
	buf = append(buf, Header(op, len(operands)))
	return append(buf, operands...)
}
