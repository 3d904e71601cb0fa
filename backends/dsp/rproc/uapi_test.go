//go:build linux

package rproc

import (
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/backends/dsp/rproc/internal/uapicheck"
)

// TestUAPIMatchesKernelHeaders compares every ioctl number, constant, struct
// size and field offset of uapi.go with the kernel's own headers, compiled
// by cgo in internal/uapicheck.
func TestUAPIMatchesKernelHeaders(t *testing.T) {
	if !uapicheck.Available {
		if os.Getenv("CI") == "true" {
			t.Fatal("the uapi check needs cgo and the kernel headers (linux-libc-dev); under CI=true it must run")
		}
		t.Skip("built without cgo: the kernel headers cannot be compiled in (CGO_ENABLED=1 and linux-libc-dev are needed)")
	}
	c := uapicheck.Constants()
	want := map[string]uint64{
		"RPMSG_ADDR_ANY":                RPMsgAddrAny,
		"RPMSG_CREATE_EPT_IOCTL":        uint64(RPMsgCreateEptIoctl),
		"RPMSG_DESTROY_EPT_IOCTL":       uint64(RPMsgDestroyEptIoctl),
		"RPMSG_CREATE_DEV_IOCTL":        uint64(RPMsgCreateDevIoctl),
		"RPMSG_RELEASE_DEV_IOCTL":       uint64(RPMsgReleaseDevIoctl),
		"RPROC_MAGIC":                   RProcMagic,
		"RPROC_SET_SHUTDOWN_ON_RELEASE": uint64(RProcSetShutdownOnRelease),
		"RPROC_GET_SHUTDOWN_ON_RELEASE": uint64(RProcGetShutdownOnRelease),
		"FASTRPC_IOCTL_ALLOC_DMA_BUFF":  uint64(FastRPCIoctlAllocDMABuff),
		"FASTRPC_IOCTL_FREE_DMA_BUFF":   uint64(FastRPCIoctlFreeDMABuff),
		"FASTRPC_IOCTL_INVOKE":          uint64(FastRPCIoctlInvoke),
		"FASTRPC_IOCTL_INIT_ATTACH":     uint64(FastRPCIoctlInitAttach),
		"FASTRPC_IOCTL_INIT_CREATE":     uint64(FastRPCIoctlInitCreate),
		"FASTRPC_IOCTL_MMAP":            uint64(FastRPCIoctlMmap),
		"FASTRPC_IOCTL_MUNMAP":          uint64(FastRPCIoctlMunmap),
		"FASTRPC_IOCTL_INIT_ATTACH_SNS": uint64(FastRPCIoctlInitAttachSns),
		"FASTRPC_IOCTL_MEM_MAP":         uint64(FastRPCIoctlMemMap),
		"FASTRPC_IOCTL_MEM_UNMAP":       uint64(FastRPCIoctlMemUnmap),
		"FASTRPC_IOCTL_GET_DSP_INFO":    uint64(FastRPCIoctlGetDSPInfo),
		"FASTRPC_MAP_STATIC":            FastRPCMapStatic,
		"FASTRPC_MAP_RESERVED":          FastRPCMapReserved,
		"FASTRPC_MAP_FD":                FastRPCMapFD,
		"FASTRPC_MAP_FD_DELAYED":        FastRPCMapFDDelayed,
		"FASTRPC_MAP_FD_NOMAP":          FastRPCMapFDNoMap,
		"FASTRPC_MAP_MAX":               FastRPCMapMax,
		"FASTRPC_ATTR_SECUREMAP":        FastRPCAttrSecureMap,
		"FASTRPC_MODE_DEBUG":            FastRPCModeDebug,
		"FASTRPC_MODE_PTRACE":           FastRPCModePtrace,
		"FASTRPC_MODE_CRC":              FastRPCModeCRC,
		"FASTRPC_MODE_UNSIGNED_MODULE":  FastRPCModeUnsignedModule,
		"FASTRPC_MODE_ADAPTIVE_QOS":     FastRPCModeAdaptiveQoS,
		"FASTRPC_MODE_SYSTEM_PROCESS":   FastRPCModeSystemProcess,
		"FASTRPC_MODE_PRIVILEGED":       FastRPCModePrivileged,
	}
	require.Len(t, c, len(want), "every constant the checker reports is compared")
	for name, v := range want {
		got, ok := c[name]
		require.True(t, ok, name)
		assert.Equal(t, got, v, "%s: kernel 0x%x, Go 0x%x", name, got, v)
	}

	var ept RPMsgEndpointInfo
	var ia FastRPCInvokeArgs
	var inv FastRPCInvoke
	var ic FastRPCInitCreate
	var ad FastRPCAllocDMABuf
	var mm FastRPCReqMmap
	var mp FastRPCMemMap
	var mu FastRPCReqMunmap
	var mum FastRPCMemUnmap
	var cp FastRPCCapability
	layout := map[string]uintptr{
		"rpmsg_endpoint_info": unsafe.Sizeof(ept), "rpmsg_endpoint_info.name": unsafe.Offsetof(ept.Name),
		"rpmsg_endpoint_info.src": unsafe.Offsetof(ept.Src), "rpmsg_endpoint_info.dst": unsafe.Offsetof(ept.Dst),

		"fastrpc_invoke_args": unsafe.Sizeof(ia), "fastrpc_invoke_args.ptr": unsafe.Offsetof(ia.Ptr),
		"fastrpc_invoke_args.length": unsafe.Offsetof(ia.Length), "fastrpc_invoke_args.fd": unsafe.Offsetof(ia.Fd),
		"fastrpc_invoke_args.attr": unsafe.Offsetof(ia.Attr),

		"fastrpc_invoke": unsafe.Sizeof(inv), "fastrpc_invoke.handle": unsafe.Offsetof(inv.Handle),
		"fastrpc_invoke.sc": unsafe.Offsetof(inv.Sc), "fastrpc_invoke.args": unsafe.Offsetof(inv.Args),

		"fastrpc_init_create": unsafe.Sizeof(ic), "fastrpc_init_create.filelen": unsafe.Offsetof(ic.Filelen),
		"fastrpc_init_create.filefd": unsafe.Offsetof(ic.Filefd), "fastrpc_init_create.attrs": unsafe.Offsetof(ic.Attrs),
		"fastrpc_init_create.siglen": unsafe.Offsetof(ic.Siglen), "fastrpc_init_create.file": unsafe.Offsetof(ic.File),

		"fastrpc_alloc_dma_buf": unsafe.Sizeof(ad), "fastrpc_alloc_dma_buf.fd": unsafe.Offsetof(ad.Fd),
		"fastrpc_alloc_dma_buf.flags": unsafe.Offsetof(ad.Flags), "fastrpc_alloc_dma_buf.size": unsafe.Offsetof(ad.Size),

		"fastrpc_req_mmap": unsafe.Sizeof(mm), "fastrpc_req_mmap.fd": unsafe.Offsetof(mm.Fd),
		"fastrpc_req_mmap.flags": unsafe.Offsetof(mm.Flags), "fastrpc_req_mmap.vaddrin": unsafe.Offsetof(mm.Vaddrin),
		"fastrpc_req_mmap.size": unsafe.Offsetof(mm.Size), "fastrpc_req_mmap.vaddrout": unsafe.Offsetof(mm.Vaddrout),

		"fastrpc_mem_map": unsafe.Sizeof(mp), "fastrpc_mem_map.version": unsafe.Offsetof(mp.Version),
		"fastrpc_mem_map.fd": unsafe.Offsetof(mp.Fd), "fastrpc_mem_map.offset": unsafe.Offsetof(mp.Offset),
		"fastrpc_mem_map.flags": unsafe.Offsetof(mp.Flags), "fastrpc_mem_map.vaddrin": unsafe.Offsetof(mp.Vaddrin),
		"fastrpc_mem_map.length": unsafe.Offsetof(mp.Length), "fastrpc_mem_map.vaddrout": unsafe.Offsetof(mp.Vaddrout),
		"fastrpc_mem_map.attrs": unsafe.Offsetof(mp.Attrs), "fastrpc_mem_map.reserved": unsafe.Offsetof(mp.Reserved),

		"fastrpc_req_munmap": unsafe.Sizeof(mu), "fastrpc_req_munmap.vaddrout": unsafe.Offsetof(mu.Vaddrout),
		"fastrpc_req_munmap.size": unsafe.Offsetof(mu.Size),

		"fastrpc_mem_unmap": unsafe.Sizeof(mum), "fastrpc_mem_unmap.vesion": unsafe.Offsetof(mum.Version),
		"fastrpc_mem_unmap.fd": unsafe.Offsetof(mum.Fd), "fastrpc_mem_unmap.vaddr": unsafe.Offsetof(mum.Vaddr),
		"fastrpc_mem_unmap.length": unsafe.Offsetof(mum.Length), "fastrpc_mem_unmap.reserved": unsafe.Offsetof(mum.Reserved),

		"fastrpc_ioctl_capability": unsafe.Sizeof(cp), "fastrpc_ioctl_capability.domain": unsafe.Offsetof(cp.Domain),
		"fastrpc_ioctl_capability.attribute_id": unsafe.Offsetof(cp.AttributeID),
		"fastrpc_ioctl_capability.capability":   unsafe.Offsetof(cp.Capability),
		"fastrpc_ioctl_capability.reserved":     unsafe.Offsetof(cp.Reserved),
	}
	l := uapicheck.Layouts()
	require.Len(t, l, len(layout), "every size and offset the checker reports is compared")
	for name, v := range layout {
		got, ok := l[name]
		require.True(t, ok, name)
		assert.Equal(t, got, v, "%s: kernel %d, Go %d", name, got, v)
	}
}
