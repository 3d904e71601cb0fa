// Package frontend is the guest side of coprocd's paravirtual driver: a Go
// package a guest program imports to reach its virtual coprocessors
// through the daemon's host endpoint (package pvhost), over the protocol
// of spec/pv.go and docs/pv-protocol.md.
//
//	c, err := frontend.Dial("/run/coprocd/pv.sock", frontend.Options{})
//	gpu := c.Devices()[0]
//	buf, err := c.Alloc(ctx, 4096, spec.PVPermReadWrite)   // shared memory, mapped for the device
//	job, err := gpu.Submit(ctx, spec.Encode(nil, spec.OpFill, buf.IOVA, 1024, 7))
//	err = gpu.WaitJob(ctx, job)
//	v, err := gpu.ReadReg(ctx, spec.RegFence, 8)
//
// The data path is two rings in shared memory: a register access or a
// submission is a few memory writes, and a system call (an eventfd write)
// only when the host sleeps, which the host says through its event index.
// A waiting call polls the response ring for SpinWait and then sleeps on
// the interrupt eventfd, so a busy guest pays no system call per round
// trip and an idle one no CPU.
//
// With Options.HybridWait a kind of wait whose length has been steady (a
// long call, made again and again) sleeps on a timer until shortly before
// its answer is due and polls the rest, hiding the wake-up of a sleeping
// thread in the call; one due within a few hundred microseconds polls
// through. It is off by default: the poll costs a CPU that, on a small
// machine, the host needs (hybridwait.go has the figures).
//
// A Conn is safe for concurrent use. Calls share the rings; among the
// goroutines waiting for answers one at a time is the receiver that polls
// or sleeps, and hands results to the others. Context cancellation wakes a
// sleeping receiver through its own eventfd.
//
// Sleeps are bounded (MaxSleep), so a notification lost by either side
// costs milliseconds, not a hang; the loss is still counted and described
// (LostWakeups, LostWakeupReports: the rings' indexes and the eventfds'
// counters when it was found), and the host counts its own
// (pvhost.Server.LostDoorbells). TestNoLostWakeups fails when either moves.
//
// Buffers are memfds sealed against shrinking and growing (the host refuses
// any other memory, so that a guest cannot pull pages out from under the
// daemon) and passed to the host with SCM_RIGHTS. The host maps them into
// the domain's I/O address space at the buffer's IOVA with the permission
// asked for; device writes land in Buffer.Bytes.
//
// Package frontend/cheader generates the C header of the same protocol, and
// frontend/c holds a C program that speaks it: the proof that the protocol
// is not Go-only.
package frontend
