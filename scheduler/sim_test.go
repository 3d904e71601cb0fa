package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// load is one vcoproc's work in the tests' miniature simulator: either
// saturating (always has work) or periodic (work arrives every period and
// is due by the period's end, or by deadline when set).
type load struct {
	id                     ID
	saturating             bool
	period, work, deadline time.Duration
	backlog                time.Duration
	nextArrival            time.Duration
	jobs                   []job // outstanding periodic jobs, oldest first
	service                time.Duration
	misses                 int
	worstLateness          time.Duration
	stopAt                 time.Duration // saturating: goes idle from here (0: never)
	runnable               bool
	servicePerPeriod       []time.Duration
}

type job struct {
	left, due time.Duration
}

// simulate drives p with the loads until horizon, re-Picking at every
// arrival (the driver preempts at the next preemption point when work
// arrives), and overrunning every slice by overrun (a non-preemptible
// tail). It returns the device's busy time.
func simulate(t *testing.T, p Policy, loads []*load, horizon, overrun time.Duration) (busy time.Duration) {
	t.Helper()
	byID := map[ID]*load{}
	for _, l := range loads {
		byID[l.id] = l
		if l.saturating {
			l.runnable = true
			p.Wake(l.id, 0)
		}
	}
	now := time.Duration(0)
	arrive := func() time.Duration { // deliver arrivals due by now; next arrival instant
		next := horizon
		for _, l := range loads {
			if l.saturating {
				if l.stopAt > 0 && now >= l.stopAt && l.runnable {
					l.runnable = false
					p.Block(l.id, now)
				}
				if l.stopAt > now {
					next = min(next, l.stopAt)
				}
				continue
			}
			for l.nextArrival <= now {
				d := l.deadline
				if d == 0 {
					d = l.period
				}
				l.jobs = append(l.jobs, job{left: l.work, due: l.nextArrival + d})
				l.backlog += l.work
				l.nextArrival += l.period
				l.servicePerPeriod = append(l.servicePerPeriod, 0)
				if !l.runnable {
					l.runnable = true
					p.Wake(l.id, now)
				}
			}
			next = min(next, l.nextArrival)
		}
		return next
	}
	for now < horizon {
		next := arrive()
		d := p.Pick(now)
		if d.Idle {
			until := next
			if d.Until > now && d.Until < until {
				until = d.Until
			}
			now = until
			continue
		}
		l := byID[d.ID]
		require.NotNil(t, l, "policy %s picked unknown vcoproc %d", p.Name(), d.ID)
		require.True(t, l.runnable, "policy %s picked vcoproc %d, which is blocked", p.Name(), d.ID)
		require.Positive(t, d.Slice, "policy %s gave vcoproc %d a non-positive slice", p.Name(), d.ID)
		ran := d.Slice
		if next > now && next-now < ran {
			ran = next - now // preempted at the arrival...
		}
		ran += overrun // ...after the non-preemptible tail
		if !l.saturating && ran > l.backlog {
			ran = l.backlog
		}
		now += ran
		busy += ran
		l.service += ran
		if len(l.servicePerPeriod) > 0 {
			l.servicePerPeriod[len(l.servicePerPeriod)-1] += ran
		}
		if !l.saturating {
			l.backlog -= ran
			for left := ran; left > 0 && len(l.jobs) > 0; {
				j := &l.jobs[0]
				use := min(left, j.left)
				j.left -= use
				left -= use
				if j.left == 0 {
					if late := now - j.due; late > 0 {
						l.misses++
						l.worstLateness = max(l.worstLateness, late)
					}
					l.jobs = l.jobs[1:]
				}
			}
		}
		p.Charge(d.ID, ran, now)
		if !l.saturating && l.backlog == 0 {
			l.runnable = false
			p.Block(l.id, now)
		}
	}
	return busy
}

func admitAll(t *testing.T, p Policy, params map[ID]Params) {
	t.Helper()
	for id := ID(0); id < ID(len(params)+100); id++ {
		if pr, ok := params[id]; ok {
			require.NoError(t, p.Admit(id, pr, 0))
		}
	}
}
