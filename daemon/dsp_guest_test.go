package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	dspsim "github.com/coprocd/coprocd/backends/dsp/sim"
	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/spec"
)

// A guest of the DSP tests and benchmarks: it lays remote calls out in its
// buffers and carries them over the daemon's paravirtual socket.

// dspGuest is a guest process of the audio domain: its connection to the
// daemon, its DSP session, and a buffer the FENCE after every call writes.
type dspGuest struct {
	tb    testing.TB
	conn  *frontend.Conn
	dsp   *frontend.Device
	fence *frontend.Buffer
	value uint64 // the last fence value asked for
}

// dialDSPGuest connects to a domain's paravirtual socket with opts; the
// connection closes when the test ends.
func dialDSPGuest(tb testing.TB, sock string, opts frontend.Options) *dspGuest {
	tb.Helper()
	c, err := frontend.Dial(sock, opts)
	require.NoError(tb, err)
	return newDSPGuest(tb, c)
}

// tryDialDSPGuest is dialDSPGuest, but returns nil while the domain still
// has a session (the host answers BUSY).
func tryDialDSPGuest(tb testing.TB, sock string, opts frontend.Options) *dspGuest {
	tb.Helper()
	c, err := frontend.Dial(sock, opts)
	var reject *frontend.RejectError
	if errors.As(err, &reject) && reject.Status == spec.PVStatusBusy {
		return nil
	}
	require.NoError(tb, err)
	return newDSPGuest(tb, c)
}

func newDSPGuest(tb testing.TB, c *frontend.Conn) *dspGuest {
	tb.Cleanup(func() { _ = c.Close() })
	dsp, err := c.Device("dsp0")
	require.NoError(tb, err)
	fence, err := c.Alloc(context.Background(), 8, spec.PVPermReadWrite)
	require.NoError(tb, err)
	return &dspGuest{tb: tb, conn: c, dsp: dsp, fence: fence}
}

// dspCall is one remote call laid out in the guest's buffers: the job the
// guest submits (the CALL, then a FENCE whose value is the job's last
// word), its buffers, and the bare service function over the same data on
// Go slices, which is the CPU computation the results are checked against.
type dspCall struct {
	name    string
	words   []uint64
	out     *frontend.Buffer
	outLen  int
	reads   []*frontend.Buffer // in, the argument block, coefficients or gains
	service func() []float32   // runs the service on Go slices; returns its output
}

// floats allocates a buffer holding v.
func (g *dspGuest) floats(v []float32, perm uint8) *frontend.Buffer {
	g.tb.Helper()
	b, err := g.conn.Alloc(context.Background(), 4*uint64(len(v)), perm)
	require.NoError(g.tb, err)
	testutil.PutFloats(b.Bytes, v)
	return b
}

func (g *dspGuest) words(v ...uint64) *frontend.Buffer {
	g.tb.Helper()
	b, err := g.conn.Alloc(context.Background(), 8*uint64(len(v)), spec.PVPermRead)
	require.NoError(g.tb, err)
	for i, w := range v {
		binary.LittleEndian.PutUint64(b.Bytes[8*i:], w)
	}
	return b
}

// call lays out CALL(service, in, out, args) and the FENCE after it; aux
// is the coefficient or gain buffer the argument block names, if any.
func (g *dspGuest) call(name string, service uint64, in *frontend.Buffer, inLen, outLen int, args, aux *frontend.Buffer, bare func() []float32) *dspCall {
	g.tb.Helper()
	out, err := g.conn.Alloc(context.Background(), uint64(outLen), spec.PVPermReadWrite)
	require.NoError(g.tb, err)
	words := spec.Encode(nil, spec.OpDSPCall, service, in.IOVA, uint64(inLen), out.IOVA, uint64(outLen), args.IOVA)
	words = spec.Encode(words, spec.OpDSPFence, g.fence.IOVA, 0)
	reads := []*frontend.Buffer{in, args}
	if aux != nil {
		reads = append(reads, aux)
	}
	return &dspCall{name: name, words: words, out: out, outLen: outLen, reads: reads, service: bare}
}

// fftCall is a forward or inverse FFT of len(x)/2 complex points.
func (g *dspGuest) fftCall(x []float32, inverse bool) *dspCall {
	inv := uint64(0)
	if inverse {
		inv = 1
	}
	n := len(x) / 2
	y := make([]float32, len(x))
	return g.call(fmt.Sprintf("fft%d", n), spec.DSPServiceFFT, g.floats(x, spec.PVPermRead), 4*len(x), 4*len(x),
		g.words(uint64(n), inv), nil, func() []float32 { dspsim.FFT(y, x, inverse); return y })
}

// firCall filters x with the taps h.
func (g *dspGuest) firCall(h, x []float32) *dspCall {
	coeffs := g.floats(h, spec.PVPermRead)
	y := make([]float32, len(x))
	return g.call(fmt.Sprintf("fir%dx%d", len(h), len(x)), spec.DSPServiceFIR, g.floats(x, spec.PVPermRead), 4*len(x), 4*len(x),
		g.words(uint64(len(h)), uint64(len(x)), coeffs.IOVA), coeffs, func() []float32 { dspsim.FIR(y, h, x); return y })
}

// mixCall mixes len(gains) interleaved channels of x down to one.
func (g *dspGuest) mixCall(gains, x []float32) *dspCall {
	gb := g.floats(gains, spec.PVPermRead)
	frames := len(x) / len(gains)
	y := make([]float32, frames)
	return g.call(fmt.Sprintf("mix%dx%d", len(gains), frames), spec.DSPServiceMix, g.floats(x, spec.PVPermRead), 4*len(x), 4*frames,
		g.words(uint64(len(gains)), uint64(frames), gb.IOVA), gb, func() []float32 { dspsim.Mix(y, gains, x); return y })
}

// roundTrip submits the call with the next fence value and waits for the
// fence: the call has then run and its out buffer is written.
func (g *dspGuest) roundTrip(ctx context.Context, c *dspCall) error {
	g.value++
	c.words[len(c.words)-1] = g.value
	if _, err := g.dsp.Submit(ctx, c.words); err != nil {
		return err
	}
	return g.dsp.WaitFence(ctx, g.value)
}

// result is the call's out buffer as the guest sees it.
func (c *dspCall) result() []float32 { return testutil.GetFloats(c.out.Bytes[:c.outLen]) }
