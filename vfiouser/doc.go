// Package vfiouser exposes a vcoproc to a virtual machine as a PCI device
// over vfio-user, the protocol of QEMU's docs/interop/vfio-user.rst (clients:
// QEMU 10.1 and later as -device vfio-user-pci, cloud-hypervisor as
// --user-device). It is the door for unmodified guest drivers: the VMM traps
// the guest's BAR accesses and forwards them here, and they end in the same
// VCoproc.Access every other door uses.
//
// It is a package of its own because it is a transport: it holds no policy,
// only the protocol, and the daemon wires one Server per exposed vcoproc
// (NewServer, Serve on a listening AF_UNIX socket, Close).
//
// # One file per concern
//
//   - wire.go: the header, command numbers, payload layouts, and the decoder
//     (DecodeHeader/DecodeMessage, the fuzz target's subject). Sizes are
//     checked against the limit before anything is allocated.
//   - conn.go: framing on the socket. A message is read as exactly its
//     header, then exactly its payload, so descriptors (SCM_RIGHTS) always
//     belong to the message being read; more than max_msg_fds is refused
//     and all of them are closed. An oversized message is discarded in
//     bounded pieces and refused with E2BIG, and the stream stays in step.
//   - session.go: the read loop, the table of handlers, error replies
//     (header only, Error flag, errno), and server-to-client requests.
//   - version.go: negotiation; pci.go: the emulated config space (a byte
//     image with a write mask, so BAR sizing and read-only fields need no
//     code) and the MSI-X table; region.go: region I/O; irq.go: interrupts;
//     dma.go: DMA map/unmap and guest memory access.
//
// # The device
//
// Region 7 is a 256-byte conventional config space: IDs from the spec (see
// DefaultIdentity), a class code from the device class, the command
// register (memory, bus master, INTx disable), one capability: MSI-X with
// one vector, its table at BAR1+0 and its PBA at BAR1+0x800. BAR0 is the
// spec's register window, rounded up to a power of two of at least a page.
// An access of 1, 2, 4 or 8 bytes is one VCoproc.Access; a longer one is
// split at the spec's register boundaries after the whole split has been
// checked, so a refused access touches nothing. A refused access answers
// with an errno (EPERM for a privileged register, EACCES for a write to a
// read-only one, EINVAL for anything the register map does not decode).
//
// No region is mappable and no sparse-mmap capability is offered. Every
// register of the reference GPU must be trapped: the doorbell kicks the
// mediator's fetch and audit, ring and interrupt registers are emulated,
// pass-through registers are per-context and live in the hardware only
// while the vcoproc owns the device (a mapping would reach whichever
// context owns it), and privileged ones are denied. A page that mixed any of
// these with a directly mapped register would bypass the mediator. Device
// memory gets no BAR either: the mediator maps a domain's device memory
// into its I/O address space (VCoproc.AllocDeviceMemory) and offers no way
// to reach it by offset from outside, so a BAR for it could only be a copy.
//
// # DMA
//
// A DMA_MAP with a descriptor is mmapped (MAP_SHARED) and entered into the
// domain's IOMMU context with Domain.Map at its DMA address, so jobs reach
// guest memory through the context like every other DMA. A DMA_UNMAP
// removes it from the context (which invalidates the IOTLB) and munmaps it
// before the reply. A map without a descriptor is recorded but not entered
// into the context: the mediator's jobs touch memory synchronously while
// they run, under the mediator's lock, through the context's pages, and
// cannot stop mid-command to send a DMA_READ and wait for the client. A job
// whose commands name such a region is refused by the scanner (not mapped)
// or faults, in this domain only. The server itself can still reach such
// regions with ReadGuest/WriteGuest, which send VFIO_USER_DMA_READ/WRITE.
//
// # Interrupts
//
// INTx (automasked, maskable) and MSI-X (one vector, maskable) take
// eventfds through SET_IRQS. A goroutine waits on VCoproc.Notify, drains
// the vcoproc's events (handing them to Options.OnEvents), and signals the
// MSI-X eventfd when one is set, else the INTx one; a masked interrupt
// stays pending (and shows in the PBA) until unmasked.
//
// # Disconnects and reset
//
// When the client goes, its DMA regions leave the IOMMU context and are
// unmapped, its eventfds are closed, and Options.OnDisconnect runs; the
// rest of the device state stays for a reconnecting client, as the spec
// asks. DEVICE_RESET resets the PCI state and runs Options.OnReset, where
// the daemon resets the vcoproc (the mediator has no reset of its own yet).
package vfiouser
