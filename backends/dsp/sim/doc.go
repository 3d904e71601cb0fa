// Package sim is the reference DSP ("coprocd-refdsp", spec.ReferenceDSP) as
// a coproc.Backend: a deterministic model of a Hexagon-like DSP reached by
// remote procedure call, which the mediator, the schedulers and the
// benchmark harness are tested against on any machine.
//
// # What it models
//
// A DSP is shared by sessions, not by command rings: each vcoproc is one
// session (a FastRPC protection domain, with its own SMMU context bank), and
// a device holds a fixed number of them, spec.RefDSPMaxSessions (14, as
// FastRPC's FASTRPC_MAX_SESSIONS). Init takes the lowest free session and
// fails with ErrNoSession beyond the limit, naming the domains that hold
// them; Deinit frees it.
//
// Work is a job of commands, the scanner's shadow copy of a guest buffer.
// The one that matters is CALL: it invokes a service with an in buffer, an
// out buffer and an argument block (already snapshotted by the scanner).
// The services compute real results over float32 (FIR, FFT, Mix; see
// services.go) and are exported so that tests and benchmarks can run them
// bare. Every byte a call reads (in, FIR coefficients, mixer gains) or writes
// (out, FENCE, STORE_REG) goes through the IOMMU unit in front of the DSP,
// that is through the I/O address space of the session the mediator has
// activated; the out buffer is written all or nothing, so a call that faults
// leaves the guest's memory as it was. A DMA fault fails the job with the
// *iommu.Fault and the session goes on with its next job; no other session
// is involved.
//
// # No preemption inside a call
//
// A DSP cannot be preempted inside a remote call, so the host controls what
// it lets in instead. Enqueue is the admission point: it re-checks every
// command against the spec (privileged, unknown or over-limit commands are
// refused; the scanner makes that unreachable for guests, and the DSP
// still never trusts it), checks every CALL against its service (in_len and
// out_len must be what spec.RefDSPCallBuffers says; FIR taps and mixer
// channels at least one; FFT sizes powers of two), refuses a call whose cost
// exceeds Config.CallBudget (ErrOverBudget, with the call's cost and the
// budget), and bounds the queue (ErrQueueFull). A refused job is refused
// whole, before anything of it runs.
//
// Run checks its budget before every command and never inside one, so it
// overshoots the slice by at most one command; SwitchFrom therefore always
// succeeds at once (there is never a half-done call to drain). Caps reports
// coproc.CommandBoundary, the session switch cost, and MaxNonPreemptible =
// the costliest call the spec's limits allow, or the per-call budget when it
// is smaller: the blocking term the scheduler's guarantees must include.
//
// # Cost model
//
// Device time is counted in cycles (CostModel): a dispatch cost per CALL,
// ceil(bytes moved / BytesPerCycle) and ceil(MACs / MACsPerCycle), where a
// FIR does taps×samples MACs, an FFT 2·n·log2(n) (n/2·log2(n) butterflies of
// one complex multiply) and a mix channels×frames. Costs depend on the
// shadow command alone, so the budget check can be made before a call runs
// and the same jobs give the same Used, run after run.
//
// # Memory
//
// DeviceMemory is the DSP's TCM (spec.RefDSPTCMBytes in granules of
// spec.RefDSPTCMGranule), shared out among sessions by quota; a guest maps
// its share into its address space (AllocDeviceMemory) and names it in
// calls like any other buffer. iommu.DeviceMemory scrubs it when it is
// freed, so the next session never reads what the last one left there. The
// engine's own scratch (where a call's samples sit while it runs) is
// cleared on every switch, on Reset and on Deinit.
//
// The hardware register file holds the pass-through mailboxes MBOX0..3 (per
// session: the mediator saves and restores them), the privileged registers
// (CLOCK_CTRL, CONTEXT_BANK, RESET, POWER, TCM_CTRL) and the identification
// registers.
package sim
