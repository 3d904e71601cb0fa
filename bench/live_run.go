package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coprocd/coprocd/daemon"
	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/internal/monotonic"
	"github.com/coprocd/coprocd/simulator"
)

// Timeouts of a live run's phases. They are generous: a guest under the
// race detector on a loaded two-core machine takes a while to start.
const (
	liveDaemonTimeout = 10 * time.Second
	liveReadyTimeout  = 60 * time.Second
	liveResultGrace   = 30 * time.Second
	// liveStartMargin is how far ahead of "now" the run's instant 0 is set
	// once every guest is ready, so that each has read it before it comes.
	liveStartMargin = 50 * time.Millisecond
)

// liveSetup is what every run of a live invocation shares.
type liveSetup struct {
	sc       *Scenario
	sim      simulator.Scenario
	horizon  time.Duration
	seed     uint64
	trace    bool
	guest    []string // the guest program's argv
	guestEnv []string
	// depth is how many jobs saturating guests keep in flight (0: one).
	depth int
}

// snapshot is the daemon's accounting at one instant of a run.
type snapshot struct {
	nominal time.Duration // the instant it was meant for
	stats   api.Stats
}

// liveOutcome is what one run recorded, before it becomes metrics.
type liveOutcome struct {
	refused   []error        // per vcoproc, in the scenario's order: the admission's refusal
	results   []*GuestResult // per vcoproc: nil when refused or when it has no job to run (releasesInTime)
	snapshots []snapshot     // at 0, at each domain's start and stop, at the horizon
	// traces are the devices' switches, read after the timeline window;
	// traceUntil is where they end, offset maps the daemon's clock onto
	// the run's (run time = daemon time + offset).
	traces     map[string][]api.Switch
	traceUntil time.Duration
	offset     time.Duration
}

// run runs the scenario once under policy: a daemon of its own in a
// temporary runtime directory, the domains created through the control
// API, one guest process per admitted domain, the horizon in real time.
func (ls *liveSetup) run(ctx context.Context, policy string) (out *liveOutcome, err error) {
	dir, err := os.MkdirTemp("", "coprocd-live-")
	if err != nil {
		return nil, fmt.Errorf("bench: live run directory: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg, err := liveConfig(ls.sc, ls.sim, policy, dir)
	if err != nil {
		return nil, err
	}
	logs := &tailBuffer{max: 4 << 10}
	d, err := daemon.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return nil, fmt.Errorf("bench: starting the daemon: %w", err)
	}
	dctx, stopDaemon := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- d.Run(dctx, nil) }()
	defer func() {
		stopDaemon()
		select {
		case derr := <-exited:
			if derr != nil && err == nil {
				err = fmt.Errorf("bench: the daemon: %w", derr)
			}
		case <-time.After(liveDaemonTimeout):
			if err == nil {
				err = fmt.Errorf("bench: the daemon did not stop within %v", liveDaemonTimeout)
			}
		}
		if err != nil && strings.TrimSpace(logs.String()) != "" {
			err = fmt.Errorf("%w\ndaemon log (warnings):\n%s", err, strings.TrimSpace(logs.String()))
		}
	}()
	client := newControlClient(cfg.Control.Socket)
	if err := client.waitReady(ctx, exited, liveDaemonTimeout); err != nil {
		return nil, err
	}

	out = &liveOutcome{refused: make([]error, len(ls.sim.VCoprocs)), results: make([]*GuestResult, len(ls.sim.VCoprocs))}
	var guests []*guestProc
	var guestOf []int // vcoproc index of each guest
	defer func() {
		for _, g := range guests {
			g.kill()
		}
	}()
	for i, v := range ls.sim.VCoprocs {
		if err := client.createDomain(ctx, domainRequest(ls.sim, v)); err != nil {
			// Only an admission refusal (409) is the policy's answer, which
			// the report shows as sim mode does; any other failure is the
			// run's.
			var se *api.StatusError
			if errors.As(err, &se) && se.Status == http.StatusConflict {
				out.refused[i] = errors.New(se.Message)
				continue
			}
			return nil, fmt.Errorf("bench: creating domain %q: %w", v.Name, err)
		}
		if !ls.releasesInTime(v) {
			continue // admitted, as in sim mode, but it has no job to run
		}
		s, err := ls.guestSpec(v, filepath.Join(cfg.RuntimeDir, "pv", v.Name+".sock"))
		if err != nil {
			return nil, err
		}
		g, err := startGuest(ls.guest, ls.guestEnv, s)
		if err != nil {
			return nil, err
		}
		guests, guestOf = append(guests, g), append(guestOf, i)
	}
	for _, g := range guests {
		if err := g.ready(ctx, liveReadyTimeout); err != nil {
			return nil, err
		}
	}

	t0 := monotonic.Host() + int64(liveStartMargin)
	for _, g := range guests {
		if err := g.start(t0); err != nil {
			return nil, err
		}
	}
	if err := ls.observe(ctx, client, t0, guests, out); err != nil {
		return nil, err
	}
	for k, g := range guests {
		res, err := g.result(ctx, liveResultGrace)
		if err != nil {
			return nil, err
		}
		out.results[guestOf[k]] = &res
	}
	return out, nil
}

// timeline is the window of the timeline picture: the scenario's, within
// the horizon.
func (ls *liveSetup) timeline() time.Duration { return min(ls.sc.Timeline, ls.horizon) }

// releasesInTime reports whether v releases a job within the horizon: as
// in sim mode, a domain that starts at or past the horizon, or does not
// start before its stop, is admitted but runs nothing (no guest, an empty
// result), where a stop past the horizon is read as none.
func (ls *liveSetup) releasesInTime(v simulator.VCoproc) bool {
	return v.Start < ls.horizon && (v.Stop == 0 || v.Start < v.Stop)
}

// guestSpec is vcoproc v's guest.
func (ls *liveSetup) guestSpec(v simulator.VCoproc, socket string) (GuestSpec, error) {
	w, err := guestWorkload(v.Workload)
	if err != nil {
		return GuestSpec{}, err
	}
	if w.Type == "saturating" {
		w.Depth = ls.depth
	}
	stop := v.Stop
	if stop >= ls.horizon {
		stop = 0
	}
	s := GuestSpec{Domain: v.Name, Socket: socket, Device: deviceOf(ls.sim, v), Seed: ls.seed,
		StartNS: int64(v.Start), StopNS: int64(stop), HorizonNS: int64(ls.horizon), Workload: w,
		Cost: liveCostModel(), MaxElements: liveMaxElements, Slots: defaultGuestSlots}
	if err := s.Validate(); err != nil {
		return GuestSpec{}, fmt.Errorf("bench: domain %q cannot run live: %w", v.Name, err)
	}
	return s, nil
}

// observe reads the daemon's accounting at the run's start, at every
// instant a domain starts or stops (for the windowed metrics), and at the
// horizon, and its switch traces once the timeline window has passed. A
// guest that ends before the horizon ends the run with its error.
func (ls *liveSetup) observe(ctx context.Context, client *controlClient, t0 int64, guests []*guestProc, out *liveOutcome) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for _, g := range guests {
		go func() {
			select {
			case <-g.exited:
				if monotonic.Host() < t0+int64(ls.horizon) {
					cancel(g.failure(errors.New("it ended before the horizon")))
				}
			case <-ctx.Done():
			}
		}()
	}
	instants := []time.Duration{0, ls.horizon}
	for _, v := range ls.sim.VCoprocs {
		instants = append(instants, v.Start)
		if v.Stop > 0 {
			instants = append(instants, v.Stop)
		}
	}
	slices.Sort(instants)
	instants = slices.Compact(instants)
	traceAt := time.Duration(-1)
	if ls.trace {
		traceAt = ls.timeline()
	}
	for _, at := range instants {
		if at > ls.horizon {
			break
		}
		if traceAt >= 0 && traceAt < at {
			if err := ls.readTraces(ctx, client, t0, traceAt, out); err != nil {
				return err
			}
			traceAt = -1
		}
		if err := sleepUntil(ctx, t0+int64(at)); err != nil {
			return fmt.Errorf("bench: the run stopped: %w", context.Cause(ctx))
		}
		st, err := client.stats(ctx)
		if err != nil {
			return err
		}
		out.snapshots = append(out.snapshots, snapshot{nominal: at, stats: st})
		out.offset = time.Duration(st.MonotonicNs-st.UptimeNs) - time.Duration(t0)
	}
	if traceAt >= 0 {
		return ls.readTraces(ctx, client, t0, traceAt, out)
	}
	return nil
}

// readTraces reads every device's switch trace once the run is past until.
func (ls *liveSetup) readTraces(ctx context.Context, client *controlClient, t0 int64, until time.Duration, out *liveOutcome) error {
	if err := sleepUntil(ctx, t0+int64(until)); err != nil {
		return fmt.Errorf("bench: the run stopped: %w", context.Cause(ctx))
	}
	out.traces = map[string][]api.Switch{}
	for _, d := range ls.sim.Devices {
		tr, err := client.trace(ctx, d.Name)
		if err != nil {
			return err
		}
		out.traces[d.Name] = tr
	}
	out.traceUntil = until
	return nil
}
