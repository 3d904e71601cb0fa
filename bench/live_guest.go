package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/internal/monotonic"
	"github.com/coprocd/coprocd/simulator"
	"github.com/coprocd/coprocd/spec"
)

// The live guest is one domain's workload as a process of its own: the
// daemon's paravirtual host identifies a domain by the socket a guest
// connects to, one session per domain, so each domain of a live run is one
// guest process (coprocd bench guest, which the harness starts from its own
// executable). The exchange with the harness, one line each:
//
//	guest → stdout  "ready"                      connected, buffers mapped
//	stdin → guest   "start <CLOCK_MONOTONIC ns>" the run's instant 0
//	guest → stdout  GuestResult as JSON          at the horizon
//
// Errors (a refused session, a failed job, a wrong result) go to stderr
// and end the guest with a non-zero status, which fails the run.

// GuestResult is a guest's record of its jobs: instants in nanoseconds from
// the run's start on CLOCK_MONOTONIC, -1 for what did not happen within
// the horizon.
type GuestResult struct {
	Domain string `json:"domain"`
	// Elements is the saxpy data each job computed and the guest checked.
	Elements uint64 `json:"elements"`
	// ReleaseNS is each job's release (its nominal instant: a late timer
	// in the guest counts against the response time, as it would for a
	// real guest); SubmitNS when the daemon accepted it; DoneNS when the
	// guest saw its fence.
	ReleaseNS []int64 `json:"release_ns"`
	SubmitNS  []int64 `json:"submit_ns"`
	DoneNS    []int64 `json:"done_ns"`
	// Checked counts the completed jobs whose results were verified (all
	// of them: a wrong result ends the guest with an error).
	Checked int `json:"checked"`
}

// guestJob is one released job.
type guestJob struct {
	index   int // in the result's slices
	seq     uint64
	release time.Duration
	plan    jobPlan
	slot    int
}

type completion struct {
	job *guestJob
	at  time.Duration
	err error
}

// guest is a running guest.
type guest struct {
	spec GuestSpec
	// jobs are the workload's jobs as the simulator sees them, whose
	// execution times the guest draws with the simulator's DrawExec.
	jobs    simulator.JobSpec
	costs   liveCosts
	conn    *frontend.Conn
	dev     *frontend.Device
	layout  slotLayout
	x       *frontend.Buffer
	slots   []*frontend.Buffer
	t0      int64
	result  GuestResult
	pending []*guestJob // released, waiting for a slot
	free    []int
	nextSeq uint64
}

// RunGuest runs a live guest: it connects, maps its buffers, says "ready"
// on out, waits for "start <ns>" on in, replays its workload until the
// horizon and writes its GuestResult on out.
func RunGuest(ctx context.Context, s GuestSpec, in io.Reader, out io.Writer) error {
	if err := s.Validate(); err != nil {
		return err
	}
	costs, _ := newLiveCosts(s.Cost)
	elements, _ := s.plan(costs)
	g := &guest{spec: s, costs: costs, layout: slotLayout{elements: elements, fillWords: costs.maxFillWords()}}
	g.result = GuestResult{Domain: s.Domain, Elements: elements, ReleaseNS: []int64{}, SubmitNS: []int64{}, DoneNS: []int64{}}
	if err := g.connect(ctx); err != nil {
		return err
	}
	defer g.conn.Close()
	if err := g.warmUp(ctx); err != nil {
		return fmt.Errorf("bench guest %q: warming up: %w", s.Domain, err)
	}
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	t0, err := readStart(in)
	if err != nil {
		return fmt.Errorf("bench guest %q: %w", s.Domain, err)
	}
	g.t0 = t0
	if err := g.run(ctx); err != nil {
		return fmt.Errorf("bench guest %q: %w", s.Domain, err)
	}
	return json.NewEncoder(out).Encode(g.result)
}

// connect opens the domain's session, finds its device and maps x and the
// job slots.
func (g *guest) connect(ctx context.Context) error {
	s := g.spec
	conn, err := frontend.Dial(s.Socket, frontend.Options{RequestSlots: liveRingSlots})
	if err != nil {
		return fmt.Errorf("bench guest %q: %w", s.Domain, err)
	}
	g.conn = conn
	fail := func(err error) error {
		conn.Close()
		return fmt.Errorf("bench guest %q: %w", s.Domain, err)
	}
	devs := conn.Devices()
	switch {
	case s.Device != "":
		if g.dev, err = conn.Device(s.Device); err != nil {
			return fail(err)
		}
	case len(devs) == 1:
		g.dev = devs[0]
	default:
		return fail(fmt.Errorf("the session has %d devices; say which with device", len(devs)))
	}
	if model := g.dev.Info().Model; model != spec.ReferenceGPU().Model {
		return fail(fmt.Errorf("device %s is a %s; live guests drive the reference GPU (%s)", g.dev.Name(), model, spec.ReferenceGPU().Model))
	}
	if g.x, err = conn.Alloc(ctx, 4*g.layout.elements, spec.PVPermRead); err != nil {
		return fail(err)
	}
	fillX(g.x.Bytes, g.layout.elements)
	for i := 0; i < s.Slots; i++ {
		b, err := conn.Alloc(ctx, g.layout.size(), spec.PVPermReadWrite)
		if err != nil {
			return fail(err)
		}
		g.slots = append(g.slots, b)
		g.free = append(g.free, i)
	}
	return nil
}

// warmUp runs the shortest job once in every slot before the run: the
// first touch of the buffers (page faults on both sides of the shared
// mapping) and the first pass through the submission path are paid here,
// not in the response times of the run's first jobs. The daemon's
// accounting is read from the run's start on, so warm-up jobs do not count.
func (g *guest) warmUp(ctx context.Context) error {
	shortest := g.costs.m.CyclesToDuration(g.costs.minimum(g.layout.elements))
	p, err := g.costs.plan(shortest, g.layout.elements)
	if err != nil {
		return err
	}
	for i, b := range g.slots {
		g.nextSeq++
		g.layout.prepare(b.Bytes, b.IOVA, g.x.IOVA, g.nextSeq, p)
		if _, err := g.dev.Submit(ctx, g.layout.commands(nil, b.IOVA, g.nextSeq, p)); err != nil {
			return fmt.Errorf("slot %d: %w", i, err)
		}
		if err := g.dev.WaitFence(ctx, g.nextSeq); err != nil {
			return fmt.Errorf("slot %d: %w", i, err)
		}
		if err := g.layout.check(b.Bytes, g.nextSeq, p); err != nil {
			return fmt.Errorf("slot %d: %w", i, err)
		}
	}
	g.conn.Events()
	return nil
}

// readStart reads the "start <ns>" line.
func readStart(in io.Reader) (int64, error) {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return 0, fmt.Errorf("waiting for the start instant on stdin: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "start" {
		return 0, fmt.Errorf("stdin: %q is not \"start <CLOCK_MONOTONIC ns>\"", strings.TrimSpace(line))
	}
	t0, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || t0 <= 0 {
		return 0, fmt.Errorf("stdin: start instant %q is not a positive integer", f[1])
	}
	return t0, nil
}

func (g *guest) now() time.Duration { return time.Duration(monotonic.Host() - g.t0) }

// run releases, submits and completes jobs until the horizon.
func (g *guest) run(ctx context.Context) error {
	s := g.spec
	horizon := time.Duration(s.HorizonNS)
	ctx, cancel := context.WithDeadline(ctx, deadlineAt(g.t0+s.HorizonNS))
	defer cancel()
	// The simulator's own release process and random stream, asked in
	// the simulator's order (the first release from the start; then,
	// open loop, each job's execution time and the next release), so
	// that open-loop arrivals and execution times are the ones a
	// simulated run of the same scenario and seed draws.
	wl := s.Workload.simWorkload()
	g.jobs = wl.Jobs()
	rng := simulator.NewRand(s.Seed, s.Domain)
	src := simulator.NewSource(wl)
	stop := horizon
	if s.StopNS > 0 {
		stop = time.Duration(s.StopNS)
	}

	inflight := make(chan *guestJob, len(g.slots))
	done := make(chan completion, len(g.slots))
	completerDone := make(chan struct{})
	go func() {
		defer close(completerDone)
		g.complete(ctx, inflight, done)
	}()
	defer func() { cancel(); <-completerDone }()

	// The first release (a closed loop releases its depth at once at the
	// start, then one job at each completion).
	next, armed := src.Next(time.Duration(s.StartNS), rng)
	burst := 1
	if src.ClosedLoop() {
		next, armed, burst = time.Duration(s.StartNS), true, max(1, s.Workload.Depth)
	}
	// At the horizon, the completions already seen count, and the
	// releases the guest's timer had not caught up with still happened:
	// they count, unsubmitted.
	finish := func() error {
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err() // interrupted, not at the horizon
		}
		cancel()
		<-completerDone
		for len(done) > 0 {
			if c := <-done; c.err == nil {
				g.completed(c, horizon)
			}
		}
		for armed && next < stop && !src.ClosedLoop() {
			if err := g.release(next, rng); err != nil {
				return err
			}
			next, armed = src.Next(next, rng)
		}
		return nil
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		for len(g.pending) > 0 && len(g.free) > 0 {
			if err := g.submit(ctx, inflight); err != nil {
				if ctx.Err() != nil {
					return finish()
				}
				return err
			}
		}
		var fire <-chan time.Time
		if armed && next < stop {
			timer.Reset(next - g.now())
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return finish()
		case <-fire:
			for ; burst > 0; burst-- {
				if err := g.release(next, rng); err != nil {
					return err
				}
			}
			burst = 1
			if src.ClosedLoop() {
				armed = false
			} else {
				next, armed = src.Next(next, rng)
			}
		case c := <-done:
			if c.err != nil {
				return c.err
			}
			g.completed(c, horizon)
			if src.ClosedLoop() && c.at < stop {
				if err := g.release(c.at, rng); err != nil {
					return err
				}
			}
		}
	}
}

// completed records a checked completion within the horizon and frees
// its slot.
func (g *guest) completed(c completion, horizon time.Duration) {
	if c.at <= horizon {
		g.result.DoneNS[c.job.index] = int64(c.at)
		g.result.Checked++
	}
	g.free = append(g.free, c.job.slot)
}

// release records a job released at the given instant and queues it.
func (g *guest) release(at time.Duration, rng *rand.Rand) error {
	exec := g.jobs.DrawExec(rng)
	p, err := g.costs.plan(exec, g.layout.elements)
	if err != nil {
		// Validate planned the shortest and the longest job, so every
		// execution time between them has a plan; say so if not.
		return fmt.Errorf("planning a job of %v: %w", exec, err)
	}
	g.nextSeq++
	g.pending = append(g.pending, &guestJob{index: len(g.result.ReleaseNS), seq: g.nextSeq, release: at, plan: p})
	g.result.ReleaseNS = append(g.result.ReleaseNS, int64(at))
	g.result.SubmitNS = append(g.result.SubmitNS, -1)
	g.result.DoneNS = append(g.result.DoneNS, -1)
	return nil
}

// submit puts the oldest released job in a free slot and on the device.
func (g *guest) submit(ctx context.Context, inflight chan<- *guestJob) error {
	j := g.pending[0]
	j.slot = g.free[len(g.free)-1]
	b := g.slots[j.slot]
	g.layout.prepare(b.Bytes, b.IOVA, g.x.IOVA, j.seq, j.plan)
	if _, err := g.dev.Submit(ctx, g.layout.commands(nil, b.IOVA, j.seq, j.plan)); err != nil {
		return fmt.Errorf("job %d: %w", j.seq, err)
	}
	g.pending = g.pending[1:]
	g.free = g.free[:len(g.free)-1]
	g.result.SubmitNS[j.index] = int64(g.now())
	inflight <- j
	return nil
}

// complete waits for each job's fence in submission order (the fences of
// one vcoproc come in order), timestamps it and checks what it computed.
func (g *guest) complete(ctx context.Context, inflight <-chan *guestJob, done chan<- completion) {
	for {
		var j *guestJob
		select {
		case <-ctx.Done():
			return
		case j = <-inflight:
		}
		err := g.dev.WaitFence(ctx, j.seq)
		at := g.now()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			done <- completion{job: j, err: fmt.Errorf("job %d: %w", j.seq, err)}
			return
		}
		// The session keeps every event for Events; this guest waits on
		// fences, so it drops them to keep that queue short.
		g.conn.Events()
		if err := g.layout.check(g.slots[j.slot].Bytes, j.seq, j.plan); err != nil {
			done <- completion{job: j, err: err}
			return
		}
		done <- completion{job: j, at: at}
	}
}
