package sim

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/internal/dspref"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/spec"
)

// Domains share one DSP through the mediator, each with its own service,
// and every result is the naive reference's.
func TestDomainsShareTheDSP(t *testing.T) {
	// The slice is shorter than any call: every call is a turn.
	r := newRig(t, Config{}, time.Microsecond)
	fir, fft, mix := r.guest("fir", 0), r.guest("fft", 0), r.guest("mix", 0)

	h, x := dspref.Samples(1, 64), dspref.Samples(2, 2400)
	firWords, firOut := fir.firCall(h, x)
	fx := dspref.Samples(3, 2*1024)
	fftWords, fftOut := fft.fftCall(fx, false)
	gains, mx := []float32{0.5, 0.5, -0.25}, dspref.Samples(4, 3*480)
	mixWords, mixOut := mix.mixCall(gains, mx)

	// Each submits three calls (in three jobs) so that the round-robin
	// interleaves them; the fence after the last one reports completion.
	fenceIOVA, fenceMem := fir.alloc(8, iommu.ReadWrite)
	for i := range 3 {
		fir.submit(firWords)
		fft.submit(fftWords)
		mix.submit(mixWords)
		if i == 2 {
			fir.submit(spec.Encode(nil, spec.OpDSPFence, fenceIOVA, 42))
		}
	}
	r.run()

	assert.Equal(t, dspref.FIR(h, x), testutil.GetFloats(firOut))
	assert.LessOrEqual(t, dspref.MaxAbsDiff(testutil.GetFloats(fftOut), dspref.DFT(fx, false)), dspref.FFTTolerance(1024))
	assert.Equal(t, dspref.Mix(gains, mx), testutil.GetFloats(mixOut))
	assert.EqualValues(t, 42, fenceMem[0])
	assert.EqualValues(t, 42, fir.read(spec.RegDSPFence, 8))

	for _, g := range []*guest{fir, fft, mix} {
		st := g.vc.Stats()
		assert.EqualValues(t, st.Jobs, st.JobsDone, g.vc.Name())
		assert.Zero(t, st.JobsFailed+st.Refused+st.Faults, g.vc.Name())
		assert.GreaterOrEqual(t, st.SwitchesIn, uint64(3), "%s: every call is a turn", g.vc.Name())
	}
	assert.GreaterOrEqual(t, r.dev.Stats().Switches, uint64(9))
}

// A call cannot be preempted: a slice shorter than the call still runs the
// whole call, each turn's overrun stays within MaxNonPreemptible, and the
// device is switched only between calls.
func TestCallsAreNotPreempted(t *testing.T) {
	const slice = 10 * time.Microsecond
	r := newRig(t, Config{}, slice)
	a, b := r.guest("a", 0), r.guest("b", 0)
	h, x := dspref.Samples(1, 1024), dspref.Samples(2, 8192) // 2^23 MACs: about 0.26 ms
	words, outA := a.firCall(h, x)
	cost, err := r.dsp.CallCost(spec.DSPServiceFIR, []uint64{1024, 8192, 0})
	require.NoError(t, err)
	require.Greater(t, cost, 10*slice)
	a.submit(words)
	a.submit(words)
	wordsB, outB := b.firCall(h, x)
	b.submit(wordsB)

	caps := r.dsp.Caps()
	var ran []string
	for range 100 {
		res, err := r.dev.Step()
		require.NoError(t, err)
		if res.Idle {
			break
		}
		r.clk.Advance(res.Elapsed)
		ran = append(ran, res.Ran)
		assert.GreaterOrEqual(t, res.Elapsed, cost, "a turn runs a whole call")
		assert.LessOrEqual(t, res.Elapsed, slice+caps.MaxNonPreemptible+caps.SwitchCost)
	}
	assert.Equal(t, []string{"a/dsp0", "b/dsp0", "a/dsp0"}, ran, "turns alternate at call boundaries")
	want := dspref.FIR(h, x)
	assert.Equal(t, want, testutil.GetFloats(outA))
	assert.Equal(t, want, testutil.GetFloats(outB))
}

// A call naming an IOVA the sender has not mapped (another domain's
// buffer, say) is refused whole, counted, and nothing runs; the owner of
// the buffer is not affected.
func TestCallOutsideTheDomainIsRefused(t *testing.T) {
	r := newRig(t, Config{}, 100*time.Microsecond)
	a, b := r.guest("a", 0), r.guest("b", 0)
	a.next = 0x8000_0000 // A's buffers lie where B has nothing mapped
	h, x := dspref.Samples(1, 16), dspref.Samples(2, 256)
	wordsA, outA := a.firCall(h, x)
	secret := wordsA[2] // A's input buffer

	bOut, outB := b.alloc(4*256, iommu.ReadWrite)
	coeffs, _ := b.floats(h)
	for name, words := range map[string][]uint64{
		"in": call(spec.DSPServiceFIR, secret, 1024, bOut, 1024, b.args(16, 256, coeffs)),
		// A's in buffer named as B's out: B may not write there either.
		"out": call(spec.DSPServiceFIR, bOut, 1024, secret, 1024, b.args(16, 256, coeffs)),
		// The coefficients inside the argument block are audited too.
		"args.coeffs": call(spec.DSPServiceFIR, bOut, 1024, bOut, 1024, b.args(16, 256, secret)),
		"args":        call(spec.DSPServiceFIR, bOut, 1024, bOut, 1024, 0x7000_0000),
	} {
		_, err := b.vc.Submit(words)
		require.Error(t, err, name)
		assert.ErrorIs(t, err, mediator.ErrOutsideDomain, name)
		var se *mediator.ScanError
		require.ErrorAs(t, err, &se, name)
		assert.Equal(t, name, se.Operand)
		assert.Contains(t, err.Error(), `vcoproc "b/dsp0"`)
	}
	assert.EqualValues(t, 4, b.vc.Stats().Refused)
	assert.EqualValues(t, spec.ErrCodeRefused, b.read(spec.RegDSPErrorCode, 4))
	assert.Zero(t, b.vc.Stats().Jobs)

	a.submit(wordsA)
	r.run()
	assert.Equal(t, dspref.FIR(h, x), testutil.GetFloats(outA))
	assert.True(t, allZero(outB), "nothing of B's refused calls ran")
	st := a.vc.Stats()
	assert.Zero(t, st.Refused+st.Faults+st.JobsFailed)
	assert.EqualValues(t, 0, a.read(spec.RegDSPErrorCode, 4))
	assert.Empty(t, a.dom.Faults())
}

// A buffer unmapped after the audit faults when the call runs: the fault is
// the sender's alone, its out buffer is untouched, and the other domain's
// call, queued around it, completes.
func TestFaultAfterAuditStaysWithTheSender(t *testing.T) {
	r := newRig(t, Config{}, 100*time.Microsecond)
	a, b := r.guest("a", 0), r.guest("b", 0)
	h, x := dspref.Samples(1, 32), dspref.Samples(2, 1024)
	wordsA, outA := a.firCall(h, x)
	wordsB, outB := b.firCall(h, x)
	a.submit(wordsA)
	b.submit(wordsB)
	a.submit(wordsA)
	require.NoError(t, b.dom.Unmap(wordsB[2], 4096))
	r.run()

	assert.Equal(t, dspref.FIR(h, x), testutil.GetFloats(outA))
	assert.EqualValues(t, 2, a.vc.Stats().JobsDone)
	assert.Empty(t, a.dom.Faults())
	assert.Zero(t, a.vc.Stats().Faults)

	assert.True(t, allZero(outB))
	st := b.vc.Stats()
	assert.EqualValues(t, 1, st.JobsFailed)
	assert.EqualValues(t, 1, st.Faults)
	failed := eventsOf(b.vc.Events(), mediator.EventJobFailed)
	require.Len(t, failed, 1)
	var f *iommu.Fault
	require.ErrorAs(t, failed[0].Err, &f)
	assert.Equal(t, wordsB[2], f.IOVA)
	assert.Equal(t, "b", f.Domain)
	assert.EqualValues(t, spec.ErrCodeFault, b.read(spec.RegDSPErrorCode, 4))
	assert.Equal(t, wordsB[2], b.read(spec.RegDSPErrorAddr, 8))
	assert.Len(t, b.dom.Faults(), 1)
	assert.Empty(t, eventsOf(a.vc.Events(), mediator.EventJobFailed))
}

// Privileged registers and commands are the host's: denied and counted.
func TestPrivilegedIsDenied(t *testing.T) {
	r := newRig(t, Config{}, 100*time.Microsecond)
	g := r.guest("g", 0)
	for _, off := range []uint32{spec.RegDSPClockCtrl, spec.RegDSPContextBank, spec.RegDSPReset, spec.RegDSPPower, spec.RegDSPTCMCtrl} {
		size := uint8(4)
		if off == spec.RegDSPContextBank {
			size = 8
		}
		for _, write := range []bool{false, true} {
			_, err := g.vc.Access(off, size, write, 1)
			assert.ErrorIs(t, err, mediator.ErrPrivileged, "0x%x", off)
		}
	}
	assert.EqualValues(t, 10, g.vc.Stats().Denied)
	assert.EqualValues(t, 1, r.dsp.ReadReg(spec.RegDSPClockCtrl), "the hardware register kept its value")
	assert.Zero(t, r.dsp.ReadReg(spec.RegDSPContextBank))

	mem, _ := g.alloc(8, iommu.ReadWrite)
	for _, words := range [][]uint64{
		spec.Encode(nil, spec.OpDSPSetContextBank, 3),
		spec.Encode(nil, spec.OpDSPSetClock, 0),
		spec.Encode(nil, spec.OpDSPInvalidateTLB),
		spec.Encode(nil, spec.OpDSPScrubTCM, 0, 4096),
		spec.Encode(nil, spec.OpDSPLoadReg, spec.RegDSPContextBank, 3),
		spec.Encode(nil, spec.OpDSPStoreReg, spec.RegDSPClockCtrl, mem),
		// A privileged command after a harmless one refuses the whole buffer.
		spec.Encode(spec.Encode(nil, spec.OpDSPNop), spec.OpDSPSetClock, 0),
	} {
		_, err := g.vc.Submit(words)
		require.Error(t, err)
		assert.True(t, errors.Is(err, mediator.ErrPrivilegedCommand) || errors.Is(err, mediator.ErrPrivileged), err.Error())
	}
	st := g.vc.Stats()
	assert.EqualValues(t, 17, st.Denied)
	assert.EqualValues(t, 7, st.Refused)
	assert.Zero(t, st.Jobs)
	assert.EqualValues(t, spec.ErrCodeDenied, g.read(spec.RegDSPErrorCode, 4))
	r.run()
	assert.Zero(t, r.dsp.ReadReg(spec.RegDSPContextBank))
}

// The mailboxes are per session: each domain keeps its own values across
// switches, and reads them with Access and with STORE_REG.
func TestMailboxesArePerSession(t *testing.T) {
	r := newRig(t, Config{}, 100*time.Microsecond)
	a, b := r.guest("a", 0), r.guest("b", 0)
	aMem, aBuf := a.alloc(8, iommu.ReadWrite)
	bMem, bBuf := b.alloc(8, iommu.ReadWrite)
	a.submit(spec.Encode(nil, spec.OpDSPLoadReg, spec.RegDSPMbox0+8, 0xAAAA))
	b.submit(spec.Encode(nil, spec.OpDSPLoadReg, spec.RegDSPMbox0+8, 0xBBBB))
	a.submit(spec.Encode(nil, spec.OpDSPStoreReg, spec.RegDSPMbox0+8, aMem))
	b.submit(spec.Encode(nil, spec.OpDSPStoreReg, spec.RegDSPMbox0+8, bMem))
	r.run()
	assert.Equal(t, []byte{0xAA, 0xAA, 0, 0, 0, 0, 0, 0}, aBuf)
	assert.Equal(t, []byte{0xBB, 0xBB, 0, 0, 0, 0, 0, 0}, bBuf)
	assert.EqualValues(t, 0xAAAA, a.read(spec.RegDSPMbox0+8, 8))
	assert.EqualValues(t, 0xBBBB, b.read(spec.RegDSPMbox0+8, 8))
	assert.Zero(t, a.read(spec.RegDSPMbox0, 8))
}

// TCM handed from one domain to the next is scrubbed: the new owner's call
// reads zeros where the old owner's results were. While it is held, no
// other domain can name it.
func TestTCMIsScrubbedBetweenOwners(t *testing.T) {
	r := newRig(t, Config{}, 100*time.Microsecond)
	a := r.guest("a", 64<<10)
	const tcm = 0x4000_0000
	require.NoError(t, a.vc.AllocDeviceMemory(tcm, 64<<10, iommu.ReadWrite))

	// A filters into TCM (identity filter: out = in), then copies it back.
	x := dspref.Samples(9, 4096)
	xa, _ := a.floats(x)
	one, _ := a.floats([]float32{1})
	back, backMem := a.alloc(4*4096, iommu.ReadWrite)
	a.submit(call(spec.DSPServiceFIR, xa, 4*4096, tcm, 4*4096, a.args(1, 4096, one)))
	a.submit(call(spec.DSPServiceFIR, tcm, 4*4096, back, 4*4096, a.args(1, 4096, one)))
	r.run()
	require.Equal(t, x, testutil.GetFloats(backMem), "the data went through A's TCM")

	// Another domain cannot name A's TCM.
	b := r.guest("b", 64<<10)
	bOne, _ := b.floats([]float32{1})
	bBack, bMem := b.alloc(4*4096, iommu.ReadWrite)
	_, err := b.vc.Submit(call(spec.DSPServiceFIR, tcm, 4*4096, bBack, 4*4096, b.args(1, 4096, bOne)))
	require.ErrorIs(t, err, mediator.ErrOutsideDomain)

	// A leaves; B gets the same TCM and reads it back: zeros.
	require.NoError(t, a.vc.Detach())
	require.NoError(t, b.vc.AllocDeviceMemory(tcm, 64<<10, iommu.ReadWrite))
	for i := range bMem {
		bMem[i] = 0xEE
	}
	b.submit(call(spec.DSPServiceFIR, tcm, 4*4096, bBack, 4*4096, b.args(1, 4096, bOne)))
	r.run()
	assert.EqualValues(t, 1, b.vc.Stats().JobsDone)
	assert.True(t, allZero(bMem), "B read what A left in TCM")
	assert.GreaterOrEqual(t, r.dsp.DeviceMemory().Stats().Scrubbed, uint64(64<<10))
}

// A device holds RefDSPMaxSessions sessions; attaching beyond fails with
// an error naming the limit, and detaching frees a session for the next.
func TestSessionLimit(t *testing.T) {
	r := newRig(t, Config{}, 100*time.Microsecond)
	var gs []*guest
	for i := range spec.RefDSPMaxSessions {
		gs = append(gs, r.guest(fmt.Sprintf("d%02d", i), 0))
	}
	_, err := r.m.CreateDomain("late")
	require.NoError(t, err)
	_, err = r.m.Attach("late", "dsp0", mediator.VCoprocConfig{})
	require.ErrorIs(t, err, ErrNoSession)
	assert.Contains(t, err.Error(), "all 14 sessions are open")
	assert.Contains(t, err.Error(), `"late"`)
	assert.Contains(t, err.Error(), "d05")

	// The sessions that exist still work.
	h, x := dspref.Samples(1, 8), dspref.Samples(2, 64)
	words, out := gs[13].firCall(h, x)
	gs[13].submit(words)
	r.run()
	assert.Equal(t, dspref.FIR(h, x), testutil.GetFloats(out))

	require.NoError(t, gs[5].vc.Detach())
	late, err := r.m.Attach("late", "dsp0", mediator.VCoprocConfig{})
	require.NoError(t, err)
	assert.Equal(t, "late", r.dsp.Sessions()[5], "the freed session is reused")
	_, err = late.Submit(spec.Encode(nil, spec.OpDSPNop))
	require.NoError(t, err)
	r.run()
	assert.EqualValues(t, 1, late.Stats().JobsDone)
}

// A call over the per-call budget is refused before it runs, with its cost
// and the budget; calls within it run; MaxNonPreemptible is the budget.
func TestPerCallBudget(t *testing.T) {
	const budget = 100 * time.Microsecond
	r := newRig(t, Config{CallBudget: budget}, 50*time.Microsecond)
	assert.Equal(t, budget, r.dsp.Caps().MaxNonPreemptible)
	g := r.guest("g", 0)
	h := dspref.Samples(1, 1024)
	big, bigOut := g.firCall(h, dspref.Samples(2, 8192))
	_, err := g.vc.Submit(big)
	require.ErrorIs(t, err, ErrOverBudget)
	assert.Contains(t, err.Error(), "CALL fir (taps=1024 samples=8192) costs 268.496µs of device time, over the per-call budget of 100µs")
	assert.Contains(t, err.Error(), `vcoproc "g/dsp0"`)

	x := dspref.Samples(3, 240)
	small, smallOut := g.firCall(h, x)
	g.submit(small)
	r.run()
	assert.True(t, allZero(bigOut), "the refused call never ran")
	assert.Equal(t, dspref.FIR(h, x), testutil.GetFloats(smallOut))
	assert.EqualValues(t, 1, g.vc.Stats().JobsDone)
}

// Calls whose buffers do not fit their service are refused at submission
// with the numbers.
func TestMalformedCallsAreRefused(t *testing.T) {
	r := newRig(t, Config{}, 100*time.Microsecond)
	g := r.guest("g", 0)
	buf, _ := g.alloc(64<<10, iommu.ReadWrite)
	one, _ := g.floats([]float32{1})
	cases := []struct {
		words []uint64
		want  string
	}{
		{call(spec.DSPServiceFIR, buf, 400, buf, 800, g.args(1, 100, one)), "in_len 400 and out_len 800, the service needs 400 and 400 bytes"},
		{call(spec.DSPServiceFIR, buf, 0, buf, 0, g.args(0, 0, one)), "taps=0 samples=0: both must be at least 1"},
		{call(spec.DSPServiceFFT, buf, 8000, buf, 8000, g.args(1000, 0)), "n=1000: n must be a power of two"},
		{call(spec.DSPServiceMix, buf, 0, buf, 0, g.args(0, 10, one)), "channels=0 frames=10"},
	}
	for _, c := range cases {
		_, err := g.vc.Submit(c.words)
		require.Error(t, err, c.want)
		assert.ErrorIs(t, err, ErrBadCommand)
		assert.Contains(t, err.Error(), c.want)
	}
	// Over the table's limits the scanner refuses first.
	_, err := g.vc.Submit(call(spec.DSPServiceFFT, buf, 8, buf, 8, g.args(1<<17, 0)))
	assert.ErrorIs(t, err, mediator.ErrValueOutOfRange)
	_, err = g.vc.Submit(call(99, buf, 8, buf, 8, g.args(1)))
	assert.ErrorIs(t, err, mediator.ErrUnknownKernel)
	r.run()
	assert.Zero(t, g.vc.Stats().Jobs)
}
