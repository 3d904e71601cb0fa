package dfl

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrInterfaceMismatch: a GBS was built against another PR interface than
// the region's. Loading it could hang or damage the shell; it is refused
// before the ioctl.
var ErrInterfaceMismatch = errors.New("bitstream interface id does not match the region")

// dev is an open DFL character device.
type dev struct {
	f    *os.File
	path string
}

func open(path string) (dev, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return dev{}, fmt.Errorf("dfl: opening %s: %w", path, err)
	}
	return dev{f: f, path: path}, nil
}

// Close closes the device.
func (d dev) Close() error { return d.f.Close() }

// ioctl issues req with arg (a pointer, an integer or 0) and names both in
// its error.
func (d dev) ioctl(req uintptr, arg unsafe.Pointer) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, d.f.Fd(), req, uintptr(arg))
	runtime.KeepAlive(d.f)
	if errno != 0 {
		return 0, fmt.Errorf("dfl: %s on %s: %w", ioctlNames[req], d.path, errno)
	}
	return r, nil
}

// APIVersion asks the driver for its API version (DFL_FPGA_GET_API_VERSION).
func (d dev) APIVersion() (int, error) {
	r, err := d.ioctl(ioctlGetAPIVersion, nil)
	return int(r), err
}

// checkAPI refuses a driver that speaks another API than APIVersion.
func (d dev) checkAPI() error {
	v, err := d.APIVersion()
	if err != nil {
		return err
	}
	if v != APIVersion {
		return fmt.Errorf("dfl: %s speaks DFL API %d; this package speaks %d", d.path, v, APIVersion)
	}
	return nil
}

// setIRQ binds eventfds to interrupts start.. of an irq-set ioctl; fd -1
// unbinds one. The kernel reads struct dfl_fpga_irq_set followed by the
// fds from one buffer.
func (d dev) setIRQ(req uintptr, start uint32, fds []int) error {
	buf := make([]int32, 2+len(fds))
	buf[0], buf[1] = int32(start), int32(len(fds))
	for i, fd := range fds {
		buf[2+i] = int32(fd)
	}
	_, err := d.ioctl(req, unsafe.Pointer(&buf[0]))
	runtime.KeepAlive(buf)
	return err
}

func (d dev) irqNum(req uintptr) (uint32, error) {
	var n uint32
	_, err := d.ioctl(req, unsafe.Pointer(&n))
	return n, err
}

// FMEDevice is an open /dev/dfl-fme.N.
type FMEDevice struct{ dev }

// OpenFME opens an FME and checks its API version.
func OpenFME(path string) (*FMEDevice, error) {
	d, err := open(path)
	if err != nil {
		return nil, err
	}
	if err := d.checkAPI(); err != nil {
		d.Close()
		return nil, err
	}
	return &FMEDevice{d}, nil
}

// openFMEUnchecked opens without the API check, for tests on files that
// are not DFL devices.
func openFMEUnchecked(path string) (*FMEDevice, error) {
	d, err := open(path)
	return &FMEDevice{d}, err
}

// PortPR partially reconfigures port portID's region with gbs
// (DFL_FPGA_FME_PORT_PR), after checking that the GBS was built against
// regionInterface (the FME's PRInterfaceID from Enumerate). A zero
// regionInterface is refused: the check must not be skipped by accident.
func (d *FMEDevice) PortPR(portID uint32, gbs *GBS, regionInterface GUID) error {
	switch {
	case gbs == nil || len(gbs.Bitstream) == 0:
		return fmt.Errorf("dfl: PR of port %d on %s: no bitstream", portID, d.path)
	case regionInterface.IsZero():
		return fmt.Errorf("dfl: PR of port %d on %s: the region's interface id is unknown; read it from sysfs first", portID, d.path)
	case gbs.InterfaceID != regionInterface:
		return fmt.Errorf("dfl: PR of port %d on %s: bitstream %q is built for interface %s, the region has %s: %w",
			portID, d.path, gbs.Name, gbs.InterfaceID, regionInterface, ErrInterfaceMismatch)
	case uint64(len(gbs.Bitstream)) > 0xffffffff:
		return fmt.Errorf("dfl: PR of port %d on %s: %d bytes of bitstream; the ioctl takes at most 4 GiB - 1", portID, d.path, len(gbs.Bitstream))
	}
	pr := fmePortPR{
		Argsz: uint32(unsafe.Sizeof(fmePortPR{})), PortID: portID,
		BufferSize: uint32(len(gbs.Bitstream)), BufferAddress: uint64(uintptr(unsafe.Pointer(&gbs.Bitstream[0]))),
	}
	_, err := d.ioctl(ioctlFMEPortPR, unsafe.Pointer(&pr))
	runtime.KeepAlive(gbs.Bitstream)
	return err
}

// ReleasePort and AssignPort move a port between the host and SR-IOV
// virtual functions (DFL_FPGA_FME_PORT_RELEASE / _ASSIGN).
func (d *FMEDevice) ReleasePort(portID int32) error {
	_, err := d.ioctl(ioctlFMEPortRelease, unsafe.Pointer(&portID))
	return err
}

// AssignPort gives a released port back to the host.
func (d *FMEDevice) AssignPort(portID int32) error {
	_, err := d.ioctl(ioctlFMEPortAssign, unsafe.Pointer(&portID))
	return err
}

// ErrIRQs is the number of FME error interrupts.
func (d *FMEDevice) ErrIRQs() (uint32, error) { return d.irqNum(ioctlFMEErrGetIRQNum) }

// SetErrIRQ binds eventfds to the FME's error interrupts from start.
func (d *FMEDevice) SetErrIRQ(start uint32, fds []int) error {
	return d.setIRQ(ioctlFMEErrSetIRQ, start, fds)
}

// PortDevice is an open /dev/dfl-port.N.
type PortDevice struct{ dev }

// PortInfo is DFL_FPGA_PORT_GET_INFO's answer.
type PortInfo struct {
	Flags, Regions, Umsgs uint32
}

// RegionInfo is DFL_FPGA_PORT_GET_REGION_INFO's answer.
type RegionInfo struct {
	Index  uint32
	Flags  uint32 // RegionRead | RegionWrite | RegionMmap
	Size   uint64
	Offset uint64 // mmap offset on the port's file
}

// OpenPort opens a port and checks its API version.
func OpenPort(path string) (*PortDevice, error) {
	d, err := open(path)
	if err != nil {
		return nil, err
	}
	if err := d.checkAPI(); err != nil {
		d.Close()
		return nil, err
	}
	return &PortDevice{d}, nil
}

func openPortUnchecked(path string) (*PortDevice, error) {
	d, err := open(path)
	return &PortDevice{d}, err
}

// Reset resets the port's AFU (DFL_FPGA_PORT_RESET): what coprocd does
// between tenants so no accelerator state crosses.
func (p *PortDevice) Reset() error {
	_, err := p.ioctl(ioctlPortReset, nil)
	return err
}

// Info returns the port's region and umsg counts.
func (p *PortDevice) Info() (PortInfo, error) {
	in := portInfo{Argsz: uint32(unsafe.Sizeof(portInfo{}))}
	_, err := p.ioctl(ioctlPortGetInfo, unsafe.Pointer(&in))
	return PortInfo{Flags: in.Flags, Regions: in.NumRegions, Umsgs: in.NumUmsgs}, err
}

// RegionInfo returns where MMIO region index (RegionIndexAFU,
// RegionIndexSTP) lies in the port's file.
func (p *PortDevice) RegionInfo(index uint32) (RegionInfo, error) {
	in := portRegionInfo{Argsz: uint32(unsafe.Sizeof(portRegionInfo{})), Index: index}
	_, err := p.ioctl(ioctlPortGetRegion, unsafe.Pointer(&in))
	return RegionInfo{Index: index, Flags: in.Flags, Size: in.Size, Offset: in.Offset}, err
}

// MapMMIO maps the AFU's MMIO region shared, read-write. Unmap it with
// unix.Munmap.
func (p *PortDevice) MapMMIO() ([]byte, error) {
	ri, err := p.RegionInfo(RegionIndexAFU)
	if err != nil {
		return nil, err
	}
	return p.mmap(ri)
}

func (p *PortDevice) mmap(ri RegionInfo) ([]byte, error) {
	if ri.Flags&RegionMmap == 0 {
		return nil, fmt.Errorf("dfl: %s: region %d (flags %#x) cannot be mapped", p.path, ri.Index, ri.Flags)
	}
	if ri.Size == 0 || ri.Size > 1<<40 || ri.Offset > 1<<62 {
		return nil, fmt.Errorf("dfl: %s: region %d has size %d at offset %#x", p.path, ri.Index, ri.Size, ri.Offset)
	}
	prot := 0
	if ri.Flags&RegionRead != 0 {
		prot |= unix.PROT_READ
	}
	if ri.Flags&RegionWrite != 0 {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(int(p.f.Fd()), int64(ri.Offset), int(ri.Size), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("dfl: mapping region %d of %s (%d bytes at %#x): %w", ri.Index, p.path, ri.Size, ri.Offset, err)
	}
	return b, nil
}

// DMAMap pins buf and maps it into the port's IOMMU domain
// (DFL_FPGA_PORT_DMA_MAP), returning its IOVA. buf must be page aligned
// and a whole number of pages: allocate it with AllocDMABuffer.
func (p *PortDevice) DMAMap(buf []byte) (uint64, error) {
	page := uintptr(os.Getpagesize())
	if len(buf) == 0 || uintptr(len(buf))%page != 0 || uintptr(unsafe.Pointer(&buf[0]))%page != 0 {
		return 0, fmt.Errorf("dfl: DMA map on %s: buffer of %d bytes must be page aligned and a multiple of %d bytes", p.path, len(buf), page)
	}
	m := portDMAMap{Argsz: uint32(unsafe.Sizeof(portDMAMap{})), UserAddr: uint64(uintptr(unsafe.Pointer(&buf[0]))), Length: uint64(len(buf))}
	_, err := p.ioctl(ioctlPortDMAMap, unsafe.Pointer(&m))
	runtime.KeepAlive(buf)
	return m.IOVA, err
}

// DMAUnmap removes a mapping DMAMap made.
func (p *PortDevice) DMAUnmap(iova uint64) error {
	u := portDMAUnmap{Argsz: uint32(unsafe.Sizeof(portDMAUnmap{})), IOVA: iova}
	_, err := p.ioctl(ioctlPortDMAUnmap, unsafe.Pointer(&u))
	return err
}

// ErrIRQs and UserIRQs are the numbers of the port's error and user (AFU)
// interrupts.
func (p *PortDevice) ErrIRQs() (uint32, error) { return p.irqNum(ioctlPortErrGetIRQNum) }

// UserIRQs is the number of the AFU's user interrupts.
func (p *PortDevice) UserIRQs() (uint32, error) { return p.irqNum(ioctlPortUIntGetIRQ) }

// SetErrIRQ binds eventfds to the port's error interrupts from start.
func (p *PortDevice) SetErrIRQ(start uint32, fds []int) error {
	return p.setIRQ(ioctlPortErrSetIRQ, start, fds)
}

// SetUserIRQ binds eventfds to the AFU's user interrupts from start.
func (p *PortDevice) SetUserIRQ(start uint32, fds []int) error {
	return p.setIRQ(ioctlPortUIntSetIRQ, start, fds)
}

// AllocDMABuffer returns size bytes (rounded up to pages) of anonymous,
// page-aligned memory for DMAMap; free it with unix.Munmap.
func AllocDMABuffer(size int) ([]byte, error) {
	page := os.Getpagesize()
	if size <= 0 {
		return nil, fmt.Errorf("dfl: DMA buffer of %d bytes", size)
	}
	n := (size + page - 1) / page * page
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("dfl: DMA buffer of %d bytes: %w", n, err)
	}
	return b, nil
}

// NewEventfd returns a non-blocking, close-on-exec eventfd for the irq
// setters; the interrupt count is read from it as a uint64.
func NewEventfd() (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, fmt.Errorf("dfl: eventfd: %w", err)
	}
	return fd, nil
}
