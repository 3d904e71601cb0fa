package spec

import "fmt"

// Class is the kind of coprocessor a device is.
type Class string

const (
	ClassGPU  Class = "gpu"
	ClassDSP  Class = "dsp"
	ClassFPGA Class = "fpga"
)

// Device is the complete guest-visible description of a coprocessor model.
type Device struct {
	Class     Class
	Model     string // e.g. "coprocd-refgpu"
	Registers *RegisterMap
	Commands  *CommandSet
	// Ring names the registers of the device's command ring by index into
	// Registers; Doorbell is the register whose write kicks it. A device
	// without a ring (commands only through Submit) leaves HasRing false.
	HasRing bool
	Ring    RingRegisters
	// MaxSubmitWords bounds one command buffer (Submit or one kick of the
	// ring): the scanner refuses larger ones before reading them.
	MaxSubmitWords int
}

// RingRegisters are indexes into Device.Registers.
type RingRegisters struct {
	Base, Size, Head, Tail, Doorbell int
}

// Validate checks that the parts of a device description agree.
func (d *Device) Validate() error {
	if d.Registers == nil || d.Commands == nil {
		return fmt.Errorf("spec: device %s lacks registers or commands", d.Model)
	}
	if d.MaxSubmitWords <= 0 {
		return fmt.Errorf("spec: device %s: MaxSubmitWords must be positive", d.Model)
	}
	if !d.HasRing {
		return nil
	}
	want := []struct {
		idx  int
		role Role
	}{{d.Ring.Base, RoleRingBase}, {d.Ring.Size, RoleRingSize}, {d.Ring.Head, RoleRingHead}, {d.Ring.Tail, RoleRingTail}, {d.Ring.Doorbell, RoleDoorbell}}
	for _, w := range want {
		if w.idx < 0 || w.idx >= d.Registers.Len() || d.Registers.At(w.idx).Role != w.role {
			return fmt.Errorf("spec: device %s: ring register for role %d is missing", d.Model, w.role)
		}
	}
	for _, c := range d.Commands.Commands() {
		for _, o := range c.Operands {
			if o.Kind == RegisterOffset && d.Registers.Size() == 0 {
				return fmt.Errorf("spec: device %s: command %s names registers but the map is empty", d.Model, c.Name)
			}
		}
	}
	return nil
}

// mustDevice finishes building a device table that is part of the program
// and panics if the table is inconsistent: that is a programming error, and
// the package's tests build every such table.
func mustDevice(d *Device) *Device {
	if d.HasRing {
		idx := func(r Role) int {
			i, ok := d.Registers.ByRole(r)
			if !ok {
				panic(fmt.Sprintf("spec: device %s has no register with role %d", d.Model, r))
			}
			return i
		}
		d.Ring = RingRegisters{Base: idx(RoleRingBase), Size: idx(RoleRingSize), Head: idx(RoleRingHead), Tail: idx(RoleRingTail), Doorbell: idx(RoleDoorbell)}
	}
	if err := d.Validate(); err != nil {
		panic(err)
	}
	return d
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
