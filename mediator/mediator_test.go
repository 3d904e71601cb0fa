package mediator

import (
	"encoding/binary"
	"errors"
	"github.com/coprocd/coprocd/scheduler"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// TestThreeDomainsShareOneGPU is the acceptance scenario: three
// domains compute on their own buffers on one reference GPU, through the
// ring and through Submit; every result is right and the trace shows the
// device passing between all three.
func TestThreeDomainsShareOneGPU(t *testing.T) {
	r := newRig(t, withSlice(20*time.Microsecond))

	// cluster: saxpy through the ring and the doorbell.
	const n = 1 << 16
	cl := r.guest("cluster", 0)
	cl.setupRing(4096)
	x := make([]float32, n)
	y := make([]float32, n)
	for i := range x {
		x[i], y[i] = float32(i), float32(2*i)
	}
	xIOVA, _ := cl.floats(x)
	yIOVA, yMem := cl.floats(y)
	args := cl.words(n, f32(3), xIOVA, yIOVA)
	fenceIOVA, fenceMem := cl.alloc(8, iommu.ReadWrite)
	var buf []uint64
	buf = spec.Encode(buf, spec.OpDispatch, spec.KernelSaxpy, n/spec.RefGPUWorkgroupSize, args)
	buf = spec.Encode(buf, spec.OpFence, fenceIOVA, 1)
	cl.push(buf)
	cl.kick()

	// ivi: a 64×64 GEMM through Submit.
	const dim = 64
	ivi := r.guest("ivi", 0)
	a := make([]float32, dim*dim)
	b := make([]float32, dim*dim)
	for i := range a {
		a[i] = float32(i%7) - 3
		b[i] = float32(i%5) * 0.5
	}
	aIOVA, _ := ivi.floats(a)
	bIOVA, _ := ivi.floats(b)
	cIOVA, cMem := ivi.alloc(4*dim*dim, iommu.ReadWrite)
	gargs := ivi.words(dim, dim, dim, aIOVA, bIOVA, cIOVA)
	_, err := ivi.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelSgemm, dim, gargs))
	require.NoError(t, err)

	// adas: reduce-sum through Submit.
	const m = 8192
	adas := r.guest("adas", 0)
	v := make([]float32, m)
	var want float64
	for i := range v {
		v[i] = float32(i % 100)
		want += float64(v[i])
	}
	vIOVA, _ := adas.floats(v)
	outIOVA, outMem := adas.floats([]float32{0})
	rargs := adas.words(m, vIOVA, outIOVA)
	_, err = adas.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelReduceSum, m/spec.RefGPUWorkgroupSize, rargs))
	require.NoError(t, err)

	r.run()

	for i, got := range getFloats(yMem, n) {
		require.Equal(t, 3*x[i]+y[i], got, "saxpy y[%d]", i)
	}
	assert.Equal(t, uint64(1), binary.LittleEndian.Uint64(fenceMem))
	assert.Equal(t, uint64(1), cl.read(spec.RegFence, 8))
	c := getFloats(cMem, dim*dim)
	for i := 0; i < dim; i++ {
		for j := 0; j < dim; j++ {
			var s float32
			for k := 0; k < dim; k++ {
				s += a[i*dim+k] * b[k*dim+j]
			}
			require.InDelta(t, s, c[i*dim+j], 1e-3, "C[%d][%d]", i, j)
		}
	}
	assert.InDelta(t, want, float64(getFloats(outMem, 1)[0]), 1)

	// The trace shows the device passing among all three, more than once
	// each: the slice is much shorter than every job.
	in := map[string]int{}
	trace := r.dev.Trace()
	for _, s := range trace {
		in[s.To]++
		assert.NotEqual(t, s.From, s.To)
	}
	for _, name := range []string{"cluster/gpu0", "ivi/gpu0", "adas/gpu0"} {
		assert.Greater(t, in[name], 1, "%s was switched in %d times", name, in[name])
	}
	st := r.dev.Stats()
	assert.Equal(t, uint64(len(trace)), st.Switches)
	assert.Equal(t, time.Duration(st.Switches)*r.gpu.Caps().SwitchCost, st.SwitchTime)

	// Each domain heard about its own jobs only.
	for _, g := range []*guest{cl, ivi, adas} {
		evs := g.vc.Events()
		require.Len(t, eventsOf(evs, EventJobDone), 1, g.vc.Name())
		for _, e := range evs {
			assert.Equal(t, g.vc.Name(), e.VCoproc)
		}
		assert.Equal(t, uint64(1), g.vc.Stats().JobsDone)
	}
	assert.Equal(t, uint64(1), cl.vc.Stats().QueuedKicks+cl.vc.Stats().Kicks-cl.vc.Stats().QueuedKicks)
}

// TestForeignIOVAFaultsOnlyTheSender: a command naming another domain's
// IOVA is refused in the sender, counted, and runs nothing, while the other
// domain's job completes; a job whose memory disappears after the audit
// faults in its own domain only.
func TestForeignIOVAFaultsOnlyTheSender(t *testing.T) {
	r := newRig(t)
	victim := r.guest("victim", 0)
	attacker := r.guest("attacker", 0)

	secretIOVA, secret := victim.alloc(4096, iommu.ReadWrite)
	copy(secret, "victim's secret")
	dstIOVA, dst := victim.alloc(4096, iommu.ReadWrite)
	_, err := victim.vc.Submit(spec.Encode(nil, spec.OpCopy, dstIOVA, secretIOVA, 4096))
	require.NoError(t, err)

	// The attacker names the victim's IOVAs, which mean nothing in its own
	// address space.
	loot := attacker.next // unmapped in the attacker
	_, err = attacker.vc.Submit(spec.Encode(nil, spec.OpCopy, loot, secretIOVA, 4096))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrOutsideDomain)
	var se *ScanError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "COPY", se.Command)
	assert.Equal(t, "dst", se.Operand)
	assert.Contains(t, err.Error(), `vcoproc "attacker/gpu0": submission refused: command 0 (COPY) at word 0, operand dst`)
	assert.Contains(t, err.Error(), "outside the domain's I/O address space")

	// The attacker maps its own page where the victim has its secret: its
	// copy reads its own memory, never the victim's.
	_, own := attacker.alloc(4096, iommu.ReadWrite)
	_ = own
	r.run()

	assert.Equal(t, secret, dst, "the victim's own job completed")
	assert.Equal(t, uint64(1), attacker.vc.Stats().Refused)
	assert.Equal(t, uint64(0), attacker.vc.Stats().Jobs)
	assert.Equal(t, uint64(spec.ErrCodeRefused), attacker.read(spec.RegErrorCode, 4))
	assert.NotZero(t, attacker.read(spec.RegIntStatus, 4)&spec.IntError)
	assert.Equal(t, uint64(0), victim.vc.Stats().Refused)
	assert.Empty(t, eventsOf(victim.vc.Events(), EventRefused))
	assert.Len(t, eventsOf(attacker.vc.Events(), EventRefused), 1)

	// A job that passed the audit but whose buffer the guest unmaps before
	// it runs faults in the IOMMU, in its own domain only.
	srcIOVA, _ := attacker.alloc(8192, iommu.ReadWrite)
	tgtIOVA, _ := attacker.alloc(8192, iommu.ReadWrite)
	_, err = attacker.vc.Submit(spec.Encode(nil, spec.OpCopy, tgtIOVA, srcIOVA, 8192))
	require.NoError(t, err)
	_, err = victim.vc.Submit(spec.Encode(nil, spec.OpFill, dstIOVA, 1024, 0xabababab))
	require.NoError(t, err)
	require.NoError(t, attacker.dom.Unmap(srcIOVA, 8192))
	r.run()

	failed := eventsOf(attacker.vc.Events(), EventJobFailed)
	require.Len(t, failed, 1)
	var fault *iommu.Fault
	require.ErrorAs(t, failed[0].Err, &fault)
	assert.Equal(t, "attacker", fault.Domain)
	assert.ErrorIs(t, fault, iommu.ErrNotMapped)
	assert.Equal(t, uint64(1), attacker.vc.Stats().Faults)
	assert.Equal(t, uint64(spec.ErrCodeFault), attacker.read(spec.RegErrorCode, 4))
	assert.NotZero(t, attacker.read(spec.RegIntStatus, 4)&spec.IntFault)
	assert.Len(t, eventsOf(victim.vc.Events(), EventJobDone), 1)
	assert.Equal(t, byte(0xab), dst[100])
	assert.Empty(t, victim.dom.Faults())
}

func TestPrivilegedAccessesAreDeniedAndCounted(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	before := r.gpu.ReadReg(spec.RegPTBase)

	for _, off := range []uint32{spec.RegPTBase, spec.RegClockCtrl, spec.RegReset, spec.RegPower} {
		size := uint8(4)
		if off == spec.RegPTBase {
			size = 8
		}
		_, err := g.vc.Access(off, size, true, 0xdead)
		assert.ErrorIs(t, err, ErrPrivileged)
		_, err = g.vc.Access(off, size, false, 0)
		assert.ErrorIs(t, err, ErrPrivileged)
	}
	_, err := g.vc.Access(spec.RegPTBase, 8, true, 0x1000)
	assert.EqualError(t, err, `vcoproc "g/gpu0": write to 0x0108 (PT_BASE): privileged register, access denied`)
	assert.Equal(t, before, r.gpu.ReadReg(spec.RegPTBase), "the hardware register is untouched")

	for _, words := range [][]uint64{
		spec.Encode(nil, spec.OpSetPTBase, 0x1000),
		spec.Encode(nil, spec.OpNop, spec.Header(spec.OpSetClock, 1), 0), // hidden after a NOP's would-be operand
		spec.Encode(spec.Encode(nil, spec.OpNop), spec.OpInvalidateTLB),
		spec.Encode(nil, spec.OpLoadReg, spec.RegPTBase, 0x1000),
	} {
		_, err := g.vc.Submit(words)
		assert.Error(t, err)
	}
	st := g.vc.Stats()
	assert.Equal(t, uint64(9+3), st.Denied, "8 register accesses + PT_BASE again + 3 privileged submissions")
	assert.Equal(t, uint64(4), st.Refused)
	assert.Equal(t, uint64(0), st.Jobs)
	assert.Equal(t, uint64(spec.ErrCodeDenied), g.read(spec.RegErrorCode, 4))
}

func TestBadAccessesReturnClearErrors(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	cases := []struct {
		off   uint32
		size  uint8
		write bool
		val   uint64
		is    error
		msg   string
	}{
		{spec.RefGPUWindowBytes, 4, false, 0, spec.ErrOutOfRange, `vcoproc "g/gpu0": read of 0x1000: 4-byte access at 0x1000: outside the register window`},
		{0xFFFF_FFFC, 8, true, 0, spec.ErrOutOfRange, "outside the register window"},
		{spec.RegRingTail + 1, 1, false, 0, spec.ErrWrongWidth, "RING_TAIL is 4 bytes at 0x0050"},
		{spec.RegRingTail + 2, 4, true, 1, spec.ErrUnaligned, "not aligned"},
		{spec.RegRingBase, 4, true, 1, spec.ErrWrongWidth, "RING_BASE is 8 bytes at 0x0040, access it whole"},
		{spec.RegRingTail, 8, false, 0, spec.ErrWrongWidth, "RING_TAIL is 4 bytes"},
		{spec.RegRingTail + 4, 8, false, 0, spec.ErrUnaligned, "not aligned"},
		{spec.RegRingTail, 5, false, 0, spec.ErrBadSize, "not 1, 2, 4 or 8"},
		{0x0F00, 4, false, 0, spec.ErrNoRegister, "no register there"},
		{spec.RegRingTail, 4, true, 1 << 40, ErrValueTooWide, "0x10000000000 in 4 bytes"},
		{spec.RegID, 4, true, 1, ErrReadOnly, `write to 0x0000 (ID): read-only register`},
		{spec.RegFence, 8, true, 1, ErrReadOnly, "FENCE"},
	}
	for _, c := range cases {
		_, err := g.vc.Access(c.off, c.size, c.write, c.val)
		require.Error(t, err, "0x%x", c.off)
		assert.ErrorIs(t, err, c.is, "0x%x", c.off)
		assert.ErrorContains(t, err, c.msg)
		var ae *AccessError
		assert.ErrorAs(t, err, &ae)
	}
	assert.Equal(t, uint64(len(cases)), g.vc.Stats().AccessErrors)
	assert.Equal(t, uint64(0), g.vc.Stats().Denied)
}

func TestRegisterClasses(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	assert.Equal(t, uint64(spec.RefGPUID), g.read(spec.RegID, 4))
	assert.Equal(t, uint64(spec.IntFence|spec.IntError|spec.IntFault), g.read(spec.RegIntMask, 4), "reset value")

	// Masks: RING_BASE keeps page alignment and 48 bits.
	g.write(spec.RegRingBase, 8, 0xffff_ffff_ffff_ffff)
	assert.Equal(t, uint64(0x0000_ffff_ffff_f000), g.read(spec.RegRingBase, 8))

	// Write-1-to-clear.
	_, err := g.vc.Submit(spec.Encode(nil, spec.OpNop, 1)) // wrong operand count: IntError
	require.Error(t, err)
	assert.Equal(t, uint64(spec.IntError), g.read(spec.RegIntStatus, 4))
	g.write(spec.RegIntStatus, 4, spec.IntFence) // not pending: no effect
	assert.Equal(t, uint64(spec.IntError), g.read(spec.RegIntStatus, 4))
	g.write(spec.RegIntStatus, 4, spec.IntError)
	assert.Zero(t, g.read(spec.RegIntStatus, 4))

	// INT_MASK gates the notification, not the event.
	g.write(spec.RegIntMask, 4, 0)
	_, err = g.vc.Submit(spec.Encode(nil, spec.OpNop, 1))
	require.Error(t, err)
	select {
	case <-g.vc.Notify():
		// the first refusal notified; drain it and check again
	default:
	}
	_, err = g.vc.Submit(spec.Encode(nil, spec.OpNop, 1))
	require.Error(t, err)
	select {
	case <-g.vc.Notify():
		t.Fatal("a masked interrupt notified")
	default:
	}
	assert.Len(t, eventsOf(g.vc.Events(), EventRefused), 3)

	// STATUS reflects the vcoproc.
	assert.Equal(t, uint64(spec.StatusError), g.read(spec.RegStatus, 4))
	_, err = g.vc.Submit(spec.Encode(nil, spec.OpNop))
	require.NoError(t, err)
	assert.NotZero(t, g.read(spec.RegStatus, 4)&spec.StatusBusy)
	r.run()
	assert.NotZero(t, g.read(spec.RegStatus, 4)&spec.StatusRunning, "owns the idle device")
	assert.Zero(t, g.read(spec.RegStatus, 4)&spec.StatusBusy)
}

// TestPassThroughRegistersFollowTheirContext: USER registers are hardware
// state while the vcoproc owns the device and saved state otherwise; each
// domain sees its own values, from the CPU and from its commands.
func TestPassThroughRegistersFollowTheirContext(t *testing.T) {
	r := newRig(t)
	a := r.guest("a", 0)
	b := r.guest("b", 0)
	a.write(spec.RegUser0, 8, 0xaaaa) // a is not running: goes to the saved copy
	b.write(spec.RegUser0, 8, 0xbbbb)
	outA, memA := a.alloc(8, iommu.ReadWrite)
	outB, memB := b.alloc(8, iommu.ReadWrite)
	_, err := a.vc.Submit(spec.Encode(spec.Encode(nil, spec.OpStoreReg, spec.RegUser0, outA), spec.OpLoadReg, spec.RegUser0+8, 0xa1))
	require.NoError(t, err)
	_, err = b.vc.Submit(spec.Encode(spec.Encode(nil, spec.OpStoreReg, spec.RegUser0, outB), spec.OpLoadReg, spec.RegUser0+8, 0xb1))
	require.NoError(t, err)
	r.run()
	assert.Equal(t, uint64(0xaaaa), binary.LittleEndian.Uint64(memA))
	assert.Equal(t, uint64(0xbbbb), binary.LittleEndian.Uint64(memB))
	// One of them owns the device now, the other is saved; both read back
	// what their own commands loaded.
	assert.Equal(t, uint64(0xa1), a.read(spec.RegUser0+8, 8))
	assert.Equal(t, uint64(0xb1), b.read(spec.RegUser0+8, 8))
	active := r.dev.Active()
	require.NotEmpty(t, active)
	owner := a
	if active == b.vc.Name() {
		owner = b
	}
	owner.write(spec.RegUser0+16, 8, 7) // straight to hardware
	assert.Equal(t, uint64(7), r.gpu.ReadReg(spec.RegUser0+16))
}

// TestDoorbellWhileSwitchedOutIsReplayed: a kick while another domain owns
// the device is queued and replayed when the vcoproc is switched in.
func TestDoorbellWhileSwitchedOutIsReplayed(t *testing.T) {
	r := newRig(t)
	a := r.guest("a", 0)
	b := r.guest("b", 0)
	_, err := a.vc.Submit(spec.Encode(nil, spec.OpNop))
	require.NoError(t, err)
	r.run()
	require.Equal(t, a.vc.Name(), r.dev.Active())

	b.setupRing(256)
	fenceIOVA, fence := b.alloc(8, iommu.ReadWrite)
	b.push(spec.Encode(nil, spec.OpFence, fenceIOVA, 42))
	b.kick()
	st := b.vc.Stats()
	assert.Equal(t, uint64(1), st.QueuedKicks)
	assert.Zero(t, b.read(spec.RegRingHead, 4), "not fetched yet")
	assert.Equal(t, Waiting, b.vc.State())
	r.run()
	assert.Equal(t, uint64(42), binary.LittleEndian.Uint64(fence))
	assert.Equal(t, b.tail, b.read(spec.RegRingHead, 4))

	// Now b owns the device: a kick is fetched at once; the ring wraps.
	for i := uint64(0); i < 20; i++ {
		b.push(spec.Encode(nil, spec.OpFence, fenceIOVA, 100+i))
		b.kick()
		r.run()
		require.Equal(t, 100+i, binary.LittleEndian.Uint64(fence))
	}
	assert.Equal(t, uint64(1), b.vc.Stats().QueuedKicks)
	assert.Equal(t, uint64(21), b.vc.Stats().Kicks)
}

func TestBadRingIsRefused(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	g.write(spec.RegRingSize, 4, 100) // not a power of two
	g.write(spec.RegRingTail, 4, 8)
	g.kick()
	r.run()
	evs := eventsOf(g.vc.Events(), EventRefused)
	require.Len(t, evs, 1)
	assert.ErrorContains(t, evs[0].Err, "size must be a power of two")
	assert.Equal(t, uint64(spec.ErrCodeBadRing), g.read(spec.RegErrorCode, 4))

	// A ring whose base is not mapped.
	g.write(spec.RegRingSize, 4, 4096)
	g.write(spec.RegRingBase, 8, 0x7000_0000)
	g.kick()
	r.run()
	evs = eventsOf(g.vc.Events(), EventRefused)
	require.Len(t, evs, 1)
	assert.ErrorIs(t, evs[0].Err, iommu.ErrNotMapped)
	assert.Zero(t, g.vc.Stats().Jobs)
}

// TestDMAPastAMappingTouchesNothing: a command whose extent runs one byte
// past the end of a mapping is refused whole, and the memory after the
// mapping (another buffer of the same guest, unmapped) keeps its bytes.
func TestDMAPastAMappingTouchesNothing(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	dstIOVA, dst := g.alloc(4096, iommu.ReadWrite)
	srcIOVA, src := g.alloc(8192, iommu.ReadWrite)
	for i := range src {
		src[i] = 0x5a
	}
	_, err := g.vc.Submit(spec.Encode(nil, spec.OpCopy, dstIOVA, srcIOVA, 4097))
	assert.ErrorIs(t, err, ErrOutsideDomain)
	_, err = g.vc.Submit(spec.Encode(nil, spec.OpFill, dstIOVA+4, 1024, 1))
	assert.ErrorIs(t, err, ErrOutsideDomain)
	// A wrapping extent.
	_, err = g.vc.Submit(spec.Encode(nil, spec.OpCopy, math.MaxUint64-7, srcIOVA, 16))
	assert.ErrorIs(t, err, ErrOutsideDomain)
	r.run()
	assert.True(t, allZero(dst), "nothing was written")
	assert.Zero(t, g.vc.Stats().Jobs)
}

// TestFreedDeviceMemoryReadsZeroForTheNextOwner is the LeftoverLocals class
// of leak (CVE-2023-4969) at the device-memory level.
func TestFreedDeviceMemoryReadsZeroForTheNextOwner(t *testing.T) {
	r := newRig(t)
	a := r.guest("a", 1<<20)
	b := r.guest("b", 4<<20)

	const vram = 0x4000_0000
	const size = 1 << 20
	require.NoError(t, a.vc.AllocDeviceMemory(vram, size, iommu.ReadWrite))
	_, err := a.vc.Submit(spec.Encode(nil, spec.OpFill, vram, size/4, 0x5ec2e7))
	require.NoError(t, err)
	r.run()
	require.NoError(t, a.vc.FreeDeviceMemory(vram))

	// b takes the whole device memory, so it certainly gets a's old bytes.
	require.NoError(t, b.vc.AllocDeviceMemory(vram, 4<<20, iommu.ReadWrite))
	outIOVA, out := b.alloc(4<<20, iommu.ReadWrite)
	for i := range out {
		out[i] = 0xff
	}
	_, err = b.vc.Submit(spec.Encode(nil, spec.OpCopy, outIOVA, vram, 4<<20))
	require.NoError(t, err)
	r.run()
	assert.True(t, allZero(out), "device memory from a reads back as zeros")

	// Quotas hold.
	err = a.vc.AllocDeviceMemory(vram, 2<<20, iommu.ReadWrite)
	assert.ErrorContains(t, err, "quota")
	// Local memory: a kernel that reads local memory it never wrote sees
	// zeros after another domain's reduction used it.
	vIOVA, _ := a.floats(make([]float32, 64))
	sumIOVA, _ := a.floats([]float32{0})
	_, err = a.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelReduceSum, 1, a.words(64, vIOVA, sumIOVA)))
	require.NoError(t, err)
	probeIOVA, probe := b.alloc(4*1024, iommu.ReadWrite)
	for i := range probe {
		probe[i] = 0xff
	}
	_, err = b.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelLocalRead, 1024/spec.RefGPUWorkgroupSize, b.words(1024, probeIOVA)))
	require.NoError(t, err)
	r.run()
	assert.True(t, allZero(probe[:4096]), "local memory leaked into b")
}

// TestWatchdogResetsOnlyTheRunaway: a job waiting forever is reset by the
// watchdog in its own domain; the other domain's work completes and the
// runaway's next job runs.
func TestWatchdogResetsOnlyTheRunaway(t *testing.T) {
	r := newRig(t, withWatchdog(5*time.Millisecond))
	stuck := r.guest("stuck", 0)
	fine := r.guest("fine", 0)
	flag, _ := stuck.alloc(8, iommu.ReadWrite)
	_, err := stuck.vc.Submit(spec.Encode(nil, spec.OpWait, flag, 1))
	require.NoError(t, err)
	fenceIOVA, fence := stuck.alloc(8, iommu.ReadWrite)
	_, err = stuck.vc.Submit(spec.Encode(nil, spec.OpFence, fenceIOVA, 9))
	require.NoError(t, err)
	dst, dstMem := fine.alloc(4096, iommu.ReadWrite)
	_, err = fine.vc.Submit(spec.Encode(nil, spec.OpFill, dst, 1024, 0x01010101))
	require.NoError(t, err)

	r.run()
	evs := stuck.vc.Events()
	to := eventsOf(evs, EventTimeout)
	require.Len(t, to, 1)
	assert.Equal(t, uint64(1), to[0].Job)
	assert.ErrorContains(t, to[0].Err, "watchdog limit of 5ms")
	assert.Equal(t, uint64(9), binary.LittleEndian.Uint64(fence), "the next job ran")
	assert.Equal(t, byte(1), dstMem[4095])
	assert.Empty(t, eventsOf(fine.vc.Events(), EventTimeout))
	assert.Equal(t, uint64(1), r.dev.Stats().Timeouts)
	assert.GreaterOrEqual(t, r.clk.Now(), 5*time.Millisecond)
}

// TestWaitCompletesWhenMemoryChanges: a WAIT blocks without holding the
// device, and completes once the guest writes the value.
func TestWaitCompletesWhenMemoryChanges(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	other := r.guest("other", 0)
	flagIOVA, flag := g.alloc(8, iommu.ReadWrite)
	fenceIOVA, fence := g.alloc(8, iommu.ReadWrite)
	_, err := g.vc.Submit(spec.Encode(spec.Encode(nil, spec.OpWait, flagIOVA, 5), spec.OpFence, fenceIOVA, 1))
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		_, err := r.dev.Step()
		require.NoError(t, err)
		r.clk.Advance(50 * time.Microsecond)
	}
	assert.NotZero(t, g.read(spec.RegStatus, 4)&spec.StatusWaiting)
	assert.Zero(t, binary.LittleEndian.Uint64(fence))
	// The blocked vcoproc does not keep the other from running.
	o, oMem := other.alloc(64, iommu.ReadWrite)
	_, err = other.vc.Submit(spec.Encode(nil, spec.OpFill, o, 16, 7))
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, _ = r.dev.Step()
	}
	assert.Equal(t, byte(7), oMem[60])

	binary.LittleEndian.PutUint64(flag, 5)
	r.run()
	assert.Equal(t, uint64(1), binary.LittleEndian.Uint64(fence))
	assert.Empty(t, eventsOf(g.vc.Events(), EventTimeout))
}

// TestCommandBoundaryPreemptionRetriesTheSwitch: with command-boundary
// preemption a switch-out in the middle of a DISPATCH is told "not yet"
// and retried; the trace records it and both results are correct.
func TestCommandBoundaryPreemptionRetriesTheSwitch(t *testing.T) {
	r := newRig(t, withPreemption(coproc.CommandBoundary), withSlice(5*time.Microsecond))
	a := r.guest("a", 0)
	b := r.guest("b", 0)
	const n = 1 << 16
	x := make([]float32, n)
	for i := range x {
		x[i] = 1
	}
	ax, _ := a.floats(x)
	ay, ayMem := a.floats(x)
	bx, _ := b.floats(x)
	by, byMem := b.floats(x)
	_, err := a.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelSaxpy, n/64, a.words(n, f32(2), ax, ay)))
	require.NoError(t, err)
	_, err = b.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelSaxpy, n/64, b.words(n, f32(5), bx, by)))
	require.NoError(t, err)
	r.run()
	assert.Equal(t, []float32{3, 3}, []float32{getFloats(ayMem, n)[0], getFloats(ayMem, n)[n-1]})
	assert.Equal(t, []float32{6, 6}, []float32{getFloats(byMem, n)[0], getFloats(byMem, n)[n-1]})
	retried := 0
	for _, s := range r.dev.Trace() {
		retried += s.Retries
	}
	assert.Positive(t, retried)
	assert.Equal(t, uint64(retried), r.dev.Stats().Retries)
}

func TestDestroyDomainWhileBusyLeavesOthersRunning(t *testing.T) {
	r := newRig(t, withSlice(5*time.Microsecond))
	a := r.guest("a", 1<<20)
	b := r.guest("b", 0)
	require.NoError(t, a.vc.AllocDeviceMemory(0x4000_0000, 1<<20, iommu.ReadWrite))
	_, err := a.vc.Submit(spec.Encode(nil, spec.OpFill, 0x4000_0000, 1<<18, 0xffffffff))
	require.NoError(t, err)
	dst, dstMem := b.alloc(1<<20, iommu.ReadWrite)
	_, err = b.vc.Submit(spec.Encode(nil, spec.OpFill, dst, 1<<18, 0x02020202))
	require.NoError(t, err)
	for i := 0; i < 4; i++ {
		_, err := r.dev.Step()
		require.NoError(t, err)
	}
	require.NoError(t, r.m.DestroyDomain("a"))
	_, ok := r.m.Domain("a")
	assert.False(t, ok)
	r.run()
	assert.Equal(t, byte(2), dstMem[1<<20-1])
	_, err = a.vc.Access(spec.RegStatus, 4, false, 0)
	assert.ErrorIs(t, err, ErrDetached)
	_, err = a.vc.Submit(spec.Encode(nil, spec.OpNop))
	assert.ErrorIs(t, err, ErrDetached)
	assert.Zero(t, r.gpu.DeviceMemory().Used("a"))
	assert.Error(t, r.m.DestroyDomain("a"))
}

func TestConfigurationErrors(t *testing.T) {
	_, err := New(Config{})
	assert.ErrorContains(t, err, "Clock is required")
	r := newRig(t)
	_, err = r.m.CreateDomain("a/b")
	assert.ErrorContains(t, err, "without '/'")
	_, err = r.m.CreateDomain("a")
	require.NoError(t, err)
	_, err = r.m.CreateDomain("a")
	assert.ErrorContains(t, err, `domain "a" exists`)
	_, err = r.m.Attach("nope", "gpu0", VCoprocConfig{})
	assert.ErrorContains(t, err, `no domain "nope"`)
	_, err = r.m.Attach("a", "gpu9", VCoprocConfig{})
	assert.ErrorContains(t, err, `no device "gpu9"`)
	_, err = r.m.Attach("a", "gpu0", VCoprocConfig{})
	require.NoError(t, err)
	_, err = r.m.Attach("a", "gpu0", VCoprocConfig{})
	assert.ErrorContains(t, err, "already has a vcoproc")
	_, err = r.m.AddDevice("gpu0", r.gpu, r.dev.Policy())
	assert.ErrorContains(t, err, `device "gpu0" exists`)
	assert.True(t, errors.Is(&RefusedError{Err: ErrTooLarge}, ErrTooLarge))
}

// TestSetPolicyWhileBusy swaps the policy of a device with queued work:
// the work completes under the new policy, and a policy that refuses a
// vcoproc leaves the old one in place.
func TestSetPolicyWhileBusy(t *testing.T) {
	r := newRig(t, withSlice(5*time.Microsecond))
	a := r.guest("a", 0)
	b := r.guest("b", 0)
	da, memA := a.alloc(1<<16, iommu.ReadWrite)
	db, memB := b.alloc(1<<16, iommu.ReadWrite)
	_, err := a.vc.Submit(spec.Encode(nil, spec.OpFill, da, 1<<14, 0x01010101))
	require.NoError(t, err)
	_, err = b.vc.Submit(spec.Encode(nil, spec.OpFill, db, 1<<14, 0x02020202))
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err := r.dev.Step()
		require.NoError(t, err)
	}
	require.ErrorContains(t, r.dev.SetPolicy(refusing{}), `policy refusing refuses vcoproc "a/gpu0": no`)
	assert.Equal(t, "rrobin", r.dev.Policy().Name())

	next, err := scheduler.NewRoundRobin(50*time.Microsecond, scheduler.Costs{})
	require.NoError(t, err)
	require.NoError(t, r.dev.SetPolicy(next))
	assert.Same(t, next, r.dev.Policy())
	r.run()
	assert.Equal(t, byte(1), memA[1<<16-1])
	assert.Equal(t, byte(2), memB[1<<16-1])
}

// refusing is a policy that admits nobody.
type refusing struct{ scheduler.Policy }

func (refusing) Name() string                                              { return "refusing" }
func (refusing) Admit(scheduler.ID, scheduler.Params, time.Duration) error { return errors.New("no") }
func (refusing) Remove(scheduler.ID, time.Duration)                        {}

func TestLatencyAndDeadlineMisses(t *testing.T) {
	r := newRig(t)
	g := r.guest("g", 0)
	require.NoError(t, g.vc.SetParams(scheduler.Params{Budget: 5 * time.Microsecond, Period: 30 * time.Microsecond}))
	dst, _ := g.alloc(1<<20, iommu.ReadWrite)
	_, err := g.vc.Submit(spec.Encode(nil, spec.OpNop)) // the 20 µs switch-in and a NOP: within 30 µs
	require.NoError(t, err)
	_, err = g.vc.Submit(spec.Encode(nil, spec.OpFill, dst, 1<<18, 1)) // 1 MiB at 64 B/cycle: ~16 µs more
	require.NoError(t, err)
	r.run()
	st := g.vc.Stats()
	assert.Equal(t, uint64(2), st.Latency.Count())
	assert.Equal(t, uint64(1), st.DeadlineMisses)
	assert.Greater(t, st.Latency.Max, 30*time.Microsecond)
	assert.GreaterOrEqual(t, st.Latency.Sum, st.Latency.Max)
	// 10 µs << 1 = 20 µs < NOP's ~20.2 µs ≤ 40 µs; the fill's ~36 µs too.
	assert.Equal(t, uint64(2), st.Latency.Counts[2])
}

func TestResetCancelsWorkAndRestoresRegisters(t *testing.T) {
	r := newRig(t, withSlice(5*time.Microsecond))
	a := r.guest("a", 1<<20)
	b := r.guest("b", 0)
	require.NoError(t, a.vc.AllocDeviceMemory(0x4000_0000, 1<<20, iommu.ReadWrite))
	a.write(spec.RegUser0, 8, 77)
	a.write(spec.RegIntMask, 4, 0)
	dst, _ := a.alloc(1<<20, iommu.ReadWrite)
	for i := 0; i < 3; i++ {
		_, err := a.vc.Submit(spec.Encode(nil, spec.OpFill, dst, 1<<18, 1))
		require.NoError(t, err)
	}
	bDst, bMem := b.alloc(1<<16, iommu.ReadWrite)
	_, err := b.vc.Submit(spec.Encode(nil, spec.OpFill, bDst, 1<<14, 0x09090909))
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err := r.dev.Step()
		require.NoError(t, err)
	}
	require.NoError(t, a.vc.Reset())
	assert.Equal(t, uint64(0), a.read(spec.RegUser0, 8))
	assert.Equal(t, uint64(spec.IntFence|spec.IntError|spec.IntFault), a.read(spec.RegIntMask, 4))
	assert.Zero(t, a.read(spec.RegStatus, 4)&spec.StatusBusy)
	failed := eventsOf(a.vc.Events(), EventJobFailed)
	assert.Len(t, failed, 3-int(a.vc.Stats().JobsDone))
	r.run()
	assert.Equal(t, byte(9), bMem[1<<16-1], "the other domain's job completed")
	assert.Equal(t, uint64(1<<20), a.vc.MemoryUsed(), "device memory is kept")
	_, err = a.vc.Submit(spec.Encode(nil, spec.OpNop))
	require.NoError(t, err, "the vcoproc works after the reset")
	r.run()
	assert.Len(t, eventsOf(a.vc.Events(), EventJobDone), 1)
	assert.Same(t, a.dom, a.vc.Owner())
	assert.Same(t, spec.ReferenceGPU(), a.vc.Spec())
}

// TestReservationPreemptsOnWake: under a hierarchical EDF + weighted-fair
// policy, a reserved vcoproc whose work arrives while a best-effort flood
// holds the device gets it within MaxRun, not at the end of the flood's
// slice.
func TestReservationPreemptsOnWake(t *testing.T) {
	r := newRig(t)
	caps := r.gpu.Caps()
	costs := scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible}
	edf := scheduler.NewEDF(scheduler.ReservationConfig{Costs: scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: 100 * time.Microsecond}, Label: "gpu0"})
	wfq, err := scheduler.NewWeightedFair(20*time.Millisecond, costs)
	require.NoError(t, err)
	h, err := scheduler.NewHierarchical(edf, wfq)
	require.NoError(t, err)
	require.NoError(t, r.dev.SetPolicy(h))

	flood := r.guest("flood", 0)
	cluster := r.guest("cluster", 0)
	require.NoError(t, cluster.vc.SetParams(scheduler.Params{Budget: time.Millisecond, Period: 16 * time.Millisecond}))
	const n = 1 << 20
	x, _ := flood.floats(make([]float32, n))
	y, _ := flood.floats(make([]float32, n))
	_, err = flood.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelSaxpy, n/64, flood.words(n, f32(1), x, y)))
	require.NoError(t, err)
	for r.clk.Now() < 3*time.Millisecond { // the flood owns the device
		res, err := r.dev.Step()
		require.NoError(t, err)
		r.clk.Advance(res.Elapsed)
	}
	require.Equal(t, "flood/gpu0", r.dev.Active())

	fence, _ := cluster.alloc(8, iommu.ReadWrite)
	_, err = cluster.vc.Submit(spec.Encode(nil, spec.OpFence, fence, 1))
	require.NoError(t, err)
	r.run()
	lat := cluster.vc.Stats().Latency.Max
	assert.Less(t, lat, DefaultMaxRun+caps.SwitchCost+100*time.Microsecond,
		"the reserved job waited %v: it must not wait for the flood's 20 ms slice", lat)
}

// TestFairShareSwitchesPerQuantumNotPerStep: a step runs at most MaxRun
// (1 ms), but a weighted-fair decision stands for its whole quantum, so
// two saturating vcoprocs alternate every quantum, not every step, and
// still share the device evenly.
func TestFairShareSwitchesPerQuantumNotPerStep(t *testing.T) {
	r := newRig(t)
	caps := r.gpu.Caps()
	const quantum = 5 * time.Millisecond
	wfq, err := scheduler.NewWeightedFair(quantum, scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible})
	require.NoError(t, err)
	require.NoError(t, r.dev.SetPolicy(wfq))
	var guests []*guest
	for _, name := range []string{"a", "b"} {
		g := r.guest(name, 0)
		const n = 1 << 22
		x, _ := g.floats(make([]float32, n))
		y, _ := g.floats(make([]float32, n))
		for range 3 { // about 85 ms of device time each
			_, err := g.vc.Submit(spec.Encode(nil, spec.OpDispatch, spec.KernelSaxpy, n/64, g.words(n, f32(1), x, y)))
			require.NoError(t, err)
		}
		guests = append(guests, g)
	}
	const horizon = 50 * time.Millisecond
	for r.clk.Now() < horizon {
		res, err := r.dev.Step()
		require.NoError(t, err)
		require.False(t, res.Idle, "both saturate the device (idle at %v)", r.clk.Now())
		require.LessOrEqual(t, res.Elapsed, DefaultMaxRun+caps.SwitchCost+caps.MaxNonPreemptible, "a step still runs at most MaxRun")
		r.clk.Advance(res.Elapsed)
	}
	switches := r.dev.Stats().Switches
	assert.LessOrEqual(t, switches, uint64(horizon/quantum)+2, "one switch per quantum, not per %v step", DefaultMaxRun)
	assert.GreaterOrEqual(t, switches, uint64(horizon/quantum)-2)
	a, b := guests[0].vc.Stats().Busy, guests[1].vc.Stats().Busy
	assert.InDelta(t, float64(a), float64(b), float64(quantum+caps.MaxNonPreemptible), "an even share: %v vs %v", a, b)
}
