package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/internal/benchref"
	"github.com/coprocd/coprocd/spec"
)

// BenchmarkSaxpyDispatch times one saxpy DISPATCH of 64 Ki elements (1024
// workgroups), from Enqueue to Idle, every operand moving through the IOMMU,
// against the same saxpy over plain Go slices.
func BenchmarkSaxpyDispatch(b *testing.B) {
	const n = 64 << 10
	g := newGPU(b, Config{})
	d := newDomain(b, g, "bench")
	x, y := randFloats(1, n), randFloats(2, n)
	xa, _ := d.floats(x)
	ya, _ := d.floats(y)
	d.on()
	job := &coproc.Job{Commands: []spec.Command{dispatch(spec.KernelSaxpy, n/64, n, f32bits(1e-3), xa, ya)}}
	b.SetBytes(12 * n)

	benchref.Compare(b,
		func(ops int) {
			alpha := float32(1e-3)
			for range ops {
				for i := range y {
					y[i] = float32(alpha*x[i]) + y[i]
				}
			}
		},
		func(ops int) {
			for range ops {
				if err := g.Enqueue(d.ctx, job); err != nil {
					b.Fatal(err)
				}
				res, err := g.Run(time.Hour)
				if err != nil || res.State != coproc.Idle {
					b.Fatal(err, res.State)
				}
			}
		})
	require.Zero(b, g.Pending(d.ctx))
}
