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
	"github.com/coprocd/coprocd/internal/dspref"
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

	x := dspref.Samples(1, 2*256)
	fft := g.fftCall(x, false)
	require.NoError(t, g.roundTrip(ctx, fft))
	want := dspref.DFT(x, false)
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

	h, s := dspref.Samples(2, 64), dspref.Samples(3, 300)
	fir := g.firCall(h, s)
	require.NoError(t, g.roundTrip(ctx, fir))
	assert.Equal(t, dspref.FIR(h, s), fir.result(), "FIR, bit for bit")

	// Gains over 1 make some frames clamp.
	gains := []float32{0.9, -0.7, 1.3}
	frames := dspref.Samples(4, 3*100)
	mix := g.mixCall(gains, frames)
	require.NoError(t, g.roundTrip(ctx, mix))
	wantMix := dspref.Mix(gains, frames)
	require.True(t, slices.ContainsFunc(wantMix, func(v float32) bool { return v == 1 || v == -1 }), "some frames clamp")
	assert.Equal(t, wantMix, mix.result(), "mix, bit for bit")

	// The same job again runs again: the fence moves on.
	require.NoError(t, g.roundTrip(ctx, fir))
	assert.Equal(t, g.value, g.dsp.Fence())

	// 1024 taps over 65536 samples is about 2.13 ms of device time, over
	// dsp0's 2 ms budget: refused at submission, nothing runs.
	long := g.firCall(dspref.Samples(5, spec.RefDSPMaxTaps), dspref.Samples(6, spec.RefDSPMaxSamples))
	err := g.roundTrip(ctx, long)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over the per-call budget of 2ms")
	assert.Equal(t, make([]float32, spec.RefDSPMaxSamples), long.result(), "the refused call wrote nothing")
}
