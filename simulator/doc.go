// Package simulator is coprocd's deterministic discrete-event simulator: it
// drives a scheduler.Policy and a device's cost model in virtual time, with
// seeded workload generators, and measures what each tenant got. It is the
// engine of the benchmark harness (one scenario, many policies, side by
// side) and of the policies' property tests (fairness, isolation, admission
// soundness), because it runs an hour of a busy device in about a second and
// gives the same answer, to the nanosecond and the byte, on every run.
//
// # Time
//
// Time is a time.Duration from 0 to the scenario's horizon; all arithmetic
// is on integer nanoseconds, so nothing is lost to rounding, and each
// device's time splits exactly into busy (a vcoproc's work ran), switching
// and idle: Busy + Switching + Idle = Span, and the service of a device's
// vcoprocs sums to its Busy. There are no goroutines and no wall clock;
// events sit in one binary heap ordered by (time, class, index, sequence):
// at one instant every job release comes before any device step, so a policy
// deciding at t knows all work released at t; ties within a class go by
// vcoproc or device index and then by the order of scheduling, which the
// same rule fixed earlier. The order is total, so a run is a function of the
// policy, the scenario and the seed.
//
// # Randomness
//
// Every vcoproc draws from its own PCG stream (math/rand/v2), keyed by the
// seed and an FNV hash of its name: adding, removing or reordering tenants
// does not change anyone else's arrivals or execution times. Generators are
// lazy (one pending release per vcoproc), so the heap holds a handful of
// events whatever the horizon.
//
// # Preemption and switching
//
// A job is a run of Exec nanoseconds of work cut into non-preemptible
// segments: the device can stop it only every Segment of its execution and
// at its end. A device's Costs.MaxNonPreemptible is its preemption
// granularity: a job segment longer than it is cut to it, and a job that
// names no segment gets it (0 on both means the work can stop anywhere).
//
// A decision runs the chosen vcoproc for its slice and stops at the first
// preemption point at or after the slice's end; the run may therefore
// overrun by up to one segment, and the policy's Charge is told the real
// run time, overrun included. Jobs of the same vcoproc follow one another
// within a slice without a new decision. The device asks the policy again
// when the run stops, when the vcoproc runs out of work (Charge, then Block,
// then Pick), and — unless the device sets NoWakePreemption, which is how the
// mediator's Step behaves today — when another vcoproc becomes runnable: the
// run is then cut at the next preemption point, which is what lets EDF and
// fixed priority preempt, and what the blocking term of their admission
// tests assumes. Wake is called when a vcoproc with no work gets a job, never
// for a vcoproc that already has work.
//
// Every change of the vcoproc whose context the device holds costs the
// device's SwitchCost, the first load included; a decision for the vcoproc
// already loaded costs nothing. A switch cannot be interrupted: a wake
// during it is answered by a new decision once it completes (the switch to a
// vcoproc that then does not run is still paid). Switch time is device
// time, not the vcoproc's: it is not charged to the policy, and appears as
// the device's Switching.
//
// A policy may idle the device with work pending (non-work-conserving
// policies): Idle with Until makes the device ask again at Until, or earlier
// if a vcoproc wakes; Idle without Until waits for a wake. A decision the
// simulator cannot carry out — a vcoproc without work or not on the device,
// a non-positive slice, an Until not in the future — ends the run with an
// error that names it, rather than being bent into something else.
//
// # Measurements
//
// Per vcoproc: service, jobs released/completed/pending, response times
// (completion − release; exact samples, nearest-rank percentiles), deadline
// misses (late completions and jobs still unfinished at the horizon with
// their deadline past) and lateness, share of the device and of its busy
// time, service per weight. Per device: busy, switching, idle, utilization,
// switches, decisions, and Jain's index of service per weight. With
// Scenario.RecordTrace, the trace of who held each device when, written by
// Result.WriteTrace as text with integer times, byte-for-byte identical for
// the same inputs; ServiceBetween, BusyBetween and MaxLag read windows and
// fair-queueing lag from it.
//
// # What it does not model
//
// The device runs one context at a time and executes work at a constant
// rate: no overlap of copy and compute, no caches or memory contention, no
// clock scaling, no dependence of switch cost on the amount of context
// saved. The policy's own decision time is free. There is no command
// submission path, no IOMMU, no register traffic and no watchdog: those are
// the mediator's and the reference GPU's, and the live path tests them. A
// job's segments are fixed by its spec, not discovered while it runs, and
// jobs of one vcoproc run in release order. Devices are independent: a
// vcoproc lives on one device and is never migrated. Workloads are open
// loops or single-job closed loops; they do not react to being served late
// (a periodic task releases its next frame on time even if the last one is
// still running).
package simulator
