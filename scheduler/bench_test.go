package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/coprocd/coprocd/internal/benchref"
)

// intHeap is the baseline: one pop and one push on a binary heap of n
// int64s, the least any O(log n) scheduler must do per decision.
type intHeap []int64

func (h intHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r] < h[l] {
			m = r
		}
		if h[m] >= h[i] {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// replaceTop is pop followed by push of v, fused as a real heap would.
func (h intHeap) replaceTop(v int64) { h[0] = v; h.down(0) }

func heapBaseline(n int) func(int) {
	h := make(intHeap, n)
	for i := range h {
		h[i] = int64(i)
	}
	return func(ops int) {
		for i := 0; i < ops; i++ {
			h.replaceTop(h[0] + int64(n))
		}
	}
}

// BenchmarkPickCharge times one scheduling decision, Pick then Charge, with
// n runnable vcoprocs, against a heap pop+push of the same size measured in
// the same run (x-baseline).
func BenchmarkPickCharge(b *testing.B) {
	type mk func(n int) Policy
	policies := []struct {
		name string
		mk   mk
		// cycle: the picked vcoproc finishes its job and gets another
		// (Block + Wake), so the decision moves through the ready set
		cycle bool
	}{
		{"wfair", func(n int) Policy {
			w, _ := NewWeightedFair(ms, Costs{})
			for id := ID(0); id < ID(n); id++ {
				_ = w.Admit(id, Params{Weight: uint32(1 + id%16)}, 0)
				w.Wake(id, 0)
			}
			return w
		}, false},
		{"edf", func(n int) Policy {
			e := NewEDF(ReservationConfig{})
			for id := ID(0); id < ID(n); id++ {
				if err := e.Admit(id, Params{Budget: 50 * time.Microsecond, Period: time.Second + time.Duration(id)*time.Microsecond}, 0); err != nil {
					panic(err)
				}
				e.Wake(id, 0)
			}
			return e
		}, false},
		{"fixed-priority", func(n int) Policy {
			f := NewFixedPriority(ReservationConfig{Quantum: ms})
			for id := ID(0); id < ID(n); id++ {
				_ = f.Admit(id, Params{Priority: int(id % 8)}, 0)
				f.Wake(id, 0)
			}
			return f
		}, true},
	}
	for _, p := range policies {
		for _, n := range []int{10, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/n=%d", p.name, n), func(b *testing.B) {
				pol := p.mk(n)
				now := time.Duration(0)
				benchref.Compare(b, heapBaseline(n), func(ops int) {
					for i := 0; i < ops; i++ {
						d := pol.Pick(now)
						if d.Idle {
							now = d.Until
							continue
						}
						now += d.Slice
						pol.Charge(d.ID, d.Slice, now)
						if p.cycle {
							pol.Block(d.ID, now)
							pol.Wake(d.ID, now)
						}
					}
				})
			})
		}
	}
}
