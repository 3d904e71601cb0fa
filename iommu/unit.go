package iommu

// Unit is the IOMMU in front of one physical device: it translates the
// device's DMA through whichever domain's Context is active. As in the Xen
// Shared Coprocessor Framework, the scheduler swaps the active context when
// it hands the device to another domain, so the device can only ever reach
// the memory of the domain that owns it now.
//
// With no context active, every access fails with a *Fault whose Reason is
// ErrNoContext. Faults returned through a Unit carry its device name.
//
// A Unit is NOT safe for concurrent use; the caller serializes (the
// scheduler switches contexts only while no DMA is in flight).
type Unit struct {
	device    string
	active    *Context
	switches  uint64
	noContext uint64
}

// UnitStats counts what a Unit has done.
type UnitStats struct {
	Switches        uint64 // Activate/Deactivate calls that changed the active context
	NoContextFaults uint64 // accesses refused because no context was active
}

// NewUnit returns a Unit for device with no context active.
func NewUnit(device string) *Unit { return &Unit{device: device} }

// Device returns the device name the Unit was created with.
func (u *Unit) Device() string { return u.device }

// Activate makes c the active context; Activate(nil) is Deactivate.
func (u *Unit) Activate(c *Context) {
	if c != u.active {
		u.switches++
	}
	u.active = c
}

// Deactivate leaves the Unit with no active context.
func (u *Unit) Deactivate() { u.Activate(nil) }

// Active returns the active context, or nil when none is.
func (u *Unit) Active() *Context { return u.active }

// Stats returns the Unit's counters.
func (u *Unit) Stats() UnitStats {
	return UnitStats{Switches: u.switches, NoContextFaults: u.noContext}
}

func (u *Unit) none(iova uint64, access Perm) error {
	u.noContext++
	return &Fault{Device: u.device, IOVA: iova, Access: access, Reason: ErrNoContext}
}

// tag names the device on a fault from the active context. Only the
// returned copy is tagged; the context's own record is left as it was.
func (u *Unit) tag(err error) error {
	if f, ok := err.(*Fault); ok {
		f.Device = u.device
	}
	return err
}

// Translate translates through the active context; see Context.Translate.
func (u *Unit) Translate(iova uint64, access Perm) ([]byte, error) {
	if u.active == nil {
		return nil, u.none(iova, access)
	}
	b, err := u.active.Translate(iova, access)
	if err != nil {
		return nil, u.tag(err)
	}
	return b, nil
}

// Read reads through the active context; see Context.Read.
func (u *Unit) Read(iova uint64, dst []byte) error {
	if u.active == nil {
		return u.none(iova, Read)
	}
	if err := u.active.Read(iova, dst); err != nil {
		return u.tag(err)
	}
	return nil
}

// Write writes through the active context; see Context.Write.
func (u *Unit) Write(iova uint64, src []byte) error {
	if u.active == nil {
		return u.none(iova, Write)
	}
	if err := u.active.Write(iova, src); err != nil {
		return u.tag(err)
	}
	return nil
}

// ReadU32 reads through the active context; see Context.ReadU32.
func (u *Unit) ReadU32(iova uint64) (uint32, error) {
	if u.active == nil {
		return 0, u.none(iova, Read)
	}
	v, err := u.active.ReadU32(iova)
	if err != nil {
		return 0, u.tag(err)
	}
	return v, nil
}

// ReadU64 reads through the active context; see Context.ReadU64.
func (u *Unit) ReadU64(iova uint64) (uint64, error) {
	if u.active == nil {
		return 0, u.none(iova, Read)
	}
	v, err := u.active.ReadU64(iova)
	if err != nil {
		return 0, u.tag(err)
	}
	return v, nil
}

// WriteU32 writes through the active context; see Context.WriteU32.
func (u *Unit) WriteU32(iova uint64, v uint32) error {
	if u.active == nil {
		return u.none(iova, Write)
	}
	if err := u.active.WriteU32(iova, v); err != nil {
		return u.tag(err)
	}
	return nil
}

// WriteU64 writes through the active context; see Context.WriteU64.
func (u *Unit) WriteU64(iova uint64, v uint64) error {
	if u.active == nil {
		return u.none(iova, Write)
	}
	if err := u.active.WriteU64(iova, v); err != nil {
		return u.tag(err)
	}
	return nil
}

// Check checks through the active context; see Context.Check. With no
// context active it returns the ErrNoContext fault (and, like
// Context.Check, records nothing).
func (u *Unit) Check(iova, size uint64, access Perm) error {
	if u.active == nil {
		return &Fault{Device: u.device, IOVA: iova, Access: access, Reason: ErrNoContext}
	}
	if err := u.active.Check(iova, size, access); err != nil {
		return u.tag(err)
	}
	return nil
}
