package mediator

import (
	"fmt"
	"time"
)

// Switch is one context switch of a device.
type Switch struct {
	At      time.Duration
	From    string // "" when the device was free
	To      string
	Cost    time.Duration
	Retries int // times the backend said "not yet" before the old owner let go
}

func (s Switch) String() string {
	from := s.From
	if from == "" {
		from = "(idle)"
	}
	str := fmt.Sprintf("%12v  %s -> %s (cost %v)", s.At, from, s.To, s.Cost)
	if s.Retries > 0 {
		str += fmt.Sprintf(" after %d retries", s.Retries)
	}
	return str
}

// traceRing keeps the last n switches.
type traceRing struct {
	buf  []Switch
	next int
	full bool
}

func newTraceRing(n int) traceRing { return traceRing{buf: make([]Switch, n)} }

func (t *traceRing) add(s Switch) {
	t.buf[t.next] = s
	t.next++
	if t.next == len(t.buf) {
		t.next = 0
		t.full = true
	}
}

func (t *traceRing) list() []Switch {
	if !t.full {
		return append([]Switch(nil), t.buf[:t.next]...)
	}
	return append(append([]Switch(nil), t.buf[t.next:]...), t.buf[:t.next]...)
}
