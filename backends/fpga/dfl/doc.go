// Package dfl speaks Linux's Device Feature List FPGA interfaces, the
// kernel side of Intel's PAC/N3000/N6000 cards and other DFL FPGAs, through
// golang.org/x/sys/unix only:
//
//   - enumeration through sysfs (Enumerate): /sys/class/fpga_region/*, the
//     dfl-fme.N and dfl-port.N feature devices under them, the PR
//     interface id a bitstream must match (compat_id of the FME's PR
//     region, or the older pr/interface_id), each port's afu_id, and
//     /sys/class/fpga_manager/*/state;
//   - partial reconfiguration (FMEDevice.PortPR, DFL_FPGA_FME_PORT_PR) of a
//     green bitstream (ParseGBS: OPAE's GBS header and JSON metadata),
//     refused before the ioctl when its interface id is not the region's;
//   - the port (PortDevice): reset between tenants, port and region info,
//     mmap of the AFU's MMIO, DMA map/unmap of pinned, page-aligned
//     buffers into the port's IOMMU domain, and error and user interrupts
//     delivered on eventfds.
//
// The ioctl numbers and structs are restated in uapi.go; a cgo test
// (internal/uapicheck, compiled only into tests) checks every number, size
// and offset against linux/fpga-dfl.h from linux-libc-dev, so a mistake
// there fails the build's tests rather than a customer's card.
//
// This package is the edge: it does I/O and holds no policy. coprocd's
// FPGA backend on real hardware keeps the reference model's split: the
// guest names an accelerator from the host's library, the host checks and
// loads its GBS with PortPR, resets the port on every change of tenant,
// and maps each tenant's buffers with DMAMap.
package dfl
