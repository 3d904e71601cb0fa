package mediator

import (
	"fmt"
	"github.com/coprocd/coprocd/spec"
	"time"
)

// EventKind classifies what a domain is told.
type EventKind uint8

const (
	// EventFence: a FENCE completed; Value is its value.
	EventFence EventKind = iota + 1
	// EventJobDone: job Job completed.
	EventJobDone
	// EventJobFailed: job Job was aborted; Err says why (an *iommu.Fault
	// for a DMA fault).
	EventJobFailed
	// EventRefused: a submission was refused by the scanner; Err says why.
	EventRefused
	// EventTimeout: the watchdog aborted job Job.
	EventTimeout
)

func (k EventKind) String() string {
	switch k {
	case EventFence:
		return "fence"
	case EventJobDone:
		return "job-done"
	case EventJobFailed:
		return "job-failed"
	case EventRefused:
		return "refused"
	case EventTimeout:
		return "timeout"
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// Event is one notification to a domain about one of its vcoprocs. Events
// of one vcoproc go to that vcoproc's domain and to no other.
type Event struct {
	Kind    EventKind
	VCoproc string
	Job     uint64
	Value   uint64
	Err     error
	At      time.Duration
}

func (e Event) String() string {
	s := fmt.Sprintf("%v %s %s job=%d", e.At, e.VCoproc, e.Kind, e.Job)
	if e.Kind == EventFence {
		s += fmt.Sprintf(" value=%d", e.Value)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// deliver queues an event and, when intBit is enabled in INT_MASK, raises
// the interrupt: the bit is set in INT_STATUS and the notify channel fires
// (or the notifier is called with raised true). A masked event fires no
// channel; a notifier is called for it with raised false.
// An event without an interrupt bit (a job's completion) always notifies, so
// a transport can wait for completions without polling.
func (v *VCoproc) deliver(e Event, intBit uint64) {
	e.VCoproc = v.name
	if len(v.events) >= v.dev.m.cfg.EventCapacity {
		copy(v.events, v.events[1:])
		v.events = v.events[:len(v.events)-1]
		v.stats.EventsDropped++
	}
	v.events = append(v.events, e)
	if intBit != 0 {
		if i := v.dev.role[spec.RoleIntStatus]; i >= 0 {
			v.vregs[i] |= intBit
		}
		if i := v.dev.role[spec.RoleIntMask]; i >= 0 && v.vregs[i]&intBit == 0 {
			if v.notifier != nil {
				v.notifier(false) // masked: queued, but no interrupt
			}
			return
		}
	}
	if v.notifier != nil {
		v.notifier(true)
		return
	}
	select {
	case v.notify <- struct{}{}:
	default:
	}
}

// setError records an error in ERROR_CODE and ERROR_ADDR.
func (v *VCoproc) setError(code, addr uint64) {
	if i := v.dev.role[spec.RoleErrorCode]; i >= 0 {
		v.vregs[i] = code
	}
	if i := v.dev.role[spec.RoleErrorAddr]; i >= 0 {
		v.vregs[i] = addr
	}
}
