//go:build !(linux && cgo)

package uapicheck

// Available is false: this build has no cgo (or is not for Linux), so the
// kernel headers could not be compiled in.
const Available = false

// Constants is empty without cgo.
func Constants() map[string]uint64 { return nil }

// Layouts is empty without cgo.
func Layouts() map[string]uintptr { return nil }
