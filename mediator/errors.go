package mediator

import (
	"errors"
	"fmt"
)

// Reasons a register access is refused, wrapped in an *AccessError. Decoding
// failures wrap the spec package's errors instead (spec.ErrOutOfRange,
// spec.ErrUnaligned, spec.ErrWrongWidth, spec.ErrNoRegister, spec.ErrBadSize).
var (
	ErrPrivileged   = errors.New("privileged register, access denied")
	ErrReadOnly     = errors.New("read-only register")
	ErrValueTooWide = errors.New("value does not fit the access size")
	ErrDetached     = errors.New("vcoproc is detached")
)

// AccessError is a refused register access.
type AccessError struct {
	VCoproc  string
	Offset   uint32
	Size     uint8
	Write    bool
	Register string // empty when the offset decodes to no register
	Err      error
}

func (e *AccessError) Error() string {
	dir := "read of"
	if e.Write {
		dir = "write to"
	}
	if e.Register != "" {
		return fmt.Sprintf("vcoproc %q: %s 0x%04x (%s): %v", e.VCoproc, dir, e.Offset, e.Register, e.Err)
	}
	return fmt.Sprintf("vcoproc %q: %s 0x%04x: %v", e.VCoproc, dir, e.Offset, e.Err)
}

func (e *AccessError) Unwrap() error { return e.Err }

// Reasons the command scanner refuses a buffer, wrapped in a *ScanError.
var (
	ErrTooLarge          = errors.New("command buffer is larger than the device allows")
	ErrTruncated         = errors.New("command buffer ends inside a command")
	ErrReservedBits      = errors.New("reserved header bits are set")
	ErrUnknownOpcode     = errors.New("unknown opcode")
	ErrPrivilegedCommand = errors.New("privileged command, denied to guests")
	ErrOperandCount      = errors.New("wrong operand count")
	ErrValueOutOfRange   = errors.New("value exceeds the operand's limit")
	ErrMisaligned        = errors.New("address is not aligned")
	ErrOutsideDomain     = errors.New("outside the domain's I/O address space")
	ErrBadExtent         = errors.New("extent cannot be computed")
	ErrUnknownKernel     = errors.New("unknown kernel")
	ErrRegisterOperand   = errors.New("register is not a per-context register")
)

// ScanError is a refused command buffer: which command, which operand, why.
type ScanError struct {
	Index   int    // command number in the buffer, from 0
	Word    int    // word offset of the command's header
	Command string // the command's name, or its opcode when unknown
	Operand string // the operand at fault, if any ("args.x" inside an argument block)
	Detail  string // numbers that explain the refusal
	Err     error
}

func (e *ScanError) Error() string {
	s := fmt.Sprintf("command %d (%s) at word %d", e.Index, e.Command, e.Word)
	if e.Operand != "" {
		s += ", operand " + e.Operand
	}
	s += ": "
	if e.Detail != "" {
		s += e.Detail + ": "
	}
	return s + e.Err.Error()
}

func (e *ScanError) Unwrap() error { return e.Err }

// RefusedError is a submission the mediator refused, naming the vcoproc.
type RefusedError struct {
	VCoproc string
	Err     error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("vcoproc %q: submission refused: %v", e.VCoproc, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }
