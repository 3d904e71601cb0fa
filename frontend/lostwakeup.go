package frontend

import (
	"fmt"
	"time"

	"github.com/coprocd/coprocd/frontend/pvwire"
)

// MaxSleep bounds how long a waiting call sleeps on the interrupt eventfd
// before it looks at the response ring again.
const MaxSleep = 20 * time.Millisecond

// lateKickGrace is how long a receiver whose sleep timed out with
// responses past its event index waits for the interrupt before it calls
// it lost: the host kicks right after it publishes, so a kick merely racing
// the timeout (a host preempted between the two) arrives within it.
const lateKickGrace = time.Millisecond

// keptLostWakeups bounds the reports a Conn keeps.
const keptLostWakeups = 16

// LostWakeup describes one lost interrupt: a sleep on the interrupt eventfd
// that timed out although the host had published responses past the event
// index this receiver set, and no kick came even lateKickGrace later. Its
// fields are what the rings and eventfds held at the timeout.
type LostWakeup struct {
	At    time.Time
	Slept time.Duration // the bounded sleep that timed out
	// Armed is the response-ring event index the receiver set before it
	// slept (its consumer index then); the host owed a kick for any
	// response it published past it.
	Armed uint32
	Rings pvwire.Indexes
	// Interrupt and Doorbell are the eventfds' unread counters, or why
	// they could not be read.
	Interrupt, Doorbell string
}

func (l LostWakeup) String() string {
	return fmt.Sprintf("%s: slept %v armed at response index %d and was not kicked; %v; interrupt eventfd count %s, doorbell eventfd count %s",
		l.At.Format("15:04:05.000000"), l.Slept, l.Armed, l.Rings, l.Interrupt, l.Doorbell)
}

// LostWakeups counts interrupts that should have come and did not (see
// LostWakeup); the bounded sleep recovered each. It stays zero unless one
// side breaks the event-index rule.
func (c *Conn) LostWakeups() uint64 { return c.lostWakeups.Load() }

// LostWakeupReports returns the last lost interrupts with the state of the
// rings when each was found, oldest first.
func (c *Conn) LostWakeupReports() []LostWakeup {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]LostWakeup(nil), c.lostReports...)
}

// checkTimedOutSleep is called, with c.mu held, when a sleep armed at
// armed timed out with responses published past it. It records the state,
// gives a kick that races the timeout lateKickGrace to arrive (releasing
// c.mu meanwhile), and counts a lost interrupt when none does.
func (c *Conn) checkTimedOutSleep(armed uint32, slept time.Duration) {
	l := LostWakeup{At: time.Now(), Slept: slept, Armed: armed, Rings: pvwire.ReadIndexes(c.mem),
		Interrupt: pvwire.EventfdState(c.intr), Doorbell: pvwire.EventfdState(c.doorbell)}
	c.mu.Unlock()
	late, _ := c.sleeper.Wait(lateKickGrace)
	c.mu.Lock()
	if late {
		return
	}
	c.lostWakeups.Add(1)
	if len(c.lostReports) == keptLostWakeups {
		c.lostReports = append(c.lostReports[:0], c.lostReports[1:]...)
	}
	c.lostReports = append(c.lostReports, l)
}
