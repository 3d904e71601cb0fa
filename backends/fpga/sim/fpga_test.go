package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/spec"
)

func eventsOf(evs []mediator.Event, k mediator.EventKind) []mediator.Event {
	var out []mediator.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func checkWork(t *testing.T, who string, ws []work) {
	t.Helper()
	for i, w := range ws {
		assert.True(t, bytes.Equal(w.want, w.out), "%s: job %d computed a wrong result", who, i)
	}
}

// Four domains share the card, each with its own accelerator, under
// round-robin: every result is the standard library's (or the naive
// reference's), with buffers larger than one DMA chunk.
func TestDomainsShareTheFPGA(t *testing.T) {
	r := newRig(t, Config{}, time.Millisecond)
	a, b, c, d := r.guest("crc", 0), r.guest("fir", 0), r.guest("aes", 0), r.guest("mm", 0)
	var wa, wb, wc, wd []work
	for i := range 3 {
		s := uint64(10 * i)
		wa = append(wa, a.crcJob(s, 200<<10+i))
		wb = append(wb, b.firJob(s, 20_000+i, 1+7*i))
		wc = append(wc, c.aesJob(s, 100<<10+5+i))
		wd = append(wd, d.matmulJob(s, 33, 17+i, 29))
	}
	wb = append(wb, b.firJob(99, 300, 0)) // no taps: all zeros
	r.run()
	checkWork(t, "crc", wa)
	checkWork(t, "fir", wb)
	checkWork(t, "aes", wc)
	checkWork(t, "matmul", wd)
	for _, g := range []*guest{a, b, c, d} {
		evs := g.vc.Events()
		assert.Empty(t, eventsOf(evs, mediator.EventJobFailed), g.vc.Name())
		assert.Len(t, eventsOf(evs, mediator.EventJobDone), int(g.vc.Stats().Jobs), g.vc.Name())
	}
	st := r.fpga.ReconfigStats()
	assert.Equal(t, uint64(13), st.Invokes)
	assert.Greater(t, st.Reconfigs, uint64(3), "four accelerators, two regions")
	assert.Equal(t, uint64(4), st.CacheMisses, "each bitstream is fetched once, then cached")
	assert.Equal(t, st.Reconfigs-4, st.CacheHits)
}

// A command naming memory the sender has not mapped (another domain's
// buffer among them) is refused before anything runs; a buffer unmapped
// after the audit faults the sender's job only.
func TestFaultsStayInTheSender(t *testing.T) {
	r := newRig(t, Config{}, time.Millisecond)
	a, b := r.guest("a", 0), r.guest("b", 0)
	b.next = 0x4000_0000 // b's buffers are nowhere in a's address space
	secret := randBytes(7, 4096)
	bsrc := b.data(secret)
	out, _ := a.alloc(4, iommu.ReadWrite)

	_, err := a.vc.Submit(spec.Encode(nil, spec.FPGAOpInvoke, spec.AccelCRC32, a.words(4096, bsrc, out)))
	require.Error(t, err)
	assert.ErrorIs(t, err, mediator.ErrOutsideDomain)
	assert.Contains(t, err.Error(), "src")
	assert.Equal(t, uint64(1), a.vc.Stats().Refused)
	assert.Zero(t, a.vc.Stats().Jobs, "nothing of a refused buffer is queued")

	// Read-only output: refused too (the accelerator writes out).
	roOut, _ := a.alloc(4, iommu.Read)
	_, err = a.vc.Submit(spec.Encode(nil, spec.FPGAOpInvoke, spec.AccelCRC32, a.words(16, a.data(secret[:16]), roOut)))
	assert.ErrorIs(t, err, mediator.ErrOutsideDomain)

	// Unmapped after the audit: a's job faults, b's runs.
	src := a.data(secret)
	a.invoke(spec.AccelCRC32, 4096, src, out)
	require.NoError(t, a.dom.Unmap(src, 4096))
	wb := b.crcJob(3, 10_000)
	r.run()

	evs := a.vc.Events()
	failed := eventsOf(evs, mediator.EventJobFailed)
	require.Len(t, failed, 1)
	var fault *iommu.Fault
	require.True(t, errors.As(failed[0].Err, &fault))
	assert.Equal(t, "a", fault.Domain)
	assert.Equal(t, src, fault.IOVA)
	assert.Equal(t, uint64(1), a.vc.Stats().Faults)
	code, err := a.vc.Access(spec.RegErrorCode, 4, false, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(spec.ErrCodeFault), code)

	checkWork(t, "b", []work{wb})
	assert.Empty(t, eventsOf(b.vc.Events(), mediator.EventJobFailed))
	assert.Zero(t, b.vc.Stats().Faults)
	assert.Empty(t, b.dom.Faults())
}

// Raw bitstream loading, the ICAP/PR port, isolation and reset are the
// host's: every guest attempt is denied, counted, and changes nothing.
func TestPrivilegedDenied(t *testing.T) {
	r := newRig(t, Config{}, time.Millisecond)
	g := r.guest("g", 0)
	for _, reg := range []struct {
		off   uint32
		size  uint8
		write bool
	}{{spec.FPGARegPRData, 8, true}, {spec.FPGARegPRCtrl, 8, false}, {spec.FPGARegDecouple, 4, true}, {spec.FPGARegPortReset, 4, true}, {spec.FPGARegPTBase, 8, false}} {
		_, err := g.vc.Access(reg.off, reg.size, reg.write, 1)
		assert.ErrorIs(t, err, mediator.ErrPrivileged, "0x%x", reg.off)
	}
	assert.Equal(t, uint64(5), g.vc.Stats().Denied)
	assert.Zero(t, r.fpga.ReadReg(spec.FPGARegPRData), "the write never reached the card")

	bits := g.data(randBytes(1, 4096))
	for _, words := range [][]uint64{
		spec.Encode(nil, spec.FPGAOpLoadBitstream, 0, bits, 4096),
		spec.Encode(nil, spec.FPGAOpEvictCache),
		spec.Encode(nil, spec.OpSetPTBase, 0),
		spec.Encode(spec.Encode(nil, spec.OpNop), spec.FPGAOpLoadBitstream, 0, bits, 4096), // hidden behind a NOP
	} {
		_, err := g.vc.Submit(words)
		assert.ErrorIs(t, err, mediator.ErrPrivilegedCommand)
	}
	fence, _ := g.alloc(8, iommu.ReadWrite)
	_, err := g.vc.Submit(spec.Encode(nil, spec.OpStoreReg, spec.FPGARegPRCtrl, fence))
	assert.ErrorIs(t, err, mediator.ErrPrivileged, "a register operand naming a privileged register")
	assert.Equal(t, uint64(10), g.vc.Stats().Denied)
	assert.Zero(t, g.vc.Stats().Jobs)
	r.run()
	assert.Equal(t, []uint64{0, 0}, r.fpga.Resident(), "nothing was configured")
	assert.Empty(t, r.fpga.Cached())
}

// The engine refuses privileged commands itself, should a broken scanner
// ever let one through.
func TestEngineRefusesPrivilegedCommands(t *testing.T) {
	f := newFPGA(t, Config{})
	d := newDomain(t, f, "d")
	d.enqueue(1, spec.Command{Op: spec.FPGAOpLoadBitstream, N: 3})
	d.enqueue(2, spec.Command{Op: spec.FPGAOpPrefetch, N: 1, Operands: [8]uint64{0}})
	d.on()
	res, err := f.Run(time.Hour)
	require.NoError(t, err)
	require.Len(t, res.Events, 2)
	assert.ErrorIs(t, res.Events[0].Err, ErrBadCommand)
	assert.ErrorContains(t, res.Events[0].Err, "privileged")
	assert.ErrorContains(t, res.Events[1].Err, "not in the library")
	assert.Equal(t, []uint64{0, 0}, f.Resident())
}

// On-board DDR a domain frees is scrubbed before the next owner gets it:
// the next owner's accelerator reads zeros.
func TestDDRScrubbedBetweenOwners(t *testing.T) {
	r := newRig(t, Config{DDRBytes: 128 << 10, DDRGranule: 64 << 10}, time.Millisecond)
	a, b := r.guest("a", 128<<10), r.guest("b", 128<<10)
	const ddr, n = 0x8000_0000, 64 << 10
	require.NoError(t, a.vc.AllocDeviceMemory(ddr, 128<<10, iommu.ReadWrite))
	secret := randBytes(5, n)
	_, err := a.vc.Submit(spec.Encode(nil, spec.OpCopy, ddr, a.data(secret), n))
	require.NoError(t, err)
	out, outMem := a.alloc(4, iommu.ReadWrite)
	a.invoke(spec.AccelCRC32, n, ddr, out)
	r.run()
	assert.Equal(t, crc32.ChecksumIEEE(secret), binary.LittleEndian.Uint32(outMem), "the secret is in DDR")
	require.NoError(t, a.vc.FreeDeviceMemory(ddr))

	require.NoError(t, b.vc.AllocDeviceMemory(ddr, 128<<10, iommu.ReadWrite))
	bout, boutMem := b.alloc(4, iommu.ReadWrite)
	b.invoke(spec.AccelCRC32, n, ddr, bout)
	dump, dumpMem := b.alloc(n, iommu.ReadWrite)
	_, err = b.vc.Submit(spec.Encode(nil, spec.OpCopy, dump, ddr, n))
	require.NoError(t, err)
	r.run()
	assert.Equal(t, crc32.ChecksumIEEE(make([]byte, n)), binary.LittleEndian.Uint32(boutMem))
	assert.True(t, bytes.Equal(make([]byte, n), dumpMem), "b reads zeros where a's secret was")
	assert.Empty(t, eventsOf(b.vc.Events(), mediator.EventJobFailed))
}

// Per-context registers are saved and restored across switches.
func TestUserRegistersPerContext(t *testing.T) {
	r := newRig(t, Config{}, time.Microsecond)
	a, b := r.guest("a", 0), r.guest("b", 0)
	outA, memA := a.alloc(8, iommu.ReadWrite)
	outB, memB := b.alloc(8, iommu.ReadWrite)
	for _, g := range []struct {
		g   *guest
		v   uint64
		out uint64
	}{{a, 0xaaaa, outA}, {b, 0xbbbb, outB}} {
		var w []uint64
		w = spec.Encode(w, spec.OpLoadReg, spec.RegUser0+8, g.v)
		w = spec.Encode(w, spec.OpNop)
		w = spec.Encode(w, spec.OpStoreReg, spec.RegUser0+8, g.out)
		_, err := g.g.vc.Submit(w)
		require.NoError(t, err)
	}
	r.run()
	assert.Equal(t, uint64(0xaaaa), binary.LittleEndian.Uint64(memA))
	assert.Equal(t, uint64(0xbbbb), binary.LittleEndian.Uint64(memB))
	v, err := a.vc.Access(spec.RegUser0+8, 8, false, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(0xaaaa), v)
}

// The ring and doorbell of the reference GPU's programming model work
// unchanged for the FPGA.
func TestRingSubmission(t *testing.T) {
	r := newRig(t, Config{}, time.Millisecond)
	g := r.guest("g", 0)
	ringIOVA, ring := g.alloc(4096, iommu.ReadWrite)
	_, err := g.vc.Access(spec.RegRingBase, 8, true, ringIOVA)
	require.NoError(t, err)
	_, err = g.vc.Access(spec.RegRingSize, 4, true, 4096)
	require.NoError(t, err)
	src := randBytes(3, 5000)
	out, outMem := g.alloc(4, iommu.ReadWrite)
	fence, _ := g.alloc(8, iommu.ReadWrite)
	words := spec.Encode(nil, spec.FPGAOpInvoke, spec.AccelCRC32, g.words(5000, g.data(src), out))
	words = spec.Encode(words, spec.OpFence, fence, 77)
	for i, w := range words {
		binary.LittleEndian.PutUint64(ring[8*i:], w)
	}
	_, err = g.vc.Access(spec.RegRingTail, 4, true, uint64(8*len(words)))
	require.NoError(t, err)
	_, err = g.vc.Access(spec.RegDoorbell, 4, true, 1)
	require.NoError(t, err)
	r.run()
	assert.Equal(t, crc32.ChecksumIEEE(src), binary.LittleEndian.Uint32(outMem))
	v, err := g.vc.Access(spec.RegFence, 8, false, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(77), v)
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Regions: 65}, "65 regions"},
		{Config{DDRBytes: 64 << 10, DDRGranule: 128 << 10}, "larger than the DDR"},
		{Config{Bitstreams: map[uint64]uint64{9: 1}}, "accelerator 9, which is not in the library"},
		{Config{Bitstreams: map[uint64]uint64{spec.AccelFIR: 0}}, "give 1 byte"},
		{Config{Cost: CostModel{ClockHz: 1}}, "DMABytesPerCycle is 0"},
		{Config{Cost: func() CostModel { m := DefaultCostModel(); m.FetchFixed = -1; return m }()}, "FetchFixed is -1ns"},
	} {
		_, err := New(c.cfg)
		assert.ErrorContains(t, err, c.want)
	}
}

func TestContextErrors(t *testing.T) {
	f := newFPGA(t, Config{})
	other := newFPGA(t, Config{})
	a, b := newDomain(t, f, "a"), newDomain(t, f, "b")
	foreign := newDomain(t, other, "x")
	_, err := f.Run(time.Hour)
	assert.ErrorIs(t, err, coproc.ErrNotActive)
	_, err = f.Init("")
	assert.Error(t, err)
	assert.ErrorContains(t, f.SwitchTo(foreign.ctx), "another FPGA")
	assert.Error(t, f.SwitchTo(nil))
	_, err = f.SwitchFrom(a.ctx)
	assert.ErrorContains(t, err, "not the active one")
	require.NoError(t, f.SwitchTo(a.ctx))
	assert.NoError(t, f.SwitchTo(a.ctx))
	assert.ErrorContains(t, f.SwitchTo(b.ctx), `domain "a" is still active`)
	assert.ErrorContains(t, f.Enqueue(a.ctx, nil), "nil job")
	assert.Zero(t, f.Pending(foreign.ctx))
	assert.Equal(t, f.Caps().SwitchCost, f.SwitchCostTo(foreign.ctx))
	a.enqueue(1, spec.Command{Op: spec.OpNop})
	f.Deinit(a.ctx)
	_, err = f.Run(time.Hour)
	assert.ErrorIs(t, err, coproc.ErrNotActive)
	assert.ErrorContains(t, f.Enqueue(a.ctx, &coproc.Job{ID: 2}), "destroyed")
	f.Deinit(a.ctx)
	_, ok := f.Reset(foreign.ctx)
	assert.False(t, ok)
	assert.Equal(t, uint64(spec.RefFPGARegions), f.ReadReg(spec.FPGARegRegions))
	f.WriteReg(spec.RegID, 5)
	assert.Equal(t, uint64(spec.RefFPGAID), f.ReadReg(spec.RegID), "identification is read-only")
	assert.Zero(t, f.ReadReg(0xffc))
}
