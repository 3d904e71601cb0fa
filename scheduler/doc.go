// Package scheduler holds the policies that decide which vcoproc owns a
// physical coprocessor and for how long, and their admission control.
//
// A Policy is a pure state machine in the manner of etcd's raft: the caller
// tells it what happened (a vcoproc became runnable, blocked, ran for so
// long) and asks it what to do next (Pick). It has no goroutines, never
// sleeps and never reads a clock: every method is handed the current instant.
// The same policy code therefore runs inside the daemon, against the real
// clock, and inside the discrete-event simulator, against a virtual one, and
// a test can drive a million decisions in a second. Given the same calls,
// every policy makes the same decisions (ties are broken by ID, never by map
// order).
//
// Params carries weights, fixed shares, priorities and real-time
// reservations (budget, period, deadline); Costs carries what the device
// declares about preemption (the longest non-preemptible segment, the
// blocking term of the analyses) and switching. Admission control of the
// reserving policies accounts both and refuses, with an AdmissionError that
// names the numbers, what it cannot guarantee.
//
// # Policies
//
//	policy (constructor)        params read            guarantee                                         work-cons.  decision
//	rrobin (NewRoundRobin)      —                      wait ≤ (n−1)(slice+B+C); one slice per round       yes         O(1) / O(n) rotate
//	wfair (NewWeightedFair)     Weight                 |S_i/w_i − S_j/w_j| ≤ q'/min(w_i,w_j), q'=q+B       yes         O(log n)
//	equal-share (NewEqualShare) —                      |S_i − S_j| ≤ q + B                                 yes         O(log n)
//	fixed-share (NewFixedShare) Share                  ≥ s·Frame per frame, held when idle;                no          O(log w)
//	                                                   admit Σ(s·F + C + B) ≤ F
//	edf (NewEDF)                Budget,Period,Deadline  CBS: Q before each server deadline; overrun       no (hard)   O(log n)
//	                                                   throttled to Q/T; admit ΣQ/D ≤ 1 − Σ2C/D − B/minD
//	fixed-priority              Priority,Budget,Period, Q within D of each period (deferrable server);    yes below   O(log n)
//	  (NewFixedPriority)        Deadline               admit by response-time analysis with B and 2C      budgets
//	arinc653 (NewARINC653)      — (static windows)     ≥ Duration − C − B per window, never outside it   no          O(log w)
//	hier(…) (NewHierarchical)   by Reserved(Params)    the reserving policy's, unchanged; best effort    as BE       sum
//	                                                   shares the rest
//	gvt-g (NewGVTg)             Weight 1–16            replica of i915 GVT-g: 1 ms tick, 100 ms balance  no          O(n)
//	nvidia-* (NewNVIDIAShare)   —                      replicas: best effort / equal share / fixed share  BE only     O(1)
//	amd-gim (NewAMDGIM)         —                      replica: 6 ms round-robin                         yes         as rrobin
//
// B is Costs.MaxNonPreemptible, C is Costs.SwitchCost, q a quantum, n the
// runnable vcoprocs, w the windows. Each type's doc comment states its
// guarantee precisely, with its assumptions.
//
// # Preemption
//
// A policy cannot interrupt a running slice; the driver (mediator, simulator)
// runs the slice and Charges what ran, up to MaxNonPreemptible beyond it.
// The real-time guarantees assume that when a vcoproc wakes while another's
// slice runs, the driver stops that slice at the next preemption point and
// Picks again; the blocking term B covers exactly that one non-preemptible
// segment. The reserving policies also cut their slices at the next budget
// replenishment or window boundary, so time-driven preemption needs nothing
// from the driver.
//
// # Switching policies at run time
//
// Every policy implements Enumerable; Migrate hands the admitted vcoprocs,
// their Params and their runnable state to a fresh policy, which applies its
// own admission control. A refused hand-over leaves the running policy as it
// was. Accounting history does not cross over.
package scheduler
