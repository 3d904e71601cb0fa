package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/spec"
)

func saxpyRef(alpha float32, x, y []float32) []float32 {
	out := make([]float32, len(y))
	for i := range y {
		out[i] = float32(alpha*x[i]) + y[i]
	}
	return out
}

func sgemmRef(m, n, k int, a, b []float32) []float32 {
	c := make([]float32, m*n)
	for i := range m {
		for p := range k {
			for j := range n {
				c[i*n+j] += float32(a[i*k+p] * b[p*n+j])
			}
		}
	}
	return c
}

func TestSaxpy(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	const n = 1000 // 15 full workgroups and a partial one
	rng := lcg(1)
	x, y := rng.floats(n), rng.floats(n)
	xa, _ := d.floats(x)
	ya, ymem := d.floats(y)
	const alpha = float32(2.5)
	d.on()
	d.enqueue(7, dispatch(spec.KernelSaxpy, 20, n, f32bits(alpha), xa, ya)) // 4 workgroups beyond the data
	ev, used := runIdle(t, g, time.Hour)

	assert.Equal(t, []coproc.Event{{Kind: coproc.EventJobDone, Job: 7}}, untimed(ev))
	assert.Equal(t, saxpyRef(alpha, x, y), testutil.GetFloats(ymem))
	c := g.cost
	want := c.IssueCycles + 15*(c.LaunchCycles+c.transfer(12*64)+c.compute(2*64)) +
		(c.LaunchCycles + c.transfer(12*(n%64)) + c.compute(2*(n%64))) + 4*c.LaunchCycles
	assert.Equal(t, time.Duration(want), used, "1 GHz: one cycle is one nanosecond")
}

func TestSgemm(t *testing.T) {
	for _, dims := range [][3]int{{7, 33, 19}, {3, 1100, 40}, {1, 1, 1}} {
		m, n, k := dims[0], dims[1], dims[2] // n = 1100: B is read 14 rows at a time
		g := newGPU(t, Config{})
		d := newDomain(t, g, "a")
		rng := lcg(2)
		a, b := rng.floats(m*k), rng.floats(k*n)
		aa, _ := d.floats(a)
		ba, _ := d.floats(b)
		ca, cmem := d.alloc(4 * uint64(m*n))
		d.on()
		d.enqueue(1, dispatch(spec.KernelSgemm, uint64(m+1), uint64(m), uint64(n), uint64(k), aa, ba, ca))
		ev, used := runIdle(t, g, time.Hour)
		assert.Equal(t, []coproc.EventKind{coproc.EventJobDone}, kinds(ev))
		c := g.cost
		row := c.LaunchCycles + c.transfer(uint64(4*(k+k*n+n))) + c.compute(uint64(2*k*n))
		assert.Equal(t, time.Duration(c.IssueCycles+uint64(m)*row+c.LaunchCycles), used)

		got, want := testutil.GetFloats(cmem), sgemmRef(m, n, k, a, b)
		assert.Equal(t, want, got, "same accumulation order: bit-identical, %v", dims)
		// And against a float64 reference, to catch a shared mistake.
		for i := range m {
			for j := range n {
				var s float64
				for p := range k {
					s += float64(a[i*k+p]) * float64(b[p*n+j])
				}
				assert.InDelta(t, s, got[i*n+j], 1e-4, "C[%d][%d] of %v", i, j, dims)
			}
		}
	}
}

func TestReduceSum(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	const n = 1000
	rng := lcg(3)
	x := rng.floats(n)
	xa, _ := d.floats(x)
	oa, omem := d.floats([]float32{1.5})
	d.on()
	d.enqueue(1, dispatch(spec.KernelReduceSum, (n+63)/64, n, xa, oa))
	ev, _ := runIdle(t, g, time.Hour)
	assert.Equal(t, []coproc.EventKind{coproc.EventJobDone}, kinds(ev))

	want := 1.5
	for _, v := range x {
		want += float64(v)
	}
	assert.InDelta(t, want, testutil.GetFloats(omem)[0], 1e-3)
	assert.NotZero(t, want-1.5, "the data must not sum to nothing")
}

// TestLocalMemoryNeverLeaks runs the LeftoverLocals listener (local_read)
// after a reduce_sum that filled local memory: in the same context, and in
// another context that is switched in while the reduce_sum is preempted.
func TestLocalMemoryNeverLeaks(t *testing.T) {
	const words = spec.RefGPULocalMemoryBytes / 4
	g := newGPU(t, Config{})
	victim, listener := newDomain(t, g, "victim"), newDomain(t, g, "listener")
	x := make([]float32, 64*64)
	for i := range x {
		x[i] = 3 // local memory holds 3s and partial sums after a workgroup
	}
	xa, _ := victim.floats(x)
	oa, omem := victim.floats([]float32{0})
	vOut, vMem := victim.alloc(4 * words)
	lOut, lMem := listener.alloc(4 * words)
	for i := range vMem {
		vMem[i], lMem[i] = 0xAA, 0xAA
	}

	// Same context: reduce_sum, then local_read.
	victim.on()
	victim.enqueue(1, dispatch(spec.KernelReduceSum, 64, uint64(len(x)), xa, oa))
	res, err := g.Run(time.Hour)
	require.NoError(t, err)
	require.Equal(t, coproc.Idle, res.State)
	assert.Equal(t, float32(3*len(x)), testutil.GetFloats(omem)[0])
	assert.NotEqual(t, make([]byte, 256), g.local[:256], "precondition: the kernel used local memory")
	victim.enqueue(2, dispatch(spec.KernelLocalRead, words/64, words, vOut))
	runIdle(t, g, time.Hour)
	assert.Equal(t, make([]byte, 4*words), vMem, "a new launch sees cleared local memory")

	// Another context: the victim is preempted mid reduce_sum.
	victim.enqueue(3, dispatch(spec.KernelReduceSum, 64, uint64(len(x)), xa, oa))
	res, err = g.Run(time.Microsecond)
	require.NoError(t, err)
	require.Equal(t, coproc.Preempted, res.State)
	require.NotEqual(t, make([]byte, 256), g.local[:256], "precondition: the kernel is using local memory")
	victim.off()
	assert.Equal(t, make([]byte, len(g.local)), g.local, "switching out clears local memory")
	listener.on()
	listener.enqueue(1, dispatch(spec.KernelLocalRead, words/64, words, lOut))
	runIdle(t, g, time.Hour)
	assert.Equal(t, make([]byte, 4*words), lMem, "the listener reads zeros")
	listener.off()

	victim.on()
	runIdle(t, g, time.Hour)
	assert.Equal(t, float32(2*3*len(x)), testutil.GetFloats(omem)[0], "the preempted reduce_sum resumed and finished")
}

func TestDispatchOfNothing(t *testing.T) {
	g := newGPU(t, Config{})
	d := newDomain(t, g, "a")
	d.on()
	// n = 0: every workgroup lies beyond the data and only costs a launch;
	// the addresses are never touched (they are not mapped).
	d.enqueue(1, dispatch(spec.KernelSaxpy, 10, 0, 0, 0x40_0000_0000, 0x40_0000_0000))
	c := g.cost
	require.Equal(t, uint64(100), c.IssueCycles)
	require.Equal(t, uint64(200), c.LaunchCycles)
	// The budget is checked before each launch: 100 (issue), 300, 500: stop.
	res, err := g.Run(500)
	require.NoError(t, err)
	assert.Equal(t, coproc.Preempted, res.State)
	assert.Equal(t, time.Duration(500), res.Used)
	assert.Equal(t, uint64(2), d.ctx.(*context).pos.group)
	res, err = g.Run(401) // 0, 200, 400: three launches
	require.NoError(t, err)
	assert.Equal(t, time.Duration(600), res.Used)
	assert.Equal(t, uint64(5), d.ctx.(*context).pos.group)
	ev, used := runIdle(t, g, time.Hour)
	assert.Equal(t, []coproc.EventKind{coproc.EventJobDone}, kinds(ev))
	assert.Equal(t, time.Duration(5*c.LaunchCycles), used)
}
