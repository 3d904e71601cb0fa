package pvhost

import (
	"time"

	"github.com/coprocd/coprocd/frontend/pvwire"
)

// MaxSleep bounds how long a session sleeps on its doorbell before it
// looks at the request ring again; one that stays idle sleeps longer and
// longer, up to MaxIdleSleep (idleSleep).
const MaxSleep = 100 * time.Millisecond

// MaxIdleSleep bounds the sleeps of a session idle for a while: what a
// lost doorbell costs its guest's next request then. Each sleep is a
// wake-up of the session's thread; at MaxSleep, a thousand idle tenants
// kept about a core busy (BenchmarkIdleSessionsCPU).
const MaxIdleSleep = time.Second

// idleSleep is how long a session sleeps after n sleeps in a row that ran
// to their end with nothing to do: MaxSleep, doubling, up to MaxIdleSleep.
func idleSleep(n int) time.Duration {
	return min(MaxSleep<<min(n, 4), MaxIdleSleep)
}

// lateKickGrace is how long a session whose sleep timed out with requests
// past its event index waits for the doorbell before it calls it lost: the
// guest kicks right after it publishes, so a kick merely racing the
// timeout (a guest preempted between the two; frequent with short timed
// sleeps: EventPoll's, a predicted request's) arrives within it.
const lateKickGrace = time.Millisecond

// LostDoorbells counts doorbells that should have come and did not: a
// session's sleep timed out although the guest had published requests past
// the event index the session set (or, while answers waited for room in
// the response ring, its consumer index past the consumer event index the
// session set), or although one of its vcoprocs delivered an event while it
// slept (whose notifier kicks the doorbell), and no kick came even
// lateKickGrace later. The bounded sleep recovered each; each is logged at
// Warn with the state of the rings. It stays zero unless one side breaks
// its rule.
func (s *Server) LostDoorbells() uint64 { return s.lostDoorbells.Load() }

// lostKick says whose kick a timed-out sleep missed.
type lostKick int

const (
	lostRequest lostKick = iota // the guest's, for a request
	lostRoom                    // the guest's, for room in the response ring
	lostEvent                   // the notifier's, for a vcoproc's event
)

var lostKickWhat = [...]string{
	lostRequest: "the guest published requests past the request ring's event index",
	lostRoom:    "the guest consumed responses past the response ring's consumer event index while answers waited for room",
	lostEvent:   "a vcoproc delivered an event while the session slept",
}

// checkTimedOutSleep is called when a sleep armed at armed (the index the
// kick was owed for) timed out with what happened that owed a kick. It
// records the state, gives a kick that races the timeout lateKickGrace to
// arrive, and counts and logs a lost doorbell when none does.
func (ss *session) checkTimedOutSleep(what lostKick, armed uint32, slept time.Duration) {
	rings := pvwire.ReadIndexes(ss.mem)
	doorbell, intr := pvwire.EventfdState(ss.doorbell), pvwire.EventfdState(ss.intr)
	if late, _ := ss.sleeper.Wait(lateKickGrace); late {
		return
	}
	ss.s.lostDoorbells.Add(1)
	ss.s.log.Warn("pv: a doorbell was lost: "+lostKickWhat[what]+" and nobody kicked",
		"domain", ss.cfg.Name, "slept", slept, "armed", armed, "rings", rings.String(),
		"doorbell_count", doorbell, "interrupt_count", intr)
}
