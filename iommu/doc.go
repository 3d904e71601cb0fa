// Package iommu gives every domain its own I/O address space and its own
// slice of device memory. It is the only path by which a device model in
// coprocd touches guest memory: a backend that performs DMA does it through
// the owning domain's Context (usually via the Unit in front of the device),
// and a command scanner asks the same Context whether every buffer a command
// names is mapped before anything runs.
//
// # Address spaces
//
// A Context is one domain's I/O virtual address (IOVA) space. It is built the
// way the x86 VT-d and Arm SMMU second-stage tables are: a radix tree of four
// levels of 512 entries each (9 bits per level) above a 12-bit page offset,
// for a 48-bit IOVA. Leaves hold a pointer to a 4 KiB host page and its
// permission. Map enters host memory into the space without copying it, so a
// device write lands in the very bytes the caller passed; Unmap removes pages
// and frees table nodes that become empty (keeping a few for reuse, so that a
// map/unmap churn of single pages does not allocate).
//
// A real table rather than a Go map is used because it is what the hardware
// does, because ranges (Mappings, Unmap of a large run) walk it in address
// order, and because a walk costs a bounded four pointer loads. In front of
// the table sits a small direct-mapped IOTLB, tagged by page number, filled
// on a miss and invalidated precisely for every page Unmap removes (and
// wholesale by UnmapAll). A translation that hits the IOTLB costs a few
// nanoseconds and never allocates; the benchmarks in this package hold that
// claim against a baseline measured in the same run.
//
// # All or nothing
//
// A DMA that runs past the end of a mapping, or into a page without the
// needed permission, must not move a single byte: a half-done write is a
// corruption the guest cannot see coming, and a half-done read can leak data
// into a buffer the device then hands on. Read, Write and the fixed-size
// ReadU32/ReadU64/WriteU32/WriteU64 therefore translate and check every page
// of the range before copying anything. Check applies the same test without
// moving data and without recording a fault, for scanners that vet a command
// buffer up front.
//
// # Faults
//
// A failed translation is returned as a *Fault naming the domain, the IOVA,
// the access and the reason (ErrNotMapped, ErrPermission, ErrOutOfRange or,
// through a Unit with no active context, ErrNoContext); errors.Is and
// errors.As work on it. The Context also keeps the most recent faults in a
// bounded ring (Faults) and counts them all (Stats), so that a fault is
// delivered to the domain that caused it and to no other.
//
// # The unit that moves with the device
//
// A Unit is the physical IOMMU in front of one device. As in the Shared
// Coprocessor Framework proposed for Xen, the scheduler swaps the active
// context when it swaps the device's owner (Activate, Deactivate); DMA issued
// through the Unit uses whichever context is active, and with none active it
// faults with ErrNoContext instead of reaching anyone's memory.
//
// # Device memory
//
// DeviceMemory partitions a device's own memory (VRAM) among domains with
// per-domain quotas. Allocations are granule-aligned runs taken first-fit
// from a free list that coalesces neighbours. Freed memory is scrubbed to
// zeros before it returns to the free list, so the next owner can never read
// what the previous one left behind (the LeftoverLocals class of leak,
// CVE-2023-4969). A guest reaches an Allocation only by having it mapped into
// its Context.
//
// # Concurrency
//
// Everything here is a plain data structure: no goroutines, no locks, no
// clock. None of Context, Unit or DeviceMemory is safe for concurrent use;
// the mediator, which owns them, serializes access. Keeping locks out keeps
// the translation path at a few nanoseconds and lets the same code run in
// the daemon and in the deterministic simulator.
package iommu
