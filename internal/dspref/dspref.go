// Package dspref holds the reference DSP's services as spec/refdsp.go
// defines them, written plainly and independently of backends/dsp/sim's
// implementations, for tests to check results against (the DSP model's
// own tests, the daemon's calls through its socket); and the test data
// they feed them.
package dspref

import "math"

// FIR is spec.DSPServiceFIR's definition: products rounded to float32,
// summed in float32 in increasing k, from rest.
func FIR(h, x []float32) []float32 {
	y := make([]float32, len(x))
	for n := range x {
		var acc float32
		for k := 0; k < len(h) && k <= n; k++ {
			acc += float32(h[k] * x[n-k])
		}
		y[n] = acc
	}
	return y
}

// DFT is the exact discrete Fourier transform of interleaved complex
// samples, in float64 (inverse: scaled by 1/n), against which the DSP's
// float32 FFT is checked within FFTTolerance.
func DFT(x []float32, inverse bool) []float64 {
	n := len(x) / 2
	out := make([]float64, 2*n)
	sign := -1.0
	if inverse {
		sign = 1
	}
	for k := range n {
		var re, im float64
		for t := range n {
			s, c := math.Sincos(sign * 2 * math.Pi * float64((k*t)%n) / float64(n))
			xr, xi := float64(x[2*t]), float64(x[2*t+1])
			re += xr*c - xi*s
			im += xr*s + xi*c
		}
		if inverse {
			re, im = re/float64(n), im/float64(n)
		}
		out[2*k], out[2*k+1] = re, im
	}
	return out
}

// FFTTolerance bounds a float32 FFT's error against the exact DFT for
// inputs in [-1, 1]: outputs grow like sqrt(n), rounding like log2(n).
func FFTTolerance(n int) float64 {
	return 4e-7 * math.Sqrt(float64(n)) * math.Log2(float64(n)) * 4
}

// Mix is spec.DSPServiceMix's definition: the channels weighted by their
// gains and summed in float32, clamped to [-1, 1].
func Mix(gains, x []float32) []float32 {
	c := len(gains)
	y := make([]float32, len(x)/c)
	for f := range y {
		var acc float32
		for ch := range c {
			acc += float32(gains[ch] * x[f*c+ch])
		}
		y[f] = max(-1, min(1, acc))
	}
	return y
}

// MaxAbsDiff is the largest difference between got and want.
func MaxAbsDiff(got []float32, want []float64) float64 {
	var worst float64
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i])-want[i]))
	}
	return worst
}

// Samples is n deterministic samples in [-1, 1), from seed.
func Samples(seed uint64, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		seed = seed*6364136223846793005 + 1442695040888963407
		v[i] = float32(seed>>40)/float32(1<<23) - 1
	}
	return v
}
