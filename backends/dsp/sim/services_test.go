package sim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/internal/dspref"
)

func TestFIRMatchesNaive(t *testing.T) {
	for _, c := range []struct{ taps, samples int }{{1, 1}, {1, 17}, {7, 3}, {64, 240}, {1024, 240}} {
		h, x := dspref.Samples(uint64(c.taps), c.taps), dspref.Samples(uint64(c.samples)+99, c.samples)
		y := make([]float32, c.samples)
		FIR(y, h, x)
		assert.Equal(t, dspref.FIR(h, x), y, "taps=%d samples=%d", c.taps, c.samples)
	}
	// A unit impulse returns the coefficients.
	h := []float32{0.5, -0.25, 0.125}
	y := make([]float32, 5)
	FIR(y, h, []float32{1, 0, 0, 0, 0})
	assert.Equal(t, []float32{0.5, -0.25, 0.125, 0, 0}, y)
}

func TestFFTMatchesNaiveDFT(t *testing.T) {
	for _, n := range []int{2, 4, 8, 64, 1024} {
		x := dspref.Samples(uint64(n), 2*n)
		for _, inv := range []bool{false, true} {
			y := make([]float32, 2*n)
			FFT(y, x, inv)
			tol := dspref.FFTTolerance(n)
			if inv {
				tol /= float64(n)
			}
			assert.LessOrEqual(t, dspref.MaxAbsDiff(y, dspref.DFT(x, inv)), tol, "n=%d inverse=%v", n, inv)
		}
	}
	// Known values: the transform of a unit impulse is all ones; of a
	// constant, n at bin 0.
	y := make([]float32, 8)
	FFT(y, []float32{1, 0, 0, 0, 0, 0, 0, 0}, false)
	assert.Equal(t, []float32{1, 0, 1, 0, 1, 0, 1, 0}, y)
	FFT(y, []float32{1, 0, 1, 0, 1, 0, 1, 0}, false)
	assert.Equal(t, []float32{4, 0, 0, 0, 0, 0, 0, 0}, y)
}

func TestFFTRoundTrip(t *testing.T) {
	const n = 4096
	x := dspref.Samples(5, 2*n)
	y, z := make([]float32, 2*n), make([]float32, 2*n)
	FFT(y, x, false)
	FFT(z, y, true)
	var worst float64
	for i := range x {
		worst = math.Max(worst, math.Abs(float64(z[i]-x[i])))
	}
	assert.Less(t, worst, 1e-5)
}

func TestMixMatchesNaive(t *testing.T) {
	gains := []float32{0.5, 0.25, -0.75, 1}
	x := dspref.Samples(3, 4*240)
	y := make([]float32, 240)
	Mix(y, gains, x)
	assert.Equal(t, dspref.Mix(gains, x), y)
	// Saturation.
	y = y[:1]
	Mix(y, []float32{1, 1}, []float32{0.75, 0.75})
	assert.Equal(t, float32(1), y[0])
	Mix(y, []float32{1, 1}, []float32{-0.75, -0.75})
	assert.Equal(t, float32(-1), y[0])
}

func TestFFTLargestSize(t *testing.T) {
	if testing.Short() {
		t.Skip("the naive check of 64 Ki points is slow; -short skips it")
	}
	// At the largest size check a few bins against the definition.
	const n = 1 << 16
	x := dspref.Samples(11, 2*n)
	y := make([]float32, 2*n)
	FFT(y, x, false)
	for _, k := range []int{0, 1, 777, n / 2, n - 1} {
		var re, im float64
		for tt := range n {
			s, c := math.Sincos(-2 * math.Pi * float64((k*tt)%n) / n)
			re += float64(x[2*tt])*c - float64(x[2*tt+1])*s
			im += float64(x[2*tt])*s + float64(x[2*tt+1])*c
		}
		require.InDelta(t, re, y[2*k], dspref.FFTTolerance(n), "bin %d re", k)
		require.InDelta(t, im, y[2*k+1], dspref.FFTTolerance(n), "bin %d im", k)
	}
}
