// Package mediator is where a guest's access meets the device: domains and
// their vcoprocs, trap-and-emulate through the spec tables, the command
// scanner, context-switch orchestration, per-domain events and the watchdog.
//
// # One entry point per kind of access
//
// Every door — the paravirtual ring, vfio-user, an in-process call — ends in
// VCoproc.Access(offset, size, write, value) for registers and
// VCoproc.Submit(words) for command buffers. Access decodes the offset
// through spec.RegisterMap (one table lookup) and applies the register's
// access class:
//
//   - pass-through: to the backend's register file while the vcoproc owns
//     the device, to the vcoproc's saved copy otherwise; saved on every
//     switch-out and restored on every switch-in;
//   - emulated: the virtual register file, with the generic meaning the
//     spec's Role gives (ring pointers, status, interrupt mask);
//   - read-only, write-1-to-clear: as named; a write to a read-only
//     register is an error, not silently dropped, so a driver bug shows;
//   - doorbell: fetches the command ring now if the vcoproc owns the device,
//     else queues the kick and replays it at switch-in (Xen SCF's PowerVR
//     driver does the same) and tells the policy there is work;
//   - privileged: denied and counted.
//
// Errors name the vcoproc, the offset, the register and the reason, and wrap
// a sentinel for errors.Is. The success path takes a mutex and does not
// allocate (BenchmarkAccessEmulated).
//
// # Nothing runs unaudited
//
// Scan checks a whole buffer before any of it is queued: opcodes, operand
// counts, value limits, alignment, and that every byte every command will
// touch is mapped in the domain's own address space with the access it
// needs. DISPATCH argument blocks are read once and snapshotted into the
// shadow command, so the guest cannot change them after the audit (the
// reason GVT-g shadows command buffers). The backend executes the shadow and
// does every DMA through the domain's IOMMU context as well, so a buffer
// that the guest unmaps after the audit faults in that domain alone.
//
// # Switching
//
// Device.Step is the whole control loop of one device: ask the policy who
// runs and for how long, switch if that is someone else, run the backend for
// the slice, deliver the run's events, apply the watchdog. A switch follows
// Xen SCF: the outgoing vcoproc is asked to sleep (the backend may answer
// "not yet, retry in t", and is then run for t and asked again, up to a
// bound after which its job is reset so no domain can hold the device),
// its pass-through registers are saved, the IOMMU unit is pointed at the
// incoming domain's context, its registers and engine state are restored,
// and its queued kicks are replayed. Every switch is recorded in the
// device's trace.
//
// The states are Xen SCF's: sleeping (no work, or blocked on a WAIT until
// the next poll), waiting (work, no device), running, asked-to-sleep.
//
// # Time
//
// The mediator reads the injected clock and never sleeps. RunUntilIdle
// advances a virtual clock by the device time each step reports, which makes
// tests and the demo deterministic; Run paces the same steps against the
// real clock for the daemon, carrying a late timer's overshoot as credit
// (bounded) rather than losing it.
//
// # Decisions and steps
//
// A step runs the backend for at most MaxRun (1 ms), so that a vcoproc
// waking with a reservation takes the device within that; but a policy's
// decision stands for its whole slice, step after step, until the slice is
// used, its vcoproc runs dry, or another vcoproc wakes (step.go, lease), so
// a fair-share policy switches once a quantum, not once a step. A
// submission that finds the runner asleep steps the device itself on the
// submitting goroutine (inline.go), sparing a short call the hand-off.
//
// # Concurrency
//
// One mutex serializes the mediator. That is deliberate for now: a domain's
// iommu.Context is shared by its vcoprocs on every device and is not safe
// for concurrent use, and one lock keeps the invariants (a context is active
// on a unit only while its vcoproc owns the device) trivially true. When
// several devices must run in parallel, the lock splits per device, with a
// per-domain lock around the address space.
package mediator
