//go:build linux && cgo

package uapicheck

/*
#include <linux/rpmsg.h>
#include <linux/remoteproc_cdev.h>
#include <misc/fastrpc.h>
*/
import "C"

import "unsafe"

// Available is true: the headers were compiled into this build.
const Available = true

// Constants returns every ioctl number and constant of the three headers,
// by the headers' own names, as the C compiler evaluated them.
func Constants() map[string]uint64 {
	return map[string]uint64{
		"RPMSG_ADDR_ANY":                C.RPMSG_ADDR_ANY,
		"RPMSG_CREATE_EPT_IOCTL":        C.RPMSG_CREATE_EPT_IOCTL,
		"RPMSG_DESTROY_EPT_IOCTL":       C.RPMSG_DESTROY_EPT_IOCTL,
		"RPMSG_CREATE_DEV_IOCTL":        C.RPMSG_CREATE_DEV_IOCTL,
		"RPMSG_RELEASE_DEV_IOCTL":       C.RPMSG_RELEASE_DEV_IOCTL,
		"RPROC_MAGIC":                   C.RPROC_MAGIC,
		"RPROC_SET_SHUTDOWN_ON_RELEASE": C.RPROC_SET_SHUTDOWN_ON_RELEASE,
		"RPROC_GET_SHUTDOWN_ON_RELEASE": C.RPROC_GET_SHUTDOWN_ON_RELEASE,
		"FASTRPC_IOCTL_ALLOC_DMA_BUFF":  C.FASTRPC_IOCTL_ALLOC_DMA_BUFF,
		"FASTRPC_IOCTL_FREE_DMA_BUFF":   C.FASTRPC_IOCTL_FREE_DMA_BUFF,
		"FASTRPC_IOCTL_INVOKE":          C.FASTRPC_IOCTL_INVOKE,
		"FASTRPC_IOCTL_INIT_ATTACH":     C.FASTRPC_IOCTL_INIT_ATTACH,
		"FASTRPC_IOCTL_INIT_CREATE":     C.FASTRPC_IOCTL_INIT_CREATE,
		"FASTRPC_IOCTL_MMAP":            C.FASTRPC_IOCTL_MMAP,
		"FASTRPC_IOCTL_MUNMAP":          C.FASTRPC_IOCTL_MUNMAP,
		"FASTRPC_IOCTL_INIT_ATTACH_SNS": C.FASTRPC_IOCTL_INIT_ATTACH_SNS,
		"FASTRPC_IOCTL_MEM_MAP":         C.FASTRPC_IOCTL_MEM_MAP,
		"FASTRPC_IOCTL_MEM_UNMAP":       C.FASTRPC_IOCTL_MEM_UNMAP,
		"FASTRPC_IOCTL_GET_DSP_INFO":    C.FASTRPC_IOCTL_GET_DSP_INFO,
		"FASTRPC_MAP_STATIC":            C.FASTRPC_MAP_STATIC,
		"FASTRPC_MAP_RESERVED":          C.FASTRPC_MAP_RESERVED,
		"FASTRPC_MAP_FD":                C.FASTRPC_MAP_FD,
		"FASTRPC_MAP_FD_DELAYED":        C.FASTRPC_MAP_FD_DELAYED,
		"FASTRPC_MAP_FD_NOMAP":          C.FASTRPC_MAP_FD_NOMAP,
		"FASTRPC_MAP_MAX":               C.FASTRPC_MAP_MAX,
		"FASTRPC_ATTR_SECUREMAP":        C.FASTRPC_ATTR_SECUREMAP,
		"FASTRPC_MODE_DEBUG":            C.FASTRPC_MODE_DEBUG,
		"FASTRPC_MODE_PTRACE":           C.FASTRPC_MODE_PTRACE,
		"FASTRPC_MODE_CRC":              C.FASTRPC_MODE_CRC,
		"FASTRPC_MODE_UNSIGNED_MODULE":  C.FASTRPC_MODE_UNSIGNED_MODULE,
		"FASTRPC_MODE_ADAPTIVE_QOS":     C.FASTRPC_MODE_ADAPTIVE_QOS,
		"FASTRPC_MODE_SYSTEM_PROCESS":   C.FASTRPC_MODE_SYSTEM_PROCESS,
		"FASTRPC_MODE_PRIVILEGED":       C.FASTRPC_MODE_PRIVILEGED,
	}
}

// Layouts returns the size of every struct of the headers ("struct name")
// and the offset of every field ("struct name.field"), as the C compiler
// laid them out.
func Layouts() map[string]uintptr {
	var ept C.struct_rpmsg_endpoint_info
	var ia C.struct_fastrpc_invoke_args
	var inv C.struct_fastrpc_invoke
	var ic C.struct_fastrpc_init_create
	var ad C.struct_fastrpc_alloc_dma_buf
	var mm C.struct_fastrpc_req_mmap
	var mp C.struct_fastrpc_mem_map
	var mu C.struct_fastrpc_req_munmap
	var mum C.struct_fastrpc_mem_unmap
	var cp C.struct_fastrpc_ioctl_capability
	return map[string]uintptr{
		"rpmsg_endpoint_info":      unsafe.Sizeof(ept),
		"rpmsg_endpoint_info.name": unsafe.Offsetof(ept.name),
		"rpmsg_endpoint_info.src":  unsafe.Offsetof(ept.src),
		"rpmsg_endpoint_info.dst":  unsafe.Offsetof(ept.dst),

		"fastrpc_invoke_args":        unsafe.Sizeof(ia),
		"fastrpc_invoke_args.ptr":    unsafe.Offsetof(ia.ptr),
		"fastrpc_invoke_args.length": unsafe.Offsetof(ia.length),
		"fastrpc_invoke_args.fd":     unsafe.Offsetof(ia.fd),
		"fastrpc_invoke_args.attr":   unsafe.Offsetof(ia.attr),

		"fastrpc_invoke":        unsafe.Sizeof(inv),
		"fastrpc_invoke.handle": unsafe.Offsetof(inv.handle),
		"fastrpc_invoke.sc":     unsafe.Offsetof(inv.sc),
		"fastrpc_invoke.args":   unsafe.Offsetof(inv.args),

		"fastrpc_init_create":         unsafe.Sizeof(ic),
		"fastrpc_init_create.filelen": unsafe.Offsetof(ic.filelen),
		"fastrpc_init_create.filefd":  unsafe.Offsetof(ic.filefd),
		"fastrpc_init_create.attrs":   unsafe.Offsetof(ic.attrs),
		"fastrpc_init_create.siglen":  unsafe.Offsetof(ic.siglen),
		"fastrpc_init_create.file":    unsafe.Offsetof(ic.file),

		"fastrpc_alloc_dma_buf":       unsafe.Sizeof(ad),
		"fastrpc_alloc_dma_buf.fd":    unsafe.Offsetof(ad.fd),
		"fastrpc_alloc_dma_buf.flags": unsafe.Offsetof(ad.flags),
		"fastrpc_alloc_dma_buf.size":  unsafe.Offsetof(ad.size),

		"fastrpc_req_mmap":          unsafe.Sizeof(mm),
		"fastrpc_req_mmap.fd":       unsafe.Offsetof(mm.fd),
		"fastrpc_req_mmap.flags":    unsafe.Offsetof(mm.flags),
		"fastrpc_req_mmap.vaddrin":  unsafe.Offsetof(mm.vaddrin),
		"fastrpc_req_mmap.size":     unsafe.Offsetof(mm.size),
		"fastrpc_req_mmap.vaddrout": unsafe.Offsetof(mm.vaddrout),

		"fastrpc_mem_map":          unsafe.Sizeof(mp),
		"fastrpc_mem_map.version":  unsafe.Offsetof(mp.version),
		"fastrpc_mem_map.fd":       unsafe.Offsetof(mp.fd),
		"fastrpc_mem_map.offset":   unsafe.Offsetof(mp.offset),
		"fastrpc_mem_map.flags":    unsafe.Offsetof(mp.flags),
		"fastrpc_mem_map.vaddrin":  unsafe.Offsetof(mp.vaddrin),
		"fastrpc_mem_map.length":   unsafe.Offsetof(mp.length),
		"fastrpc_mem_map.vaddrout": unsafe.Offsetof(mp.vaddrout),
		"fastrpc_mem_map.attrs":    unsafe.Offsetof(mp.attrs),
		"fastrpc_mem_map.reserved": unsafe.Offsetof(mp.reserved),

		"fastrpc_req_munmap":          unsafe.Sizeof(mu),
		"fastrpc_req_munmap.vaddrout": unsafe.Offsetof(mu.vaddrout),
		"fastrpc_req_munmap.size":     unsafe.Offsetof(mu.size),

		"fastrpc_mem_unmap":          unsafe.Sizeof(mum),
		"fastrpc_mem_unmap.vesion":   unsafe.Offsetof(mum.vesion),
		"fastrpc_mem_unmap.fd":       unsafe.Offsetof(mum.fd),
		"fastrpc_mem_unmap.vaddr":    unsafe.Offsetof(mum.vaddr),
		"fastrpc_mem_unmap.length":   unsafe.Offsetof(mum.length),
		"fastrpc_mem_unmap.reserved": unsafe.Offsetof(mum.reserved),

		"fastrpc_ioctl_capability":              unsafe.Sizeof(cp),
		"fastrpc_ioctl_capability.domain":       unsafe.Offsetof(cp.domain),
		"fastrpc_ioctl_capability.attribute_id": unsafe.Offsetof(cp.attribute_id),
		"fastrpc_ioctl_capability.capability":   unsafe.Offsetof(cp.capability),
		"fastrpc_ioctl_capability.reserved":     unsafe.Offsetof(cp.reserved),
	}
}
