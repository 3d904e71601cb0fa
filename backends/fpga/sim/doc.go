// Package sim is the reference FPGA ("coprocd-reffpga", spec.ReferenceFPGA)
// as a coproc.Backend: a deterministic model of a card with partial-
// reconfiguration regions, a bitstream cache, on-board DDR and a DMA engine
// behind an IOMMU, which the mediator and the schedulers are tested
// against on any machine.
//
// # Accelerators
//
// A guest INVOKEs an accelerator of the host's library by id (the scanner
// audits the id and snapshots the argument block); it never supplies a
// bitstream. The accelerators compute real results through the IOMMU unit,
// that is through the address space of the domain the mediator activated:
// CRC-32 (hash/crc32), a FIR filter (int16 in, int64 out), AES-128-CTR
// (crypto/cipher) and an int32 matrix product. Buffers stream a 64 KiB
// chunk at a time, so a buffer unmapped after the audit faults the job of
// its own domain only (EventJobFailed with the *iommu.Fault), and the
// context goes on with its next job. The engine re-checks every shadow
// command and refuses privileged ones itself (ErrBadCommand).
//
// # Reconfiguration and its cost
//
// An INVOKE whose accelerator no region holds reconfigures the least
// recently used region first: ReconfigFixed + size ÷ ICAPBytesPerSecond
// (default 100 µs + the UltraScale+ ICAP, 6.4 Gb/s), after the bitstream is
// in the card's cache; one that is not costs FetchFixed + size ÷
// FetchBytesPerSecond more to bring in from the host's library. The cache
// keeps CacheEntries bitstreams (default 16, as AWS F1 keeps per slot) and
// evicts the least recently used. PREFETCH (a guest hint) and Prefetch (the
// host's call) start a fetch on the link to the host, which overlaps with
// the engine's work; a reconfiguration waits only for what is left of it. A
// guest's hint is dropped while another fetch is in flight, so no tenant
// can queue fetches in front of another's reconfiguration.
//
// The reconfiguration happens inside Run and is part of its Used: that is
// where it really happens, and it keeps the mediator's virtual time and the
// policy's accounting right without any change to the mediator (the tenant
// whose INVOKE needs the region pays for it in its slice). SwitchCostTo
// predicts the cost of handing the card to a context (switch plus the
// reconfiguration its next INVOKE needs): the hook a policy that avoids
// thrashing regions needs; docs/fpga.md proposes how the mediator would
// consult it. ReconfigStats counts resident hits, cache hits and misses,
// prefetches and the device time reconfiguration took.
//
// # Switching and isolation
//
// Preemption is at command boundaries: an invocation (and the
// reconfiguration before it) is never split, and Caps().MaxNonPreemptible
// is the costliest invocation after the costliest cold reconfiguration
// behind one fetch in flight. Run stops only between commands, so
// SwitchFrom never asks to retry. A switch to a context other than the last
// one to use the regions resets every region's port: accelerators keep no
// state across invocations, and none crosses tenants. The on-board DDR is
// an iommu.DeviceMemory, scrubbed when an allocation is freed. The
// hardware register file holds the pass-through USERn registers (saved and
// restored by the mediator) and the privileged PR/ICAP, isolation, reset,
// page-table, clock and cache registers, which no guest access reaches.
package sim
