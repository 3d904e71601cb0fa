// Package regfile is the hardware register file the reference device
// models share: the registers a physical device really holds for the
// context on its engine (pass-through and privileged ones) and its
// identification registers, built from the device's spec.
//
// The mediator keeps everything else (emulated registers, saved copies of
// pass-through ones) in its own virtual register files; a backend's
// ReadReg and WriteReg reach this one.
package regfile

import "github.com/coprocd/coprocd/spec"

// Reg is one register of the file.
type Reg struct {
	Def   *spec.Register
	Value uint64
}

// Write changes the bits of the register its mask allows.
func (r *Reg) Write(v uint64) { r.Value = r.Value&^r.Def.Mask | v&r.Def.Mask }

// File is a device's hardware register file. It is a plain data structure;
// the backend that owns it serializes access.
type File struct {
	regs []Reg
	// at maps offset/4 to 1 + the index into regs of the register that
	// starts there, 0 for none.
	at []uint16
}

// New builds the file of m: its pass-through, privileged and
// identification registers, each at its reset value.
func New(m *spec.RegisterMap) *File {
	f := &File{at: make([]uint16, m.Size()/4)}
	for i := range m.Len() {
		r := m.At(i)
		if r.Class != spec.PassThrough && r.Class != spec.Privileged && r.Role != spec.RoleID {
			continue
		}
		f.regs = append(f.regs, Reg{Def: r, Value: r.Reset})
		f.at[r.Offset/4] = uint16(len(f.regs))
	}
	return f
}

// Lookup returns the register that starts at offset, or nil.
func (f *File) Lookup(offset uint32) *Reg {
	if offset%4 != 0 || uint64(offset)/4 >= uint64(len(f.at)) {
		return nil
	}
	i := f.at[offset/4]
	if i == 0 || f.regs[i-1].Def.Offset != offset {
		return nil
	}
	return &f.regs[i-1]
}

// Read returns a register's value; offsets outside the file read 0.
func (f *File) Read(offset uint32) uint64 {
	if r := f.Lookup(offset); r != nil {
		return r.Value
	}
	return 0
}

// Write writes the bits value's register mask allows. Writes to
// identification registers and to offsets outside the file are ignored, as
// hardware ignores them.
func (f *File) Write(offset uint32, value uint64) {
	if r := f.Lookup(offset); r != nil && r.Def.Role != spec.RoleID {
		r.Write(value)
	}
}

// Set gives a register a value regardless of its mask and role: what the
// device model itself reports (a capability it lacks, a region count).
func (f *File) Set(offset uint32, value uint64) {
	if r := f.Lookup(offset); r != nil {
		r.Value = value
	}
}
