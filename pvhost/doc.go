// Package pvhost is the daemon's end of the paravirtual protocol
// (spec/pv.go, docs/pv-protocol.md): it serves guests on a UNIX
// SOCK_SEQPACKET socket, one session per connection, each session being one
// domain's vcoprocs.
//
// # Identity
//
// A peer is identified by the kernel, not by anything it says: on accept
// the server reads SO_PEERCRED (pid, uid, gid) and asks the configured
// Resolver for the domain those credentials stand for. A peer that matches
// no domain gets a REJECT that names its credentials, and nothing is
// created. One domain has at most one session at a time.
//
// # Data path
//
// After the handshake, the guest's register accesses and submissions
// arrive on the request ring and end in the mediator's two entry points,
// VCoproc.Access and VCoproc.Submit (the one-model-many-doors rule of
// DESIGN.md): this package holds no policy. A guest may equally drive the
// device's own command ring in a buffer it mapped, with REG_WRITEs of the
// ring registers and the doorbell: that too is just Access.
//
// Each session has one goroutine on its rings. While there is work it
// polls (PollWindow after the last work); then it sets the request ring's
// event index, looks once more, and sleeps on the doorbell eventfd, so a
// busy guest pays no system call per request and an idle one costs no CPU.
// While answers wait for room in the response ring it serves no requests,
// so it then arms only the response ring's consumer event index: pending
// requests do not keep it awake. Sleeps are bounded (MaxSleep, growing to
// MaxIdleSleep while the guest stays silent); a sleep
// that times out although the guest moved past the event index the session
// set (published requests, or consumed responses while answers waited for
// room) and never kicked is a lost doorbell, counted (LostDoorbells) and
// logged with the rings' indexes and the eventfds' counters.
// Events from the mediator reach it through the vcoprocs' notifier
// (VCoproc.SetNotifier): a flag, and a kick of the same doorbell eventfd
// only while the session sleeps — so the events of its own submission's
// inline step cost no system call and wake no other thread. A notifier's
// kick lost while it slept is counted as a lost doorbell too. Events whose
// interrupt the guest masked notify the session as well (they raise no
// interrupt in the vcoproc, but the guest still reads them from its ring;
// whether it is woken for them is its own event index's say). While jobs
// are in flight it also collects events every EventPoll (100 ms), a bound
// on what a lost notification would cost.
//
// With DomainConfig.PredictivePoll a session learns the rhythm of its
// guest's requests and is polling when the next is due instead of
// sleeping until the doorbell (predict.go).
//
// # Guests that misbehave
//
// The rings are shared memory the guest can scribble on at any time, so
// the session keeps its own copy of every index it owns, validates every
// index the guest writes, and copies each message out before decoding it
// (package pvwire). A framing error (an index that jumps or goes
// backwards, a message that claims impossible slots) ends the session with
// a GOODBYE that says why; a payload that does not match its layout, an
// unknown type, a bad device index, a refused access or submission gets an
// error RESULT with the reason (the mediator's own text) and the session
// goes on. A guest that stops consuming its responses is not served new
// requests; events for it queue up to MaxPending or StallTimeout, after
// which it is disconnected. Guest buffers must be memfds sealed against
// shrinking, so that the guest cannot truncate memory the host has mapped
// (which would kill the daemon with SIGBUS).
//
// # The end of a session
//
// When the guest closes its socket, dies, says GOODBYE, or is disconnected,
// the session detaches the vcoprocs it attached (aborting their jobs and
// scrubbing and freeing their device memory) or destroys the domain it
// created, unmaps every buffer from the domain's address space before it
// unmaps it from the host, and closes its rings. Other sessions are not
// touched: each has its own goroutines, rings and domain.
package pvhost
