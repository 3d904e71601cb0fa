package simulator

import "time"

// eventClass orders events that fall on the same instant. Releases come
// first, so that a policy asked to decide at t knows every job released at
// t; device events follow.
type eventClass uint8

const (
	evRelease eventClass = iota // an open-loop (or first) job release of vcoproc idx
	evDevice                    // device idx's pending step: dispatch, switch end or run stop
)

// event is one entry of the agenda. The order (at, class, idx, seq) is
// total: seq is unique, and it is assigned in processing order, which is
// itself determined by the order, so the whole run is deterministic.
type event struct {
	at    time.Duration
	class eventClass
	idx   int32  // vcoproc or device index
	gen   uint32 // device events: the device's generation when scheduled
	seq   uint64
}

func (a *event) less(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.class != b.class {
		return a.class < b.class
	}
	if a.idx != b.idx {
		return a.idx < b.idx
	}
	return a.seq < b.seq
}

// agenda is a binary min-heap of events, written out rather than through
// container/heap to keep the interface calls out of the simulator's inner
// loop.
type agenda struct {
	h   []event
	seq uint64
}

func (q *agenda) len() int { return len(q.h) }

func (q *agenda) push(e event) {
	e.seq = q.seq
	q.seq++
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.h[i].less(&q.h[p]) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

// peek returns the earliest event; the agenda must not be empty.
func (q *agenda) peek() *event { return &q.h[0] }

func (q *agenda) pop() event {
	top := q.h[0]
	n := len(q.h) - 1
	q.h[0] = q.h[n]
	q.h = q.h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.h[r].less(&q.h[l]) {
			m = r
		}
		if !q.h[m].less(&q.h[i]) {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	return top
}
