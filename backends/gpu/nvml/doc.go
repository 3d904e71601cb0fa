// Package nvml brings real NVIDIA GPUs into coprocd through NVML
// (github.com/NVIDIA/go-nvml): discovery, MIG partitioning, the vGPU
// scheduler, and per-domain accounting with an enforcement policy. It is a
// library the daemon configures; nothing here starts goroutines or reads a
// clock.
//
// # How it relates to the mediator
//
// The reference GPU (backends/gpu/sim) is a coproc.Backend: the mediator
// traps every register access, scans every command buffer, and
// time-slices the engine itself. A real NVIDIA GPU cannot be mediated at
// that level here — its register interface is the proprietary driver's,
// and CUDA programs talk to the driver through ioctls on /dev/nvidia*.
// So this package does not implement coproc.Backend. It is a different kind
// of device for coprocd: partitioned or time-sliced by the driver,
// configured and accounted by coprocd.
//
//   - Partitioning is the driver's: a vcoproc given a MIG profile gets a
//     GPU instance (its own SMs, L2 slices and memory) and one compute
//     instance spanning it; a vcoproc given a time-slice profile shares a
//     whole GPU, which the driver time-slices among CUDA contexts (and,
//     on a vGPU host, among VMs with the vGPU scheduler's policy).
//   - Isolation of access is coprocd's: an Allocation lists exactly the
//     device nodes its domain needs, and the daemon grants those and no
//     others to the domain's cgroup (isolation/cgroupdev).
//   - Accounting is coprocd's: Sample reads per-process memory and
//     utilization from NVML, Aggregate sums them per domain with the
//     daemon's pid → domain mapping (the daemon finds a pid's domain by its
//     cgroup and exports the sums as Prometheus metrics).
//   - Enforcement is coprocd's, and reactive: see below.
//
// # Discovery and profiles
//
// Open initializes NVML and reads each GPU: UUID, name, device minor, PCI
// identity, memory, MIG capability and mode (current and pending), and the
// vGPU scheduler's capabilities where the driver offers them (vGPU host
// mode; otherwise GPU.SchedulerErr wraps ErrNotSupported). A profile is a
// named share of one GPU: on a GPU with MIG enabled, the MIG profiles the
// driver reports, named as nvidia-smi names them ("3g.20gb": slices and
// memory rounded up to GiB, "+me" for the media-extension variants), with
// their possible placements; on a GPU without MIG, time-slice profiles
// "ts-1/d" (1/d of the GPU's time and memory; d from
// Options.TimeSliceDivisors).
//
// # MIG instances and their device nodes
//
// Allocate on a MIG profile picks the first placement that overlaps no
// existing GPU instance (it lists the device's instances, including those
// another agent made), creates the GPU instance there, then the largest
// compute instance the GI offers; if the CI cannot be made the GI is
// destroyed again. Release destroys the CI and the GI; the driver refuses
// with ERROR_IN_USE while a process still runs in it, and the allocation
// then stays so that the caller can stop the domain and retry.
//
// The nodes of a MIG allocation are the GPU's own (/dev/nvidiactl 195:255,
// /dev/nvidiaN 195:N with N the GPU's minor, /dev/nvidia-uvm and
// /dev/nvidia-uvm-tools with the nvidia-uvm major from /proc/devices) plus
// two capability nodes: /dev/nvidia-caps/nvidia-capM for the GPU
// instance's access capability and for the compute instance's. M is read
// from the driver's own table, /proc/driver/nvidia-caps/mig-minors, whose
// lines are "gpu<N>/gi<G>/access <M>" and "gpu<N>/gi<G>/ci<C>/access <M>"
// (N the parent GPU's device minor); the major is "nvidia-caps" in
// /proc/devices. coprocd does not compute M from a formula: the table is
// the driver's interface, and when it is missing (no MIG support loaded)
// Allocate fails with that reason and rolls back. (The MIG user guide's
// example shows config 1, monitor 2 and nine minors per GPU instance —
// gpu0/gi1/access 12, gpu0/gi1/ci0/access 13 — and the test fixture
// follows that layout; nothing depends on it.)
//
// # Time-slicing and the vGPU scheduler
//
// Time-slice allocations are bookkept exactly (shares in units of 1/40320
// of a GPU, so 1/2 + 1/4 + 1/4 fills it) and refused beyond a whole GPU.
// Outside a vGPU host the driver's time-slicing among CUDA contexts has no
// knobs: the share is what coprocd accounts and enforces against. On a
// vGPU host, SchedulerState and SetSchedulerState read and set the vGPU
// scheduler: policy (best effort, equal share, fixed share), adaptive
// round-robin (ARR) with its frequency and averaging factor, or a fixed
// time slice. A requested state is validated against the capabilities
// (policy offered, values in range) before it reaches the driver; on a
// device or driver without the scheduler the error wraps ErrNotSupported
// and names the NVML call.
//
// # What coprocd enforces and what it only observes
//
// Enforced by hardware, set up by coprocd: a MIG allocation's memory and
// SMs (a process in a GI cannot allocate beyond the GI's memory or use
// other SMs); access to device nodes (the cgroup device filter: a domain
// cannot open another domain's GPU or MIG instance at all).
//
// Observed, then acted on by coprocd, reactively: a time-slice
// allocation's memory and SM share. NVML reports usage after the fact,
// once per accounting period; a process can allocate past its quota
// between two samples, and NVML cannot preempt or shrink a CUDA context.
// The Enforcer compares each period's DomainUsage with the domain's Quota
// and applies the operator's action:
//
//   - warn: report (Hooks.Warn: log, metric, event). Always done.
//   - throttle (SM share only): the daemon freezes the domain's cgroup for
//     Violation.PauseFraction = 1 - limit/used of the next period. Frozen
//     processes submit no new GPU work; kernels already queued finish.
//     This bounds the average share over periods, not the instantaneous
//     one. Memory cannot be throttled (a frozen process keeps its memory),
//     so SetQuota refuses throttle as a memory action.
//   - stop: the daemon kills the domain's offending processes
//     (Hooks.Stop with Violation.PIDs); the driver frees the context's
//     memory and engine time when the process dies. This is the only
//     way to take a GPU back from a CUDA process.
//
// Quota.Grace tolerates that many consecutive over-quota samples before
// throttle or stop (warn applies at once), so one noisy sample does not
// kill a tenant. Unlike LD_PRELOAD CUDA hooks (HAMi), nothing here runs
// inside the tenant's process, so it cannot be bypassed by the tenant —
// but it is also not a hard limit: the hard limits are MIG and the device
// filter.
//
// # Errors
//
// Every failed NVML call is an *Error naming the call, the GPU and the
// return code by name (nvml.ErrorString, e.g. ERROR_INSUFFICIENT_RESOURCES),
// and unwrapping to the nvml.Return for errors.Is.
//
// # Build
//
// go-nvml uses cgo and loads libnvidia-ml.so.1 with dlopen at nvml.New()'s
// Init, so the daemon needs a C toolchain to build but no NVIDIA library
// to build or to run without GPUs. Tests use go-nvml's mock DGX A100
// (pkg/nvml/mock/dgxa100), filling in the calls it does not mock.
package nvml
