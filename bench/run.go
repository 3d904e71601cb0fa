package bench

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/coprocd/coprocd/simulator"
)

// TraceLimit is the longest horizon for which a run keeps its trace by
// default: the trace grows with every change of ownership (a few hundred a
// second on the shipped scenarios), and the pictures that need it (the
// timeline and the shares over time) read only a window anyway.
const TraceLimit = 10 * time.Minute

// Options say how to run a scenario.
type Options struct {
	// Policies to compare, in table order; nil means the scenario's.
	Policies []string
	// Horizon of virtual time; 0 means the scenario's.
	Horizon time.Duration
	// Seed, when SeedSet, replaces the scenario's.
	Seed    uint64
	SeedSet bool
	// NoTrace turns the trace off (no timeline, no shares over time); it is
	// off anyway past TraceLimit.
	NoTrace bool
	// Parallel is how many policies run at once; 0 means GOMAXPROCS. The
	// report does not depend on it.
	Parallel int
	// Progress, when not nil, receives a progress bar if the shoot-out is
	// still running after ProgressDelay.
	Progress      io.Writer
	ProgressDelay time.Duration
}

// Simulate runs the scenario under each policy in the deterministic
// simulator and returns the shoot-out's report. A policy whose run fails
// (a decision the simulator cannot carry out) has its error in its row;
// the others still run.
func Simulate(sc *Scenario, opts Options) (*Report, error) {
	policies := opts.Policies
	if len(policies) == 0 {
		policies = sc.Policies
	}
	rows := make([]Policy, len(policies))
	for i, name := range policies {
		p, ok := policyByName(name)
		if !ok {
			return nil, fmt.Errorf("bench: unknown policy %q", name)
		}
		rows[i] = p
	}
	horizon := opts.Horizon
	if horizon == 0 {
		horizon = sc.Horizon
	}
	seed := sc.Seed
	if opts.SeedSet {
		seed = opts.Seed
	}
	trace := !opts.NoTrace && horizon <= TraceLimit
	sim, err := sc.Build(horizon, seed, trace)
	if err != nil {
		return nil, err
	}

	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	progress := startProgress(opts.Progress, opts.ProgressDelay, len(rows), sc.Name)
	results := make([]*simulator.Result, len(rows))
	errs := make([]error, len(rows))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(parallel, len(rows)); w++ {
		wg.Go(func() {
			for i := range next {
				results[i], errs[i] = simulator.Run(rows[i].factory(sc), sim, seed)
				progress.done(rows[i].Name)
			}
		})
	}
	for i := range rows {
		next <- i
	}
	close(next)
	wg.Wait()
	progress.finish()

	rep := &Report{
		Scenario:    sc.Name,
		Description: sc.Description,
		Source:      sc.Source,
		Mode:        "sim",
		Seed:        seed,
		HorizonNS:   int64(horizon),
		Horizon:     horizon.String(),
		Traced:      trace,
		Timeline:    min(sc.Timeline, horizon),
		scenario:    sim,
	}
	for i, p := range rows {
		rep.Runs = append(rep.Runs, measure(p, sim, results[i], errs[i]))
	}
	return rep, nil
}

// progress shows a bar on a terminal once a shoot-out has run for a while,
// so that short runs print nothing but their table.
type progress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	timer *time.Timer
	count int
	last  string
}

func startProgress(w io.Writer, delay time.Duration, total int, name string) *progress {
	p := &progress{}
	if w == nil {
		return p
	}
	p.timer = time.AfterFunc(delay, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.count >= total {
			return
		}
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(name+": "+p.last),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		_ = p.bar.Set(p.count)
	})
	return p
}

func (p *progress) done(policy string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count++
	p.last = policy + " done"
	if p.bar != nil {
		p.bar.Describe(p.last)
		_ = p.bar.Add(1)
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
