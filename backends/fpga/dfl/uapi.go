package dfl

import "unsafe"

// The ioctl ABI of linux/fpga-dfl.h (DFL_FPGA_API_VERSION 0), restated in
// Go. uapi_test.go checks every number and layout here against the kernel's
// own header through cgo.

// APIVersion is the DFL_FPGA_API_VERSION this package speaks.
const APIVersion = 0

const (
	dflMagic = 0xB6
	dflBase  = 0x00
	portBase = 0x40
	fmeBase  = 0x80
)

// Linux's generic ioctl encoding (asm-generic/ioctl.h), used by x86 and
// arm64 alike.
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, typ, nr, size uintptr) uintptr { return dir<<30 | size<<16 | typ<<8 | nr }

// Port region flags and indexes (struct dfl_fpga_port_region_info).
const (
	RegionRead     = 1 << 0
	RegionWrite    = 1 << 1
	RegionMmap     = 1 << 2
	RegionIndexAFU = 0
	RegionIndexSTP = 1
)

// portInfo is struct dfl_fpga_port_info.
type portInfo struct {
	Argsz      uint32
	Flags      uint32
	NumRegions uint32
	NumUmsgs   uint32
}

// portRegionInfo is struct dfl_fpga_port_region_info.
type portRegionInfo struct {
	Argsz   uint32
	Flags   uint32
	Index   uint32
	Padding uint32
	Size    uint64
	Offset  uint64
}

// portDMAMap is struct dfl_fpga_port_dma_map.
type portDMAMap struct {
	Argsz    uint32
	Flags    uint32
	UserAddr uint64
	Length   uint64
	IOVA     uint64
}

// portDMAUnmap is struct dfl_fpga_port_dma_unmap.
type portDMAUnmap struct {
	Argsz uint32
	Flags uint32
	IOVA  uint64
}

// irqSet is the fixed part of struct dfl_fpga_irq_set; the evtfds[] array
// of int32 follows it in the same buffer.
type irqSet struct {
	Start uint32
	Count uint32
}

// fmePortPR is struct dfl_fpga_fme_port_pr.
type fmePortPR struct {
	Argsz         uint32
	Flags         uint32
	PortID        uint32
	BufferSize    uint32
	BufferAddress uint64
}

// Ioctl numbers.
var (
	ioctlGetAPIVersion    = ioc(iocNone, dflMagic, dflBase+0, 0)
	ioctlCheckExtension   = ioc(iocNone, dflMagic, dflBase+1, 0)
	ioctlPortReset        = ioc(iocNone, dflMagic, portBase+0, 0)
	ioctlPortGetInfo      = ioc(iocNone, dflMagic, portBase+1, 0)
	ioctlPortGetRegion    = ioc(iocNone, dflMagic, portBase+2, 0)
	ioctlPortDMAMap       = ioc(iocNone, dflMagic, portBase+3, 0)
	ioctlPortDMAUnmap     = ioc(iocNone, dflMagic, portBase+4, 0)
	ioctlPortErrGetIRQNum = ioc(iocRead, dflMagic, portBase+5, 4)
	ioctlPortErrSetIRQ    = ioc(iocWrite, dflMagic, portBase+6, unsafe.Sizeof(irqSet{}))
	ioctlPortUIntGetIRQ   = ioc(iocRead, dflMagic, portBase+7, 4)
	ioctlPortUIntSetIRQ   = ioc(iocWrite, dflMagic, portBase+8, unsafe.Sizeof(irqSet{}))
	ioctlFMEPortPR        = ioc(iocNone, dflMagic, fmeBase+0, 0)
	ioctlFMEPortRelease   = ioc(iocWrite, dflMagic, fmeBase+1, 4)
	ioctlFMEPortAssign    = ioc(iocWrite, dflMagic, fmeBase+2, 4)
	ioctlFMEErrGetIRQNum  = ioc(iocRead, dflMagic, fmeBase+3, 4)
	ioctlFMEErrSetIRQ     = ioc(iocWrite, dflMagic, fmeBase+4, unsafe.Sizeof(irqSet{}))
)

// ioctlNames names the ioctls in errors.
var ioctlNames = map[uintptr]string{
	ioctlGetAPIVersion: "DFL_FPGA_GET_API_VERSION", ioctlCheckExtension: "DFL_FPGA_CHECK_EXTENSION",
	ioctlPortReset: "DFL_FPGA_PORT_RESET", ioctlPortGetInfo: "DFL_FPGA_PORT_GET_INFO",
	ioctlPortGetRegion: "DFL_FPGA_PORT_GET_REGION_INFO", ioctlPortDMAMap: "DFL_FPGA_PORT_DMA_MAP",
	ioctlPortDMAUnmap: "DFL_FPGA_PORT_DMA_UNMAP", ioctlPortErrGetIRQNum: "DFL_FPGA_PORT_ERR_GET_IRQ_NUM",
	ioctlPortErrSetIRQ: "DFL_FPGA_PORT_ERR_SET_IRQ", ioctlPortUIntGetIRQ: "DFL_FPGA_PORT_UINT_GET_IRQ_NUM",
	ioctlPortUIntSetIRQ: "DFL_FPGA_PORT_UINT_SET_IRQ", ioctlFMEPortPR: "DFL_FPGA_FME_PORT_PR",
	ioctlFMEPortRelease: "DFL_FPGA_FME_PORT_RELEASE", ioctlFMEPortAssign: "DFL_FPGA_FME_PORT_ASSIGN",
	ioctlFMEErrGetIRQNum: "DFL_FPGA_FME_ERR_GET_IRQ_NUM", ioctlFMEErrSetIRQ: "DFL_FPGA_FME_ERR_SET_IRQ",
}
