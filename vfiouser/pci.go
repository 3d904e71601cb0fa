package vfiouser

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/coprocd/coprocd/spec"
)

// Region and IRQ indexes of a PCI device (linux/vfio.h: VFIO_PCI_*_INDEX).
const (
	RegionBAR0   = 0
	RegionBAR1   = 1
	RegionBAR5   = 5
	RegionROM    = 6
	RegionConfig = 7
	RegionVGA    = 8
	NumRegions   = 9

	IRQIndexINTx = 0
	IRQIndexMSI  = 1
	IRQIndexMSIX = 2
	IRQIndexErr  = 3
	IRQIndexReq  = 4
	NumIRQs      = 5
)

// The vcoproc's PCI layout: BAR0 is the device's register window, BAR1
// holds the MSI-X table and PBA, nothing else is implemented.
const (
	ConfigSpaceSize = 256 // conventional PCI: no extended capabilities

	msixCapOffset   = 0x40
	msixBAR         = RegionBAR1
	msixBARSize     = 4096
	msixTableOffset = 0x000
	msixPBAOffset   = 0x800
	// MSIXVectors is how many MSI-X vectors the vcoproc has: one, for the
	// vcoproc's one interrupt (INT_STATUS says which cause raised it).
	MSIXVectors    = 1
	msixEntrySize  = 16
	msixVecCtlMask = 1 // vector control: bit 0 masks the vector

	pciCommandMemory     = 1 << 1
	pciCommandBusMaster  = 1 << 2
	pciCommandParity     = 1 << 6
	pciCommandSERR       = 1 << 8
	pciCommandINTxDis    = 1 << 10
	pciStatusCapList     = 1 << 4
	pciCapIDMSIX         = 0x11
	msixCtlEnable        = 1 << 15
	msixCtlFunctionMask  = 1 << 14
	pciCommandWritable   = pciCommandMemory | pciCommandBusMaster | pciCommandParity | pciCommandSERR | pciCommandINTxDis
	pciBARMem32NonPrefet = 0x0
)

// Config-space offsets.
const (
	cfgVendorID   = 0x00
	cfgDeviceID   = 0x02
	cfgCommand    = 0x04
	cfgStatus     = 0x06
	cfgRevision   = 0x08
	cfgClassCode  = 0x09 // prog-if, subclass, class: 3 bytes
	cfgHeaderType = 0x0e
	cfgBAR0       = 0x10
	cfgSubVendor  = 0x2c
	cfgSubsystem  = 0x2e
	cfgCapPtr     = 0x34
	cfgIntLine    = 0x3c
	cfgIntPin     = 0x3d
)

// PCIIdentity is what the guest's PCI enumeration sees.
type PCIIdentity struct {
	VendorID, DeviceID                   uint16
	SubsystemVendorID, SubsystemDeviceID uint16
	Revision                             uint8
	// ClassCode is class<<16 | subclass<<8 | prog-if.
	ClassCode uint32
}

// DefaultIdentity derives an identity from the device's spec: the ID
// register's reset value split into vendor (high 16 bits) and device (low
// 16 bits), and a class code from the spec's device class. 0x0C0D is not a
// PCI-SIG-assigned vendor ID: a deployment that needs one sets
// Options.Identity.
func DefaultIdentity(d *spec.Device) PCIIdentity {
	id := PCIIdentity{ClassCode: 0x038000} // display controller, other
	if i, ok := d.Registers.ByRole(spec.RoleID); ok {
		v := d.Registers.At(i).Reset
		id.VendorID, id.DeviceID = uint16(v>>16), uint16(v)
	}
	switch d.Class {
	case spec.ClassDSP:
		id.ClassCode = 0x118000 // signal processing controller, other
	case spec.ClassFPGA:
		id.ClassCode = 0x120000 // processing accelerator
	}
	id.SubsystemVendorID, id.SubsystemDeviceID = id.VendorID, id.DeviceID
	return id
}

// barSize is the size of BAR0 for a register window of size bytes: a power
// of two (PCI requires it) and at least a page (so that no other BAR shares
// the window's page in the guest's physical address space).
func barSize(window uint32) uint32 {
	s := max(window, 4096)
	if s&(s-1) != 0 {
		s = 1 << bits.Len32(s)
	}
	return s
}

// configSpace is the emulated PCI configuration space: the bytes, which of
// their bits a write may change, and their reset values. Writes go through
// the mask byte by byte, so BAR sizing (write all ones, read back the size
// mask) and read-only fields need no code of their own.
type configSpace struct {
	cur, reset, wmask [ConfigSpaceSize]byte
	barSizes          [6]uint32
}

func newConfigSpace(id PCIIdentity, bar0 uint32) *configSpace {
	c := &configSpace{}
	put16 := func(b *[ConfigSpaceSize]byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
	put32 := func(b *[ConfigSpaceSize]byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	r := &c.reset
	put16(r, cfgVendorID, id.VendorID)
	put16(r, cfgDeviceID, id.DeviceID)
	put16(r, cfgStatus, pciStatusCapList)
	r[cfgRevision] = id.Revision
	r[cfgClassCode] = byte(id.ClassCode)
	r[cfgClassCode+1] = byte(id.ClassCode >> 8)
	r[cfgClassCode+2] = byte(id.ClassCode >> 16)
	r[cfgHeaderType] = 0
	put16(r, cfgSubVendor, id.SubsystemVendorID)
	put16(r, cfgSubsystem, id.SubsystemDeviceID)
	r[cfgCapPtr] = msixCapOffset
	r[cfgIntPin] = 1 // INTA#
	// MSI-X capability: ID, next (none), message control (table size - 1),
	// table offset | BIR, PBA offset | BIR.
	r[msixCapOffset] = pciCapIDMSIX
	r[msixCapOffset+1] = 0
	put16(r, msixCapOffset+2, MSIXVectors-1)
	put32(r, msixCapOffset+4, msixTableOffset|msixBAR)
	put32(r, msixCapOffset+8, msixPBAOffset|msixBAR)

	w := &c.wmask
	put16(w, cfgCommand, pciCommandWritable)
	w[cfgIntLine] = 0xff
	put16(w, msixCapOffset+2, msixCtlEnable|msixCtlFunctionMask)
	c.barSizes[RegionBAR0] = bar0
	c.barSizes[msixBAR] = msixBARSize
	for i, size := range c.barSizes {
		if size != 0 {
			put32(r, cfgBAR0+4*i, pciBARMem32NonPrefet)
			put32(w, cfgBAR0+4*i, ^(size - 1))
		}
	}
	c.cur = c.reset
	return c
}

// checkRange validates an access to config space.
func checkConfigRange(offset uint64, count uint32) error {
	if count == 0 || offset >= ConfigSpaceSize || uint64(count) > ConfigSpaceSize-offset {
		return fmt.Errorf("config space access of %d bytes at 0x%x lies outside the %d-byte config space", count, offset, ConfigSpaceSize)
	}
	return nil
}

func (c *configSpace) read(offset uint64, dst []byte) { copy(dst, c.cur[offset:]) }

// write applies data at offset through the write mask. Read-only bits keep
// their value, as on real hardware: a config write never fails.
func (c *configSpace) write(offset uint64, data []byte) {
	for i, b := range data {
		o := int(offset) + i
		c.cur[o] = c.cur[o]&^c.wmask[o] | b&c.wmask[o]
	}
}

func (c *configSpace) u16(off int) uint16 { return binary.LittleEndian.Uint16(c.cur[off:]) }

func (c *configSpace) intxDisabled() bool  { return c.u16(cfgCommand)&pciCommandINTxDis != 0 }
func (c *configSpace) msixControl() uint16 { return c.u16(msixCapOffset + 2) }
func (c *configSpace) resetAll()           { c.cur = c.reset }

// msixTable is the MSI-X table and pending-bit array of BAR1. The client
// (QEMU's vfio-pci) usually emulates the table itself and only tells the
// server about masking through SET_IRQS; a client that forwards table
// accesses gets this one, and its vector-control mask bit is honoured too.
type msixTable struct {
	entries [MSIXVectors][msixEntrySize]byte
}

func newMSIXTable() msixTable {
	var t msixTable
	for i := range t.entries {
		t.entries[i][12] = msixVecCtlMask // vectors come out of reset masked
	}
	return t
}

func (t *msixTable) masked(vector int) bool { return t.entries[vector][12]&msixVecCtlMask != 0 }

// checkMSIXAccess validates an access to BAR1: 4 or 8 bytes, aligned, in the
// table or the PBA; writes only to the table.
func checkMSIXAccess(offset uint64, count uint32, write bool) error {
	if count != 4 && count != 8 || offset%uint64(count) != 0 {
		return fmt.Errorf("MSI-X BAR access of %d bytes at 0x%x: must be 4 or 8 bytes, naturally aligned", count, offset)
	}
	end := offset + uint64(count)
	inTable := offset >= msixTableOffset && end <= msixTableOffset+MSIXVectors*msixEntrySize
	inPBA := offset >= msixPBAOffset && end <= msixPBAOffset+8
	switch {
	case inTable:
		return nil
	case inPBA && write:
		return fmt.Errorf("MSI-X BAR write at 0x%x: the pending-bit array is read-only", offset)
	case inPBA:
		return nil
	}
	return fmt.Errorf("MSI-X BAR access of %d bytes at 0x%x: outside the table [0x%x, 0x%x) and the PBA [0x%x, 0x%x)",
		count, offset, msixTableOffset, msixTableOffset+MSIXVectors*msixEntrySize, msixPBAOffset, msixPBAOffset+8)
}
