//go:build !cgo

package uapicheck

// Available reports whether the header was compiled in: not without cgo.
const Available = false

// APIVersion is unknown without cgo.
const APIVersion = -1

// IoctlNames is empty without cgo.
var IoctlNames []string

// Ioctls is empty without cgo.
func Ioctls() map[string]uint64 { return nil }

// Layout is a struct's size and its fields' offsets, by C field name.
type Layout struct {
	Size    uintptr
	Offsets map[string]uintptr
}

// StructNames is empty without cgo.
var StructNames []string

// Structs is empty without cgo.
func Structs() map[string]Layout { return nil }
