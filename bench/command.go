package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// ProgressDelay is how long a shoot-out runs before the progress bar
// appears: shorter runs print nothing but their tables.
const ProgressDelay = 2 * time.Second

// ErrLiveUnavailable is returned for a scenario live mode cannot run (one
// with a device it has no backend for); see live.go.
var ErrLiveUnavailable = errors.New("bench: live mode cannot run this scenario")

// NewCommand returns the "bench" command for coprocd's root command:
//
//	coprocd bench automotive                 # a shipped scenario, every default policy
//	coprocd bench --scenario my.yaml --policies edf+wfair,rrobin --out report/
//	coprocd bench list                       # shipped scenarios and policies
func NewCommand() *cobra.Command {
	var (
		scenarioPath string
		policies     string
		out          string
		seed         uint64
		horizon      time.Duration
		mode         string
		format       string
		quiet        bool
		detail       bool
		parallel     int
		noTrace      bool
	)
	cmd := &cobra.Command{
		Use:   "bench [scenario]",
		Short: "Run a scenario under several scheduling policies and compare them",
		Long: `bench runs a workload scenario under several scheduling policies — coprocd's
own and replicas of Xen SCF, Intel GVT-g, NVIDIA vGPU and AMD GIM — side by side,
prints the shoot-out tables and writes a report (Markdown, JSON, CSV) with
pictures (timeline, latency CDFs, shares over time).

The scenario is a shipped name (see "bench list") or a YAML file (--scenario, or
a path as the argument). In sim mode the run is the deterministic simulator in
virtual time: the same scenario, policies and seed give the same report. In live
mode (--mode live) each policy runs through the whole stack in real time: a
daemon with reference GPUs, one guest process per domain driving the
paravirtual frontend, the daemon's own accounting (default horizon ` + LiveHorizon.String() + `).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := scenarioPath
			switch {
			case len(args) == 1 && name != "":
				return fmt.Errorf("bench: give the scenario as an argument or with --scenario, not both")
			case len(args) == 1:
				name = args[0]
			case name == "":
				return fmt.Errorf("bench: which scenario? one of %s, or --scenario file.yaml", strings.Join(Shipped(), ", "))
			}
			if mode != "sim" && mode != "live" {
				return fmt.Errorf("bench: --mode %q: want sim or live", mode)
			}
			if format != "svg" && format != "png" && format != "none" {
				return fmt.Errorf("bench: --format %q: want svg, png or none", format)
			}
			if horizon < 0 || horizon > MaxHorizon {
				return fmt.Errorf("bench: --horizon %v must be in (0, %v]", horizon, MaxHorizon)
			}
			list, err := ParsePolicies(policies)
			if err != nil {
				return err
			}
			sc, err := Load(name)
			if err != nil {
				return err
			}
			if mode == "live" {
				return runLive(cmd, sc, LiveOptions{Policies: list, Horizon: horizon, Seed: seed, SeedSet: cmd.Flags().Changed("seed"), NoTrace: noTrace},
					out, format, quiet, detail)
			}
			opts := Options{Policies: list, Horizon: horizon, Seed: seed, SeedSet: cmd.Flags().Changed("seed"), NoTrace: noTrace, Parallel: parallel}
			if !quiet && isTerminal(cmd.ErrOrStderr()) {
				opts.Progress, opts.ProgressDelay = cmd.ErrOrStderr(), ProgressDelay
			}
			start := time.Now()
			rep, err := Simulate(sc, opts)
			if err != nil {
				return err
			}
			return writeReport(cmd, rep, sc, time.Since(start), out, format, quiet, detail)
		},
	}
	f := cmd.Flags()
	f.StringVar(&scenarioPath, "scenario", "", "scenario file (YAML) or shipped scenario name")
	f.StringVar(&policies, "policies", "", `comma-separated policies to compare, or "all" (default: the scenario's list)`)
	f.StringVar(&out, "out", "bench-report/{scenario}", `directory for the report files ("" writes none; {scenario} is replaced)`)
	f.Uint64Var(&seed, "seed", 0, "random seed (default: the scenario's)")
	f.DurationVar(&horizon, "horizon", 0, "virtual time to simulate (default: the scenario's; 4h38m is 10⁶ frames at 60 fps); in live mode real time per policy (default "+LiveHorizon.String()+")")
	f.StringVar(&mode, "mode", "sim", "sim (deterministic simulator, virtual time) or live (daemon, guest processes and reference GPUs, real time)")
	f.StringVar(&format, "format", "svg", "picture format: svg, png or none")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar and no timing line on stderr")
	f.BoolVar(&detail, "detail", false, "print every domain's metrics, not only the shoot-out tables")
	f.IntVar(&parallel, "parallel", 0, "policies simulated at once (default: GOMAXPROCS); the report does not depend on it")
	f.BoolVar(&noTrace, "no-trace", false, "keep no trace: no timeline or shares pictures, less memory (off anyway past "+TraceLimit.String()+")")
	cmd.AddCommand(newListCommand(), newGuestCommand())
	return cmd
}

// runLive runs the scenario live and writes its report like sim mode's.
func runLive(cmd *cobra.Command, sc *Scenario, opts LiveOptions, out, format string, quiet, detail bool) error {
	if !quiet && isTerminal(cmd.ErrOrStderr()) {
		opts.Progress, opts.ProgressDelay = cmd.ErrOrStderr(), ProgressDelay
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := Live(ctx, sc, opts)
	if err != nil {
		return err
	}
	return writeReport(cmd, rep, sc, time.Since(start), out, format, quiet, detail)
}

// writeReport prints the tables and writes the report's files.
func writeReport(cmd *cobra.Command, rep *Report, sc *Scenario, wall time.Duration, out, format string, quiet, detail bool) error {
	if err := rep.WriteText(cmd.OutOrStdout(), detail); err != nil {
		return err
	}
	if out != "" {
		dir := strings.ReplaceAll(out, "{scenario}", sc.Name)
		pf := format
		if pf == "none" {
			pf = ""
		}
		files, err := rep.WriteFiles(dir, pf)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "report: %s (%d files: %s, ...)\n", filepath.Join(dir, MarkdownFile), len(files), strings.Join(files[:min(4, len(files))], ", "))
	}
	if !quiet {
		runs := len(rep.Runs)
		if rep.Baseline != nil {
			runs++
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%d policies × %s of %s in %v\n", runs, rep.Horizon, rep.timeKind(), wall.Round(time.Millisecond))
	}
	return nil
}

// newGuestCommand is the live guest (live_guest.go): hidden, since the
// harness starts it, not a person.
func newGuestCommand() *cobra.Command {
	var specJSON string
	cmd := &cobra.Command{
		Use:          "guest --spec '<json>'",
		Short:        "Run one domain's workload of a live run (started by bench --mode live)",
		Hidden:       true,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if specJSON == "" {
				return errGuestUsage
			}
			s, err := ParseGuestSpec([]byte(specJSON))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return RunGuest(ctx, s, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&specJSON, "spec", "", "the guest's GuestSpec as JSON")
	return cmd
}

func newListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the shipped scenarios and the policies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "SCENARIO\tHORIZON\tDOMAINS\tDESCRIPTION")
			for _, name := range Shipped() {
				sc, err := Load(name)
				if err != nil {
					return err
				}
				desc := sc.Description
				if i := strings.IndexAny(desc, ".:"); i > 0 {
					desc = desc[:i]
				}
				fmt.Fprintf(w, "%s\t%v\t%d\t%s\n", name, sc.Horizon, len(sc.Domains()), desc)
			}
			fmt.Fprintln(w)
			fmt.Fprintln(w, "POLICY\tORIGIN\tDEFAULT\tDESCRIPTION")
			defaults := DefaultPolicies()
			for _, p := range Policies() {
				def := ""
				for _, d := range defaults {
					if d == p.Name {
						def = "yes"
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, p.Origin, def, p.Description)
			}
			return w.Flush()
		},
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
