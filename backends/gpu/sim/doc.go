// Package sim is the reference GPU ("coprocd-refgpu", spec.ReferenceGPU) as
// a coproc.Backend: a deterministic model of one compute engine behind an
// IOMMU, which the mediator, the schedulers and the benchmark harness are
// developed and tested against on any machine.
//
// # What it models
//
// One engine runs the jobs of one context at a time. A job is the command
// scanner's shadow copy of a guest command buffer; the engine executes it
// command by command and never reads the guest's buffer again (DISPATCH takes
// its kernel arguments from the snapshot in spec.Command.Args). Every byte
// the engine reads or writes in guest memory goes through the IOMMU unit in
// front of it (IOMMU()), that is through the I/O address space of the domain
// the mediator has activated on it: FENCE, COPY (memmove semantics, in 64 KiB
// chunks), FILL, WAIT, STORE_REG and the kernels. The kernels compute real
// float32 results: saxpy, sgemm (row-major, workgroup g computes row g of C),
// reduce_sum (a tree reduction in local memory per workgroup of 64 lanes,
// added into out) and local_read (which copies local memory out as it is).
// Products are rounded to float32 before they are added, so that results are
// bit-identical on every architecture.
//
// A DMA fault (a buffer unmapped after the audit, say) aborts the job with an
// EventJobFailed carrying the *iommu.Fault, and the context goes on with its
// next job; other contexts are not involved. A command the scanner should
// have refused (privileged, unknown, over a limit) fails its job the same way
// with ErrBadCommand: the engine re-checks every shadow command against the
// spec and never panics on one.
//
// The hardware register file holds the spec's pass-through registers
// (USER0..7, per context) and privileged registers (CLOCK_CTRL, PT_BASE,
// RESET, POWER) with their reset values and write masks, plus the
// identification registers (ID, VERSION, CAPS, read-only). Switching does not
// touch it: the mediator saves the pass-through registers of the outgoing
// context and restores those of the incoming one with ReadReg and WriteReg,
// and it must restore all of them for nothing to leak between contexts.
//
// # Cost model
//
// Run consumes device time as the CostModel says, in cycles of ClockHz
// (default 1 GHz: a cycle is a nanosecond): an issue cost per command, a
// launch cost per workgroup (also for workgroups beyond the data, which do
// nothing else), a poll cost each time a WAIT reads its word, and for data
// ceil(bytes / BytesPerCycle) + ceil(flops / FlopsPerCycle), rounded once per
// command or per workgroup. Costs depend on the shadow command only, so the
// same jobs under the same budgets give the same Used, run after run: the
// discrete-event simulator relies on it.
//
// # Preemption and switching
//
// Run checks its budget before every command and before every workgroup of a
// DISPATCH, and stops at the first such point where the budget is used up
// (Preempted), so a run overshoots its budget by at most one command or one
// workgroup. A WAIT whose condition is false ends the run (Blocked) after
// one poll.
//
// With coproc.Workgroup preemption (the default) SwitchFrom always succeeds:
// the position inside the job (command, and workgroup inside a DISPATCH) is
// the context's saved state, and the next SwitchTo resumes it. With
// coproc.CommandBoundary preemption a DISPATCH, once launched, must finish on
// the engine: SwitchFrom on a context stopped between two of its workgroups
// returns retry = the device time of the remaining workgroups (Xen SCF's "not
// yet, retry in t"), and the caller runs the context that long before asking
// again. Caps reports the switch cost (SwitchCycles) and the longest segment
// that cannot be preempted under the spec's limits (GPU.Caps gives the
// formula).
//
// # Local memory
//
// Workgroups share RefGPULocalMemoryBytes of local memory. Real GPUs leave it
// uninitialized, and the LeftoverLocals attack (CVE-2023-4969) reads what the
// previous kernel, possibly another tenant's, left there. The reference GPU
// clears it at every DISPATCH launch, on every switch and on Reset, so a
// local_read kernel (the attack's listener) always reads zeros; the tests
// prove it across contexts.
package sim
