package spec

import (
	"errors"
	"fmt"
	"sort"
)

// AccessClass says what the mediator does with a guest's access to a register.
type AccessClass uint8

const (
	// PassThrough registers are per-context hardware state. While the vcoproc
	// owns the device an access goes to the hardware; otherwise it goes to the
	// vcoproc's saved copy. The mediator saves them on every switch-out and
	// restores them on every switch-in.
	PassThrough AccessClass = iota + 1
	// Emulated registers live only in the vcoproc's virtual register file.
	// A Role gives the mediator's handler for those that mean something
	// (ring pointers, status, fence); the others are plain storage.
	Emulated
	// ReadOnly registers return their reset value (or their role's value);
	// a write is refused with an error.
	ReadOnly
	// WriteOneToClear registers clear the bits written as one.
	WriteOneToClear
	// Doorbell registers kick work. A kick while the vcoproc does not own the
	// device is queued and replayed on switch-in.
	Doorbell
	// Privileged registers belong to the host (clocks, page-table base,
	// reset). Every guest access is denied and counted.
	Privileged
)

var accessClassNames = [...]string{
	PassThrough:     "pass-through",
	Emulated:        "emulated",
	ReadOnly:        "read-only",
	WriteOneToClear: "write-1-to-clear",
	Doorbell:        "doorbell",
	Privileged:      "privileged",
}

func (c AccessClass) String() string {
	if int(c) < len(accessClassNames) && accessClassNames[c] != "" {
		return accessClassNames[c]
	}
	return fmt.Sprintf("AccessClass(%d)", c)
}

// Role names the generic meaning of a register, so that the mediator can
// implement ring, status and interrupt semantics once for every device whose
// spec uses them.
type Role uint8

const (
	RoleNone      Role = iota
	RoleID             // read-only identification
	RoleStatus         // read: the vcoproc's state bits (Status*)
	RoleIntStatus      // write-1-to-clear pending interrupt bits (Int*)
	RoleIntMask        // interrupt bits that raise an event
	RoleRingBase       // IOVA of the command ring
	RoleRingSize       // size of the command ring in bytes
	RoleRingHead       // byte offset the device has consumed up to (read-only to guests)
	RoleRingTail       // byte offset the guest has produced up to
	RoleDoorbell       // a write kicks the ring
	RoleFence          // last fence value the device completed
	RoleErrorCode      // code of the last error (Err*)
	RoleErrorAddr      // offending address or offset of the last error
)

// Status bits read from a RoleStatus register.
const (
	StatusBusy    = 1 << 0 // work is queued or running
	StatusRunning = 1 << 1 // the vcoproc owns the device right now
	StatusWaiting = 1 << 2 // blocked on a WAIT
	StatusError   = 1 << 3 // the last submission or job failed; see ERROR_CODE
)

// Interrupt bits in RoleIntStatus and RoleIntMask registers.
const (
	IntFence = 1 << 0 // a FENCE command completed
	IntError = 1 << 1 // a submission was refused or a job failed
	IntFault = 1 << 2 // a DMA fault in the domain's address space
)

// Error codes in a RoleErrorCode register.
const (
	ErrCodeNone      = 0
	ErrCodeRefused   = 1 // the command scanner refused a submission
	ErrCodeFault     = 2 // an IOMMU fault during a job
	ErrCodeTimeout   = 3 // the watchdog reset a job
	ErrCodeBadRing   = 4 // ring registers hold impossible values
	ErrCodeDenied    = 5 // a privileged access was denied
	ErrCodeExecution = 6 // the device refused a command while running it
)

// Register is one entry of a register map.
type Register struct {
	Name   string
	Offset uint32
	Width  uint8 // bytes: 4 or 8
	Class  AccessClass
	Role   Role
	Reset  uint64
	// Mask holds the bits a guest write may change; the others keep their value.
	Mask uint64
	Doc  string
}

// RegisterMap is a device's MMIO window. It is immutable once built.
type RegisterMap struct {
	size uint32
	regs []Register
	// slot[i] is 1 + the index into regs of the register that covers the
	// 4-byte slot at offset 4*i, or 0 for a hole. Decoding is one bounds
	// check and one load: the trap path is hot.
	slot []uint16
}

// NewRegisterMap validates regs and builds the map of a window of size bytes.
func NewRegisterMap(size uint32, regs []Register) (*RegisterMap, error) {
	if size == 0 || size%4 != 0 {
		return nil, fmt.Errorf("spec: register window size %d is not a positive multiple of 4", size)
	}
	if len(regs) >= 1<<16-1 {
		return nil, fmt.Errorf("spec: %d registers are more than a map holds", len(regs))
	}
	m := &RegisterMap{size: size, regs: append([]Register(nil), regs...), slot: make([]uint16, size/4)}
	sort.Slice(m.regs, func(i, j int) bool { return m.regs[i].Offset < m.regs[j].Offset })
	names := make(map[string]bool, len(regs))
	for i, r := range m.regs {
		switch {
		case r.Name == "":
			return nil, fmt.Errorf("spec: register at 0x%04x has no name", r.Offset)
		case names[r.Name]:
			return nil, fmt.Errorf("spec: register name %s used twice", r.Name)
		case r.Width != 4 && r.Width != 8:
			return nil, fmt.Errorf("spec: register %s: width %d, want 4 or 8", r.Name, r.Width)
		case r.Offset%uint32(r.Width) != 0:
			return nil, fmt.Errorf("spec: register %s: offset 0x%04x is not aligned to its width %d", r.Name, r.Offset, r.Width)
		case uint64(r.Offset)+uint64(r.Width) > uint64(size):
			return nil, fmt.Errorf("spec: register %s at 0x%04x lies outside the %d-byte window", r.Name, r.Offset, size)
		case r.Class < PassThrough || r.Class > Privileged:
			return nil, fmt.Errorf("spec: register %s: invalid access class %d", r.Name, r.Class)
		case r.Width == 4 && (r.Reset>>32 != 0 || r.Mask>>32 != 0):
			return nil, fmt.Errorf("spec: register %s: reset or mask wider than 32 bits", r.Name)
		}
		names[r.Name] = true
		for s := r.Offset / 4; s < (r.Offset+uint32(r.Width))/4; s++ {
			if m.slot[s] != 0 {
				return nil, fmt.Errorf("spec: registers %s and %s overlap at 0x%04x", m.regs[m.slot[s]-1].Name, r.Name, s*4)
			}
			m.slot[s] = uint16(i + 1)
		}
	}
	return m, nil
}

// Size is the length of the register window in bytes.
func (m *RegisterMap) Size() uint32 { return m.size }

// Registers returns the registers in offset order. The caller must not
// modify the slice.
func (m *RegisterMap) Registers() []Register { return m.regs }

// Len is the number of registers; indexes run from 0 to Len()-1.
func (m *RegisterMap) Len() int { return len(m.regs) }

// At returns the register with the given index.
func (m *RegisterMap) At(index int) *Register { return &m.regs[index] }

// ByName returns the index of the named register.
func (m *RegisterMap) ByName(name string) (int, bool) {
	for i := range m.regs {
		if m.regs[i].Name == name {
			return i, true
		}
	}
	return -1, false
}

// StartingAt returns the index of the register that starts exactly at offset,
// whatever its width (command operands name registers by offset alone).
func (m *RegisterMap) StartingAt(offset uint32) (int, bool) {
	if offset%4 != 0 || offset >= m.size {
		return -1, false
	}
	s := m.slot[offset/4]
	if s == 0 || m.regs[s-1].Offset != offset {
		return -1, false
	}
	return int(s - 1), true
}

// ByRole returns the index of the first register with the role.
func (m *RegisterMap) ByRole(role Role) (int, bool) {
	for i := range m.regs {
		if m.regs[i].Role == role {
			return i, true
		}
	}
	return -1, false
}

// Errors returned by Decode, wrapped in an *AccessError.
var (
	ErrOutOfRange = errors.New("outside the register window")
	ErrUnaligned  = errors.New("not aligned to the access size")
	ErrBadSize    = errors.New("access size is not 1, 2, 4 or 8 bytes")
	ErrNoRegister = errors.New("no register there")
	ErrWrongWidth = errors.New("access width does not match the register")
)

// AccessError says which access could not be decoded and why.
type AccessError struct {
	Offset uint32
	Size   uint8
	Reg    *Register // the register partly covered, for ErrWrongWidth
	Err    error
}

func (e *AccessError) Error() string {
	if e.Reg != nil {
		return fmt.Sprintf("%d-byte access at 0x%04x: %v: %s is %d bytes at 0x%04x, access it whole",
			e.Size, e.Offset, e.Err, e.Reg.Name, e.Reg.Width, e.Reg.Offset)
	}
	return fmt.Sprintf("%d-byte access at 0x%04x: %v", e.Size, e.Offset, e.Err)
}

func (e *AccessError) Unwrap() error { return e.Err }

// Decode finds the register a size-byte access at offset targets, or says
// precisely why there is none. It does not allocate on success.
func (m *RegisterMap) Decode(offset uint32, size uint8) (int, error) {
	switch size {
	case 1, 2, 4, 8:
	default:
		return -1, &AccessError{Offset: offset, Size: size, Err: ErrBadSize}
	}
	if offset >= m.size || uint64(offset)+uint64(size) > uint64(m.size) {
		return -1, &AccessError{Offset: offset, Size: size, Err: ErrOutOfRange}
	}
	if offset%uint32(size) != 0 {
		return -1, &AccessError{Offset: offset, Size: size, Err: ErrUnaligned}
	}
	s := m.slot[offset/4]
	if s == 0 {
		return -1, &AccessError{Offset: offset, Size: size, Err: ErrNoRegister}
	}
	r := &m.regs[s-1]
	if r.Offset != offset || r.Width != size {
		return -1, &AccessError{Offset: offset, Size: size, Reg: r, Err: ErrWrongWidth}
	}
	return int(s - 1), nil
}
