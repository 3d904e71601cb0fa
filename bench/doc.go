// Package bench is coprocd's benchmark harness: workload scenarios declared
// in YAML, run under several scheduling policies side by side (a
// shoot-out), measured, and reported as tables, Markdown, JSON, CSV and
// pictures. Integrators size an ECU with it, cloud operators pick a policy
// with it, researchers compare schedulers with it; every performance
// statement about the schedulers comes out of it.
//
// # Scenarios
//
// A scenario file (scenario.go; the shipped ones in scenarios/, embedded so
// that "coprocd bench automotive" works from any directory) declares the
// devices and their costs (switch cost, preemption granularity), the
// domains with their scheduling parameters (weight, priority, share,
// reservation) and workloads (periodic with deadline, saturating closed
// loop, Poisson, on/off bursts), random task sets (UUniFast), the horizon,
// the seed and the default shoot-out. Parsing is strict in the manner of
// the daemon's configuration: unknown keys, keys a workload type does not
// read, durations without a unit and impossible values are errors with the
// line and the reason, and whatever parses is accepted by the simulator
// (FuzzParse checks that), so a run never fails later on an error without
// a line. Durations may be written as frequencies ("60Hz"), and stop
// instants as a share of the horizon ("50%"), so that a scenario keeps its
// meaning when the horizon is changed on the command line.
//
// # Runs
//
// Simulate builds the scenario once (task sets drawn from the seed, so all
// policies see the same set) and runs it in the deterministic simulator
// under each policy of the table in policies.go — ours (EDF/CBS and fixed
// priority composed with weighted fair share, fair and fixed share) and
// the anchors' replicas (Xen SCF rrobin, GVT-g, NVIDIA's three, AMD GIM).
// Runs go in parallel (they share nothing), and the report depends only on
// the scenario, the policies and the seed, never on the wall clock or the
// parallelism: the same inputs write the same bytes. A progress bar
// appears on a terminal when a shoot-out outlasts ProgressDelay; the
// simulator has no progress hook, so it advances per policy.
//
// Live runs the same scenario through the whole stack in real time
// (live.go): per policy a daemon of its own (package daemon, in-process,
// a temporary runtime directory) with one reference GPU per scenario
// device, the domains created through its control API, and one guest
// process per domain (live_guest.go; the hidden "bench guest" command)
// replaying the domain's workload through package frontend. Each job is a
// real saxpy/FILL/FENCE job whose device time under the reference GPU's
// cost model is the job's execution time (live_job.go), checked by the
// guest. Response times come from the guests' CLOCK_MONOTONIC records;
// device time, switches and shares from the daemon's accounting, read at
// the run's start, at each domain's start and stop, and at the horizon.
// The report is filled by the same code as sim mode's. With "baseline:
// exclusive" a scenario's first domain per device also runs alone and the
// report gives the sharing overhead (the sharing scenario). Scenarios
// with FPGA or DSP devices are refused with ErrLiveUnavailable.
//
// # Metrics
//
// report.go defines them: per domain throughput, response-time percentiles
// (exact, nearest rank), deadline misses and their ratio, share of the
// device and of its busy time, service per weight and the ratio to the
// weighted share; per device utilization, switches and time lost to
// switching, Jain's index of service per weight over all domains and over
// the always-backlogged ones (the number a fair-share guarantee speaks
// of), and the utilization after the first domain goes idle.
//
// # What it does not do
//
// Sim mode's numbers are the simulator's: its model (simulator/doc.go)
// bounds what they mean. Live mode's are one real run's on the host at
// hand, with the reference GPU's costs rather than the scenario's (live.go
// lists what differs). Per-tenant switch costs (an FPGA's reconfiguration time
// depending on the bitstream) are not modelled: the device's switch cost is
// paid on every change of tenant.
package bench
