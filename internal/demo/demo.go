// Package demo is the in-process demonstration behind `coprocd demo`: three
// domains share one reference GPU, each computing on its own buffers through
// a different door (the command ring with its doorbell, Submit, device
// memory), and every result is checked against the same computation done on
// the CPU. It runs under a virtual clock, so its output (the switch trace
// included) is the same on every machine and every run.
package demo

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/coprocd/coprocd/backends/gpu/sim"
	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/scheduler"
)

// Options configure the demo.
type Options struct {
	// Slice is the round-robin slice; default 50 µs, short against every
	// job so the device changes hands many times.
	Slice time.Duration
}

// Result is what the demo computed and observed.
type Result struct {
	Policy      string
	Slice       time.Duration
	Domains     []DomainResult
	Trace       []mediator.Switch
	Device      mediator.DeviceStats
	VirtualTime time.Duration
}

// DomainResult is one domain's work and its verdict.
type DomainResult struct {
	Name   string
	Work   string
	Door   string
	OK     bool
	Detail string
	Stats  mediator.VCoprocStats
}

// AllCorrect reports whether every domain's result matched the CPU's.
func (r *Result) AllCorrect() bool {
	for _, d := range r.Domains {
		if !d.OK {
			return false
		}
	}
	return true
}

// Run runs the demo.
func Run(opts Options) (*Result, error) {
	if opts.Slice == 0 {
		opts.Slice = 50 * time.Microsecond
	}
	clk := clock.NewVirtual()
	m, err := mediator.New(mediator.Config{Clock: clk})
	if err != nil {
		return nil, err
	}
	gpu, err := sim.New(sim.Config{VRAMBytes: 16 << 20})
	if err != nil {
		return nil, err
	}
	caps := gpu.Caps()
	rr, err := scheduler.NewRoundRobin(opts.Slice, scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible})
	if err != nil {
		return nil, err
	}
	dev, err := m.AddDevice("gpu0", gpu, rr)
	if err != nil {
		return nil, err
	}

	workloads := []workload{newCluster(), newIVI(), newADAS()}
	for _, w := range workloads {
		if err := w.start(m); err != nil {
			return nil, err
		}
	}
	if err := dev.RunUntilIdle(clk, time.Minute); err != nil {
		return nil, err
	}
	res := &Result{Policy: rr.Name(), Slice: opts.Slice, Trace: dev.Trace(), Device: dev.Stats(), VirtualTime: clk.Now()}
	for _, w := range workloads {
		d := w.check()
		d.Stats = w.guest().vc.Stats()
		for _, e := range w.guest().vc.Events() {
			if e.Kind != mediator.EventFence && e.Kind != mediator.EventJobDone {
				d.OK = false
				d.Detail += fmt.Sprintf("; unexpected event %v", e)
			}
		}
		res.Domains = append(res.Domains, d)
	}
	return res, nil
}

// Print writes the results table, the first traceLines switches, and the
// counters.
func (r *Result) Print(w io.Writer, traceLines int) {
	fmt.Fprintf(w, "coprocd demo: %d domains share one reference GPU (coprocd-refgpu) under %s, slice %v, virtual clock\n\n",
		len(r.Domains), r.Policy, r.Slice)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tWORK\tDOOR\tRESULT\tBUSY\tSWITCHED IN")
	for _, d := range r.Domains {
		verdict := "correct"
		if !d.OK {
			verdict = "WRONG"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s: %s\t%v\t%d\n", d.Name, d.Work, d.Door, verdict, d.Detail, d.Stats.Busy, d.Stats.SwitchesIn)
	}
	tw.Flush()
	n := min(traceLines, len(r.Trace))
	fmt.Fprintf(w, "\nswitch trace (first %d of %d):\n", n, len(r.Trace))
	for _, s := range r.Trace[:n] {
		fmt.Fprintf(w, "  %v\n", s)
	}
	fmt.Fprintf(w, "\ngpu0: %d switches costing %v, %v busy, %v of virtual time\n",
		r.Device.Switches, r.Device.SwitchTime, r.Device.Busy, r.VirtualTime)
}

type workload interface {
	start(*mediator.Mediator) error
	check() DomainResult
	guest() *guest
}

// guest is the guest side of a domain: its memory and its vcoproc.
type guest struct {
	dom  *mediator.Domain
	vc   *mediator.VCoproc
	next uint64
}

func newGuest(m *mediator.Mediator, name string, quota uint64) (*guest, error) {
	dom, err := m.CreateDomain(name)
	if err != nil {
		return nil, err
	}
	vc, err := m.Attach(name, "gpu0", mediator.VCoprocConfig{MemoryQuota: quota})
	if err != nil {
		return nil, err
	}
	return &guest{dom: dom, vc: vc, next: 0x10_0000}, nil
}

// alloc maps page-rounded guest memory at the next free IOVA.
func (g *guest) alloc(size uint64) (uint64, []byte, error) {
	pages := max((size+iommu.PageSize-1)/iommu.PageSize, 1)
	mem := make([]byte, pages*iommu.PageSize)
	iova := g.next
	g.next += uint64(len(mem)) + iommu.PageSize // keep a guard page unmapped
	return iova, mem, g.dom.Map(iova, mem, iommu.ReadWrite)
}

func (g *guest) floats(v []float32) (uint64, []byte, error) {
	iova, mem, err := g.alloc(4 * uint64(len(v)))
	for i, f := range v {
		binary.LittleEndian.PutUint32(mem[4*i:], math.Float32bits(f))
	}
	return iova, mem, err
}

func (g *guest) words(v ...uint64) (uint64, error) {
	iova, mem, err := g.alloc(8 * uint64(len(v)))
	for i, w := range v {
		binary.LittleEndian.PutUint64(mem[8*i:], w)
	}
	return iova, err
}

func readFloats(b []byte, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func f32bits(f float32) uint64 { return uint64(math.Float32bits(f)) }
