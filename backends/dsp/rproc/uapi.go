//go:build linux

package rproc

import "unsafe"

// The kernel's uapi, transcribed from linux/rpmsg.h, linux/remoteproc_cdev.h
// and misc/fastrpc.h. internal/uapicheck compiles the headers themselves and
// TestUAPIMatchesKernelHeaders compares every number, size and offset here
// with them.

// Ioctl numbers are spelled out as _IOC does it: direction, argument size,
// type, number.

// linux/rpmsg.h

// RPMsgAddrAny is RPMSG_ADDR_ANY: let the kernel pick the address.
const RPMsgAddrAny = 0xFFFFFFFF

// RPMsgEndpointInfo is struct rpmsg_endpoint_info.
type RPMsgEndpointInfo struct {
	Name [32]byte
	Src  uint32
	Dst  uint32
}

const rpmsgMagic = 0xb5

var (
	RPMsgCreateEptIoctl  = uint((iocWrite)<<iocDirShift | (unsafe.Sizeof(RPMsgEndpointInfo{}))<<iocSizeShift | rpmsgMagic<<8 | 1)
	RPMsgDestroyEptIoctl = uint((iocNone)<<iocDirShift | (0)<<iocSizeShift | rpmsgMagic<<8 | 2)
	RPMsgCreateDevIoctl  = uint((iocWrite)<<iocDirShift | (unsafe.Sizeof(RPMsgEndpointInfo{}))<<iocSizeShift | rpmsgMagic<<8 | 3)
	RPMsgReleaseDevIoctl = uint((iocWrite)<<iocDirShift | (unsafe.Sizeof(RPMsgEndpointInfo{}))<<iocSizeShift | rpmsgMagic<<8 | 4)
)

// linux/remoteproc_cdev.h

const RProcMagic = 0xB7

var (
	RProcSetShutdownOnRelease = uint((iocWrite)<<iocDirShift | (unsafe.Sizeof(int32(0)))<<iocSizeShift | RProcMagic<<8 | 1)
	RProcGetShutdownOnRelease = uint((iocRead)<<iocDirShift | (unsafe.Sizeof(int32(0)))<<iocSizeShift | RProcMagic<<8 | 2)
)

// misc/fastrpc.h

// FastRPCInvokeArgs is struct fastrpc_invoke_args: one buffer of a call.
type FastRPCInvokeArgs struct {
	Ptr    uint64
	Length uint64
	Fd     int32
	Attr   uint32
}

// FastRPCInvoke is struct fastrpc_invoke.
type FastRPCInvoke struct {
	Handle uint32
	Sc     uint32
	Args   uint64
}

// FastRPCInitCreate is struct fastrpc_init_create.
type FastRPCInitCreate struct {
	Filelen uint32
	Filefd  int32
	Attrs   uint32
	Siglen  uint32
	File    uint64
}

// FastRPCAllocDMABuf is struct fastrpc_alloc_dma_buf.
type FastRPCAllocDMABuf struct {
	Fd    int32
	Flags uint32
	Size  uint64
}

// FastRPCReqMmap is struct fastrpc_req_mmap.
type FastRPCReqMmap struct {
	Fd       int32
	Flags    uint32
	Vaddrin  uint64
	Size     uint64
	Vaddrout uint64
}

// FastRPCMemMap is struct fastrpc_mem_map.
type FastRPCMemMap struct {
	Version  int32
	Fd       int32
	Offset   int32
	Flags    uint32
	Vaddrin  uint64
	Length   uint64
	Vaddrout uint64
	Attrs    int32
	Reserved [4]int32
}

// FastRPCReqMunmap is struct fastrpc_req_munmap.
type FastRPCReqMunmap struct {
	Vaddrout uint64
	Size     uint64
}

// FastRPCMemUnmap is struct fastrpc_mem_unmap (whose first field the header
// spells "vesion").
type FastRPCMemUnmap struct {
	Version  int32
	Fd       int32
	Vaddr    uint64
	Length   uint64
	Reserved [5]int32
}

// FastRPCCapability is struct fastrpc_ioctl_capability.
type FastRPCCapability struct {
	Domain      uint32
	AttributeID uint32
	Capability  uint32
	Reserved    [4]uint32
}

const fastrpcMagic = 'R'

var (
	FastRPCIoctlAllocDMABuff  = uint((iocRead|iocWrite)<<iocDirShift | (unsafe.Sizeof(FastRPCAllocDMABuf{}))<<iocSizeShift | fastrpcMagic<<8 | 1)
	FastRPCIoctlFreeDMABuff   = uint((iocRead|iocWrite)<<iocDirShift | (unsafe.Sizeof(uint32(0)))<<iocSizeShift | fastrpcMagic<<8 | 2)
	FastRPCIoctlInvoke        = uint((iocRead|iocWrite)<<iocDirShift | (unsafe.Sizeof(FastRPCInvoke{}))<<iocSizeShift | fastrpcMagic<<8 | 3)
	FastRPCIoctlInitAttach    = uint((iocNone)<<iocDirShift | (0)<<iocSizeShift | fastrpcMagic<<8 | 4)
	FastRPCIoctlInitCreate    = uint((iocRead|iocWrite)<<iocDirShift | (unsafe.Sizeof(FastRPCInitCreate{}))<<iocSizeShift | fastrpcMagic<<8 | 5)
	FastRPCIoctlMmap          = uint((iocRead|iocWrite)<<iocDirShift | (unsafe.Sizeof(FastRPCReqMmap{}))<<iocSizeShift | fastrpcMagic<<8 | 6)
	FastRPCIoctlMunmap        = uint((iocRead|iocWrite)<<iocDirShift | (unsafe.Sizeof(FastRPCReqMunmap{}))<<iocSizeShift | fastrpcMagic<<8 | 7)
	FastRPCIoctlInitAttachSns = uint((iocNone)<<iocDirShift | (0)<<iocSizeShift | fastrpcMagic<<8 | 8)
	FastRPCIoctlMemMap        = uint((iocRead|iocWrite)<<iocDirShift | (unsafe.Sizeof(FastRPCMemMap{}))<<iocSizeShift | fastrpcMagic<<8 | 10)
	FastRPCIoctlMemUnmap      = uint((iocRead|iocWrite)<<iocDirShift | (unsafe.Sizeof(FastRPCMemUnmap{}))<<iocSizeShift | fastrpcMagic<<8 | 11)
	FastRPCIoctlGetDSPInfo    = uint((iocRead|iocWrite)<<iocDirShift | (unsafe.Sizeof(FastRPCCapability{}))<<iocSizeShift | fastrpcMagic<<8 | 13)
)

// enum fastrpc_map_flags
const (
	FastRPCMapStatic     = 0
	FastRPCMapReserved   = 1
	FastRPCMapFD         = 2
	FastRPCMapFDDelayed  = 3
	FastRPCMapFDNoMap    = 16
	FastRPCMapMax        = 17
	FastRPCAttrSecureMap = 1 // FASTRPC_ATTR_SECUREMAP
)

// enum fastrpc_proc_attr
const (
	FastRPCModeDebug          = 1 << 0
	FastRPCModePtrace         = 1 << 1
	FastRPCModeCRC            = 1 << 2
	FastRPCModeUnsignedModule = 1 << 3
	FastRPCModeAdaptiveQoS    = 1 << 4
	FastRPCModeSystemProcess  = 1 << 5
	FastRPCModePrivileged     = 1 << 6
)
