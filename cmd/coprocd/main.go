// Command coprocd is the coprocessor-sharing daemon.
//
// With no arguments it runs on its embedded default configuration (a
// reference GPU and three example domains; see `coprocd config`), which
// works on any machine. `coprocd demo` runs three in-process domains on one
// reference GPU and prints their results and the switch trace; `coprocd
// bench` runs the benchmark harness's scenarios across policies.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/coprocd/coprocd/bench"
	"github.com/coprocd/coprocd/daemon"
	"github.com/coprocd/coprocd/internal/demo"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	var configPath, logLevel string
	root := &cobra.Command{
		Use:   "coprocd",
		Short: "Share GPUs, DSPs and FPGAs among domains by mediated pass-through",
		Long: `coprocd runs the daemon: it mediates every configured device, serves the
control API (coprocctl talks to it) and Prometheus metrics, and keeps its
domains across restarts. Without --config it runs on the embedded default
configuration, printed by 'coprocd config'.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg, err := daemon.LoadConfig(configPath)
			if err != nil {
				return err
			}
			d, err := daemon.New(cfg, log)
			if err != nil {
				return err
			}
			reload := func() (*daemon.Config, error) { return daemon.LoadConfig(configPath) }
			return d.Run(context.Background(), reload)
		},
	}
	root.Flags().StringVarP(&configPath, "config", "c", "", "configuration file (default: the embedded configuration)")
	root.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	root.AddCommand(newDemoCommand(), newConfigCommand(), bench.NewCommand())
	return root
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func newConfigCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Print the embedded default configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(daemon.DefaultConfigYAML)
			return err
		},
	}
}

func newDemoCommand() *cobra.Command {
	var slice time.Duration
	var traceLines int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Three domains share one reference GPU in-process; print results and the switch trace",
		Long: `demo creates three domains on one reference GPU under round-robin:
cluster runs saxpy through its command ring and doorbell, ivi multiplies
matrices in its slice of device memory, adas reduces a vector. Every result is
checked against the CPU. It runs under a virtual clock, so the output is the
same on every run. The exit status is 1 if any result is wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if slice <= 0 {
				return fmt.Errorf("--slice %v: must be positive", slice)
			}
			if traceLines < 0 {
				return fmt.Errorf("--trace %d: must not be negative", traceLines)
			}
			res, err := demo.Run(demo.Options{Slice: slice})
			if err != nil {
				return err
			}
			res.Print(cmd.OutOrStdout(), traceLines)
			if !res.AllCorrect() {
				return fmt.Errorf("a domain computed a wrong result")
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&slice, "slice", 50*time.Microsecond, "round-robin time slice")
	cmd.Flags().IntVar(&traceLines, "trace", 24, "how many context switches of the trace to print")
	return cmd
}
