package daemon

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/spec"
)

// TestDSPCallsThroughTheDaemon is the path BenchmarkDSPCallThroughDaemon
// measures, checked for results: a guest of the audio domain calls each
// DSP service over the daemon's paravirtual socket and gets what the
// services' definitions (spec/refdsp.go) say, computed here independently
// of the DSP model; a call over the device's per-call budget is refused
// with the numbers before it runs. The daemon runs in this process, and in
// a process of its own as the benchmark runs it.
func TestDSPCallsThroughTheDaemon(t *testing.T) {
	t.Run("in-process", func(t *testing.T) { checkDSPCalls(t, startDSPDaemon(t)) })
	t.Run("own-process", func(t *testing.T) { checkDSPCalls(t, startDSPDaemonProcess(t)) })
}

func checkDSPCalls(t *testing.T, sock string) {
	g := dialDSPGuest(t, sock, frontend.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	x := dspSamples(1, 2*256)
	fft := g.fftCall(x, false)
	require.NoError(t, g.roundTrip(ctx, fft))
	want := naiveDFT(x)
	got := fft.result()
	// float32 rounding of a 256-point transform of samples in [-1, 1).
	tolerance := 4e-7 * math.Sqrt(256) * 8 * 4
	for i := range want {
		require.InDelta(t, want[i], got[i], tolerance, "FFT bin %d (re/im %d)", i/2, i%2)
	}
	ifft := g.fftCall(got, true)
	require.NoError(t, g.roundTrip(ctx, ifft))
	back := ifft.result()
	for i := range x {
		require.InDelta(t, x[i], back[i], tolerance, "inverse FFT sample %d (re/im %d)", i/2, i%2)
	}

	h, s := dspSamples(2, 64), dspSamples(3, 300)
	fir := g.firCall(h, s)
	require.NoError(t, g.roundTrip(ctx, fir))
	assert.Equal(t, naiveFIR(h, s), fir.result(), "FIR, bit for bit")

	// Gains over 1 make some frames clamp.
	gains := []float32{0.9, -0.7, 1.3}
	frames := dspSamples(4, 3*100)
	mix := g.mixCall(gains, frames)
	require.NoError(t, g.roundTrip(ctx, mix))
	wantMix := naiveMix(gains, frames)
	require.True(t, slices.ContainsFunc(wantMix, func(v float32) bool { return v == 1 || v == -1 }), "some frames clamp")
	assert.Equal(t, wantMix, mix.result(), "mix, bit for bit")

	// The same job again runs again: the fence moves on.
	require.NoError(t, g.roundTrip(ctx, fir))
	assert.Equal(t, g.value, g.dsp.Fence())

	// 1024 taps over 65536 samples is about 2.13 ms of device time, over
	// dsp0's 2 ms budget: refused at submission, nothing runs.
	long := g.firCall(dspSamples(5, spec.RefDSPMaxTaps), dspSamples(6, spec.RefDSPMaxSamples))
	err := g.roundTrip(ctx, long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over the per-call budget of 2ms")
	assert.Equal(t, make([]float32, spec.RefDSPMaxSamples), long.result(), "the refused call wrote nothing")
}

// naiveDFT is the DFT of interleaved complex samples, in float64.
func naiveDFT(x []float32) []float64 {
	n := len(x) / 2
	out := make([]float64, 2*n)
	for k := range n {
		var re, im float64
		for t := range n {
			s, c := math.Sincos(-2 * math.Pi * float64((k*t)%n) / float64(n))
			re += float64(x[2*t])*c - float64(x[2*t+1])*s
			im += float64(x[2*t])*s + float64(x[2*t+1])*c
		}
		out[2*k], out[2*k+1] = re, im
	}
	return out
}

// naiveFIR is spec.DSPServiceFIR's definition: products rounded to
// float32, summed in float32 in increasing k, from rest.
func naiveFIR(h, x []float32) []float32 {
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

// naiveMix is spec.DSPServiceMix's definition.
func naiveMix(gains, x []float32) []float32 {
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
