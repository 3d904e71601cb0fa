// Command coprocd-guest is the example guest: it connects to its domain's
// paravirtual socket, finds the domain's reference GPU, and runs saxpy jobs
// on it, checking every result against the CPU and printing the rate.
//
//	coprocd-guest --domain cluster            # on a daemon with the default configuration
//	coprocd-guest --socket /run/coprocd/pv/cluster.sock --jobs 0   # until interrupted
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/spec"
)

func main() {
	if err := newCommand(os.Stdout).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "coprocd-guest:", err)
		os.Exit(1)
	}
}

func newCommand(out io.Writer) *cobra.Command {
	var socket, domain string
	var jobs, elems int
	cmd := &cobra.Command{
		Use:           "coprocd-guest",
		Short:         "Run saxpy jobs on a domain's reference GPU through the paravirtual frontend",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(*cobra.Command, []string) error {
			if socket == "" {
				socket = filepath.Join(api.DefaultRuntimeDir(), "pv", domain+".sock")
			}
			if elems <= 0 || elems%spec.RefGPUWorkgroupSize != 0 {
				return fmt.Errorf("--elements %d: must be a positive multiple of %d", elems, spec.RefGPUWorkgroupSize)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, out, socket, jobs, elems)
		},
	}
	cmd.Flags().StringVar(&domain, "domain", "cluster", "the domain whose socket to use (<runtime_dir>/pv/<domain>.sock)")
	cmd.Flags().StringVar(&socket, "socket", "", "the paravirtual socket (overrides --domain)")
	cmd.Flags().IntVar(&jobs, "jobs", 20, "jobs to run; 0 runs until interrupted")
	cmd.Flags().IntVar(&elems, "elements", 1<<16, "saxpy vector length")
	return cmd
}

func run(ctx context.Context, out io.Writer, socket string, jobs, n int) error {
	c, err := frontend.Dial(socket, frontend.Options{})
	if err != nil {
		return err
	}
	defer c.Close()
	var gpu *frontend.Device
	for _, d := range c.Devices() {
		if d.Info().Model == spec.ReferenceGPU().Model {
			gpu = d
		}
	}
	if gpu == nil {
		return fmt.Errorf("domain %q has no reference GPU", c.Domain())
	}
	fmt.Fprintf(out, "domain %s: %s (%s)\n", c.Domain(), gpu.Name(), gpu.Info().Model)

	x, err := c.Alloc(ctx, uint64(4*n), spec.PVPermRead)
	if err != nil {
		return err
	}
	y, err := c.Alloc(ctx, uint64(4*n), spec.PVPermReadWrite)
	if err != nil {
		return err
	}
	args, err := c.Alloc(ctx, 4096, spec.PVPermRead)
	if err != nil {
		return err
	}
	const alpha = 2
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(x.Bytes[4*i:], math.Float32bits(float32(i%100)))
	}
	for i, w := range []uint64{uint64(n), uint64(math.Float32bits(alpha)), x.IOVA, y.IOVA} {
		binary.LittleEndian.PutUint64(args.Bytes[8*i:], w)
	}
	cmds := spec.Encode(nil, spec.OpDispatch, spec.KernelSaxpy, uint64(n/spec.RefGPUWorkgroupSize), args.IOVA)

	start := time.Now()
	done := 0
	for jobs == 0 || done < jobs {
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(y.Bytes[4*i:], math.Float32bits(float32(done)))
		}
		job, err := gpu.Submit(ctx, cmds)
		if err == nil {
			err = gpu.WaitJob(ctx, job)
		}
		if errors.Is(err, context.Canceled) {
			break
		}
		if err != nil {
			return fmt.Errorf("job %d: %w", done+1, err)
		}
		for i := 0; i < n; i++ {
			got := math.Float32frombits(binary.LittleEndian.Uint32(y.Bytes[4*i:]))
			if want := alpha*float32(i%100) + float32(done); got != want {
				return fmt.Errorf("job %d: y[%d] = %v, want %v", done+1, i, got, want)
			}
		}
		done++
		if done%10 == 0 || done == jobs {
			el := time.Since(start)
			fmt.Fprintf(out, "%d jobs correct, %.1f jobs/s\n", done, float64(done)/el.Seconds())
		}
	}
	return nil
}
