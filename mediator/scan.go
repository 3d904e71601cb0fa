package mediator

import (
	"encoding/binary"
	"fmt"

	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// AddressSpace is what the scanner needs of a domain's I/O address space:
// a check that a whole range is mapped with an access, and a read for
// argument blocks. *iommu.Context implements it.
type AddressSpace interface {
	Check(iova, size uint64, access iommu.Perm) error
	Read(iova uint64, dst []byte) error
}

// Scan audits a guest's command buffer against the device's command table
// and the domain's address space, and returns the shadow commands a backend
// may execute. Nothing is executed here, and on any refusal nothing at all
// is returned: a buffer runs whole or not at all.
//
// It refuses: buffers over the device's size limit; truncated commands;
// set reserved header bits; unknown opcodes; privileged commands; operand
// counts that differ from the table; values over their limit; misaligned
// addresses; any byte of an address extent that is not mapped with the
// access the command needs; extents whose computation overflows; unknown
// kernels; register operands that are not per-context registers. DISPATCH
// argument blocks are read once, audited with the kernel's table, and
// snapshotted into the shadow command (closing the window in which a guest
// could change them after the audit; GVT-g shadows for the same reason).
//
// Scan is pure apart from reading argument blocks through as: it keeps no
// state, so it is safe to fuzz and to call from any transport.
func Scan(dev *spec.Device, as AddressSpace, words []uint64) ([]spec.Command, error) {
	if len(words) > dev.MaxSubmitWords {
		return nil, &ScanError{Command: "buffer", Err: ErrTooLarge,
			Detail: fmt.Sprintf("%d words, limit %d", len(words), dev.MaxSubmitWords)}
	}
	var cmds []spec.Command
	for pos, index := 0, 0; pos < len(words); index++ {
		header := words[pos]
		op := spec.Opcode(header & spec.HeaderOpcodeMask)
		count := int(header>>spec.HeaderCountShift) & spec.HeaderCountMask
		fail := func(name, operand, detail string, err error) error {
			return &ScanError{Index: index, Word: pos, Command: name, Operand: operand, Detail: detail, Err: err}
		}
		def, ok := dev.Commands.Lookup(op)
		if !ok {
			return nil, fail(fmt.Sprintf("opcode 0x%02x", uint16(op)), "", "", ErrUnknownOpcode)
		}
		if header&spec.HeaderReservedMask != 0 {
			return nil, fail(def.Name, "", fmt.Sprintf("header 0x%016x", header), ErrReservedBits)
		}
		if def.Privileged {
			return nil, fail(def.Name, "", "", ErrPrivilegedCommand)
		}
		if count != len(def.Operands) {
			return nil, fail(def.Name, "", fmt.Sprintf("%d operands, %s takes %d", count, def.Name, len(def.Operands)), ErrOperandCount)
		}
		if pos+1+count > len(words) {
			return nil, fail(def.Name, "", fmt.Sprintf("needs %d words, %d left", 1+count, len(words)-pos), ErrTruncated)
		}
		cmd := spec.Command{Op: op, N: uint8(count)}
		copy(cmd.Operands[:], words[pos+1:pos+1+count])
		operands := cmd.Operands[:count]

		if name, detail, err := auditOperands(dev, as, def.Operands, operands, ""); err != nil {
			return nil, fail(def.Name, name, detail, err)
		}
		for i, o := range def.Operands {
			if o.Kind != spec.ArgBlock {
				continue
			}
			args, name, detail, err := auditArgBlock(dev, as, def.Operands, operands, i)
			if err != nil {
				return nil, fail(def.Name, name, detail, err)
			}
			cmd.Args = args
		}
		cmds = append(cmds, cmd)
		pos += 1 + count
	}
	return cmds, nil
}

// auditOperands checks every operand of a command or every word of an
// argument block, except argument blocks themselves.
func auditOperands(dev *spec.Device, as AddressSpace, defs []spec.Operand, vals []uint64, prefix string) (name, detail string, err error) {
	for i, o := range defs {
		v := vals[i]
		switch o.Kind {
		case spec.Value:
			if o.Max != 0 && v > o.Max {
				return prefix + o.Name, fmt.Sprintf("%d > %d", v, o.Max), ErrValueOutOfRange
			}
		case spec.Address:
			if d, err := auditAddress(as, o, vals, v); err != nil {
				return prefix + o.Name, d, err
			}
		case spec.RegisterOffset:
			if v > uint64(^uint32(0)) {
				return prefix + o.Name, fmt.Sprintf("offset 0x%x", v), ErrRegisterOperand
			}
			idx, ok := dev.Registers.StartingAt(uint32(v))
			if !ok {
				return prefix + o.Name, fmt.Sprintf("no register starts at 0x%04x", v), ErrRegisterOperand
			}
			r := dev.Registers.At(idx)
			if r.Class == spec.Privileged {
				return prefix + o.Name, fmt.Sprintf("0x%04x (%s)", v, r.Name), ErrPrivileged
			}
			if r.Class != spec.PassThrough {
				return prefix + o.Name, fmt.Sprintf("0x%04x (%s) is %s", v, r.Name, r.Class), ErrRegisterOperand
			}
		case spec.KernelID:
			if _, ok := dev.Commands.Kernel(v); !ok {
				return prefix + o.Name, fmt.Sprintf("kernel %d", v), ErrUnknownKernel
			}
		}
	}
	return "", "", nil
}

func auditAddress(as AddressSpace, o spec.Operand, vals []uint64, iova uint64) (string, error) {
	n, err := o.Extent.Bytes(vals)
	if err != nil {
		return err.Error(), ErrBadExtent
	}
	if o.Align > 1 && iova%o.Align != 0 {
		return fmt.Sprintf("0x%x is not a multiple of %d", iova, o.Align), ErrMisaligned
	}
	if n == 0 {
		return "", nil
	}
	if err := as.Check(iova, n, dmaPerm(o.Access)); err != nil {
		return fmt.Sprintf("%s of 0x%x bytes at 0x%x: %v", o.Access, n, iova, err), ErrOutsideDomain
	}
	return "", nil
}

func auditArgBlock(dev *spec.Device, as AddressSpace, defs []spec.Operand, vals []uint64, at int) ([]uint64, string, string, error) {
	var kernel *spec.KernelDef
	for i, o := range defs {
		if o.Kind == spec.KernelID {
			kernel, _ = dev.Commands.Kernel(vals[i]) // audited before
		}
	}
	iova := vals[at]
	o := defs[at]
	if o.Align > 1 && iova%o.Align != 0 {
		return nil, o.Name, fmt.Sprintf("0x%x is not a multiple of %d", iova, o.Align), ErrMisaligned
	}
	size := kernel.ArgBlockBytes()
	raw := make([]byte, size)
	if size > 0 {
		if err := as.Check(iova, size, iommu.Read); err != nil {
			return nil, o.Name, fmt.Sprintf("read of 0x%x bytes at 0x%x: %v", size, iova, err), ErrOutsideDomain
		}
		if err := as.Read(iova, raw); err != nil {
			return nil, o.Name, fmt.Sprintf("read of 0x%x bytes at 0x%x: %v", size, iova, err), ErrOutsideDomain
		}
	}
	args := make([]uint64, len(kernel.Args))
	for i := range args {
		args[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	if name, detail, err := auditOperands(dev, as, kernel.Args, args, o.Name+"."); err != nil {
		return nil, name, fmt.Sprintf("kernel %s: %s", kernel.Name, detail), err
	}
	return args, "", "", nil
}

func dmaPerm(a spec.DMAAccess) iommu.Perm {
	var p iommu.Perm
	if a&spec.DMARead != 0 {
		p |= iommu.Read
	}
	if a&spec.DMAWrite != 0 {
		p |= iommu.Write
	}
	return p
}
