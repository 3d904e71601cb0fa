package sim

import (
	"math"
	"math/bits"
	"sync"

	"github.com/coprocd/coprocd/spec"
)

// The services are plain functions over float32 slices: the DSP's engine
// moves the data in and out through the IOMMU and calls them, and tests and
// benchmarks call them directly as the bare baseline. Every product is
// converted to float32 before it is added, which forbids the compiler to
// fuse the multiply and the add (the Go spec allows fusing otherwise), so
// results are bit-identical on every architecture.

// FIR filters in with coeffs into out (len(out) == len(in)), starting from
// rest: out[n] = Σ_{k=0}^{min(len(coeffs)-1, n)} coeffs[k]·in[n-k], summed in
// increasing k.
func FIR(out, coeffs, in []float32) {
	out = out[:len(in)]
	for n := range in {
		var acc float32
		h := coeffs[:min(len(coeffs), n+1)]
		x := in[n+1-len(h) : n+1] // x[len(h)-1-k] is in[n-k]
		last := len(h) - 1
		for k, c := range h {
			acc += float32(c * x[last-k])
		}
		out[n] = acc
	}
}

// Mix mixes len(gains) interleaved channels of len(out) frames from in
// down to out: out[f] = clamp(Σ_c gains[c]·in[f·channels+c], -1, 1).
func Mix(out, gains, in []float32) {
	ch := len(gains)
	for f := range out {
		row := in[f*ch : f*ch+ch]
		var acc float32
		for c, g := range gains {
			acc += float32(g * row[c])
		}
		out[f] = min(max(acc, -1), 1)
	}
}

// twiddle holds e^{-2πik/N} for k < N/2, N = spec.RefDSPMaxFFTPoints, in
// float32: the DSP's twiddle ROM. A transform of n points uses every
// (N/n)-th entry.
type twiddle struct{ re, im []float32 }

var twiddles = sync.OnceValue(func() twiddle {
	const n = spec.RefDSPMaxFFTPoints
	t := twiddle{re: make([]float32, n/2), im: make([]float32, n/2)}
	for k := range n / 2 {
		s, c := math.Sincos(2 * math.Pi * float64(k) / n)
		t.re[k], t.im[k] = float32(c), float32(-s)
	}
	return t
})

// FFT transforms len(in)/2 interleaved (re, im) complex samples into out
// (len(out) >= len(in); out must not overlap in). The length must be a power
// of two of at least 2 points and at most spec.RefDSPMaxFFTPoints. The
// forward transform is out[k] = Σ_t in[t]·e^{-2πi·kt/n}; the inverse uses
// e^{+2πi·kt/n} and scales by 1/n.
func FFT(out, in []float32, inverse bool) {
	n := len(in) / 2
	logn := bits.TrailingZeros(uint(n))
	out = out[:2*n]
	for i := range n {
		j := int(bits.Reverse32(uint32(i)) >> (32 - logn))
		out[2*j], out[2*j+1] = in[2*i], in[2*i+1]
	}
	tw := twiddles()
	sign := float32(1)
	if inverse {
		sign = -1
	}
	for size := 2; size <= n; size <<= 1 {
		half := size / 2
		stride := spec.RefDSPMaxFFTPoints / size
		for j := range half {
			wr, wi := tw.re[j*stride], sign*tw.im[j*stride]
			for a := 2 * j; a < 2*n; a += 2 * size {
				b := a + 2*half
				xr, xi := out[b], out[b+1]
				tr := float32(wr*xr) - float32(wi*xi)
				ti := float32(wr*xi) + float32(wi*xr)
				ar, ai := out[a], out[a+1]
				out[a], out[a+1] = ar+tr, ai+ti
				out[b], out[b+1] = ar-tr, ai-ti
			}
		}
	}
	if inverse {
		scale := 1 / float32(n)
		for i := range out {
			out[i] *= scale
		}
	}
}
