package iommu

import (
	"errors"
	"fmt"
	"strings"
)

// Perm is an access permission of a mapping, or the kind of an access.
type Perm uint8

// Permissions. An access is allowed when every bit it asks for is granted.
const (
	Read      Perm = 1
	Write     Perm = 2
	ReadWrite      = Read | Write
)

// String returns "r", "w" or "rw"; "-" for no permission.
func (p Perm) String() string {
	switch p {
	case 0:
		return "-"
	case Read:
		return "r"
	case Write:
		return "w"
	case ReadWrite:
		return "rw"
	}
	return fmt.Sprintf("Perm(%#x)", uint8(p))
}

// verb names an access in messages: "read", "write", "read-write".
func (p Perm) verb() string {
	switch p {
	case Read:
		return "read"
	case Write:
		return "write"
	case ReadWrite:
		return "read-write"
	}
	return "access " + p.String()
}

// valid reports whether p is one of Read, Write, ReadWrite.
func (p Perm) valid() bool { return p != 0 && p&^ReadWrite == 0 }

// Reasons for a Fault. Compare with errors.Is.
var (
	// ErrNotMapped: no page is mapped at the IOVA.
	ErrNotMapped = errors.New("not mapped")
	// ErrPermission: the page is mapped without the permission the access needs.
	ErrPermission = errors.New("permission denied")
	// ErrOutOfRange: the IOVA lies at or beyond 1<<IOVABits.
	ErrOutOfRange = errors.New("beyond the 48-bit I/O address space")
	// ErrNoContext: DMA through a Unit with no active context.
	ErrNoContext = errors.New("no IOMMU context is active on the device")
)

// Errors for bad arguments to Map, Unmap, Translate and Check. These are the
// caller's mistakes, not device faults: they are returned as plain wrapped
// errors and never recorded as faults.
var (
	// ErrInvalidArgument: an unaligned address or size, a zero size, or a
	// permission or access that is not Read, Write or ReadWrite.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrAlreadyMapped: Map over a page that is mapped already.
	ErrAlreadyMapped = errors.New("already mapped")
)

// Fault is a failed translation: who, where, what, and why.
type Fault struct {
	Domain string // the domain whose context faulted; "" when none was active
	Device string // the device, when the access came through a Unit
	IOVA   uint64 // the first faulting address of the access
	Access Perm   // the access attempted
	Reason error  // ErrNotMapped, ErrPermission, ErrOutOfRange or ErrNoContext
	Mapped Perm   // with ErrPermission: the permission the page does have
}

// Error says what was wrong, e.g.
// `iommu: domain "ivi": write at IOVA 0x7f000000: not mapped`.
func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("iommu: ")
	if f.Device != "" {
		fmt.Fprintf(&b, "device %q: ", f.Device)
	}
	if f.Domain != "" {
		fmt.Fprintf(&b, "domain %q: ", f.Domain)
	}
	fmt.Fprintf(&b, "%s at IOVA %#x: %v", f.Access.verb(), f.IOVA, f.Reason)
	if errors.Is(f.Reason, ErrPermission) {
		fmt.Fprintf(&b, " (page is mapped %s)", f.Mapped)
	}
	return b.String()
}

// Unwrap returns the reason, so errors.Is(err, ErrNotMapped) works.
func (f *Fault) Unwrap() error { return f.Reason }
