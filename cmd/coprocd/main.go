// Command coprocd is the coprocessor-sharing daemon.
//
// Today it has one subcommand, demo, which runs three in-process domains on
// one reference GPU and prints their results and the switch trace. The
// daemon proper (configuration, control API, paravirtual endpoint) comes in
// its own issue and will be the command's default action.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/coprocd/coprocd/internal/demo"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:          "coprocd",
		Short:        "Share GPUs, DSPs and FPGAs among domains by mediated pass-through",
		SilenceUsage: true,
	}
	root.AddCommand(newDemoCommand())
	return root
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
