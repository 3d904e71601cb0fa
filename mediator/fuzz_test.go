package mediator

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// FuzzAccess drives random register accesses at one vcoproc, interleaved
// with scheduling steps, and checks that nothing panics, that every refusal
// is an *AccessError, that the host's privileged registers never change, and
// that the other domain's registers keep their values.
func FuzzAccess(f *testing.F) {
	seed := func(ops ...[12]byte) []byte {
		var b []byte
		for _, o := range ops {
			b = append(b, o[:]...)
		}
		return b
	}
	op := func(off uint16, size uint8, write bool, v uint64) [12]byte {
		var o [12]byte
		binary.LittleEndian.PutUint16(o[0:], off)
		o[2] = size
		if write {
			o[3] = 1
		}
		binary.LittleEndian.PutUint64(o[4:], v)
		return o
	}
	f.Add(seed(op(spec.RegPTBase, 8, true, 0x1000), op(spec.RegUser0, 8, true, 5), op(spec.RegDoorbell, 4, true, 1)))
	f.Add(seed(op(spec.RegRingBase, 8, true, 0x10_0000), op(spec.RegRingSize, 4, true, 4096), op(spec.RegRingTail, 4, true, 16), op(spec.RegDoorbell, 4, true, 1)))
	f.Add(seed(op(spec.RegIntStatus, 4, true, 0xffffffff), op(spec.RegStatus, 4, false, 0), op(0xfff, 1, false, 0)))

	f.Fuzz(func(t *testing.T, data []byte) {
		r := newRig(t, withVRAM(128<<10), withWatchdog(time.Millisecond))
		g := r.guest("g", 64<<10)
		other := r.guest("other", 64<<10)
		other.setupRing(4096)
		other.write(spec.RegUser0, 8, 0x0123456789)
		g.setupRing(4096) // a mapped ring so that kicks reach the scanner
		privileged := map[uint32]uint64{}
		for _, reg := range r.gpu.Spec().Registers.Registers() {
			if reg.Class == spec.Privileged {
				privileged[reg.Offset] = r.gpu.ReadReg(reg.Offset)
			}
		}
		for len(data) >= 12 {
			off := uint32(binary.LittleEndian.Uint16(data[0:]))
			size, write := data[2], data[3]&1 == 1
			v := binary.LittleEndian.Uint64(data[4:])
			data = data[12:]
			got, err := g.vc.Access(off, size, write, v)
			if err != nil {
				var ae *AccessError
				require.True(t, errors.As(err, &ae), "%T: %v", err, err)
				require.Zero(t, got)
			} else if size < 8 {
				require.Less(t, got, uint64(1)<<(8*size), "a %d-byte read returned 0x%x", size, got)
			}
			_, err = r.dev.Step()
			require.NoError(t, err)
			r.clk.Advance(10 * time.Microsecond)
		}
		require.NoError(t, r.dev.RunUntilIdle(r.clk, time.Second))
		for off, v := range privileged {
			assert.Equal(t, v, r.gpu.ReadReg(off), "privileged register 0x%x changed", off)
		}
		assert.Equal(t, uint64(0x0123456789), other.read(spec.RegUser0, 8))
		assert.Equal(t, other.ringIOVA, other.read(spec.RegRingBase, 8))
		assert.Zero(t, other.read(spec.RegIntStatus, 4))
		assert.Empty(t, other.vc.Events())
	})
}

// FuzzScan submits random command buffers. Accepted buffers run; whatever
// they do, the bytes around the domain's mappings (guard memory, never
// mapped) and the other domain's memory keep their values, and a refusal
// is always a *ScanError that ran nothing.
func FuzzScan(f *testing.F) {
	const base = 0x10_0000 // the fuzzed domain maps [base, base+64 KiB)
	enc := func(words []uint64) []byte {
		b := make([]byte, 8*len(words))
		for i, w := range words {
			binary.LittleEndian.PutUint64(b[8*i:], w)
		}
		return b
	}
	var w []uint64
	w = spec.Encode(w, spec.OpFill, base, 16, 7)
	w = spec.Encode(w, spec.OpCopy, base+0x1000, base, 64)
	w = spec.Encode(w, spec.OpFence, base+0x2000, 3)
	f.Add(enc(w))
	f.Add(enc(spec.Encode(nil, spec.OpDispatch, spec.KernelSaxpy, 4, base)))          // arguments from memory
	f.Add(enc(spec.Encode(nil, spec.OpDispatch, spec.KernelReduceSum, 2, base+0x80))) // ditto
	f.Add(enc(spec.Encode(nil, spec.OpStoreReg, spec.RegUser0, base+8)))
	f.Add(enc(spec.Encode(nil, spec.OpCopy, base+0xfff0, base, 32))) // past the end
	f.Add(enc(spec.Encode(nil, spec.OpSetPTBase, 0)))
	f.Add(enc(spec.Encode(nil, spec.OpWait, base, 1)))

	f.Fuzz(func(t *testing.T, data []byte) {
		r := newRig(t, withVRAM(128<<10), withWatchdog(time.Millisecond))
		g := r.guest("g", 0)
		other := r.guest("other", 0)

		// One host allocation: guard page, 64 KiB mapped, guard page.
		host := make([]byte, 3*iommu.PageSize+64<<10)
		for i := range host {
			host[i] = 0xc3
		}
		mapped := host[iommu.PageSize : iommu.PageSize+64<<10]
		// Argument blocks the seeds point at: saxpy(n=256, alpha, x, y)
		// and reduce_sum(n=128, x, out).
		for i, v := range []uint64{256, uint64(0x3f800000), base + 0x4000, base + 0x8000} {
			binary.LittleEndian.PutUint64(mapped[8*i:], v)
		}
		for i, v := range []uint64{128, base + 0x4000, base + 0xc000} {
			binary.LittleEndian.PutUint64(mapped[0x80+8*i:], v)
		}
		require.NoError(t, g.dom.Map(base, mapped, iommu.ReadWrite))
		oIOVA, oMem := other.alloc(64<<10, iommu.ReadWrite)
		_ = oIOVA
		for i := range oMem {
			oMem[i] = 0x3c
		}

		words := make([]uint64, len(data)/8)
		for i := range words {
			words[i] = binary.LittleEndian.Uint64(data[8*i:])
		}
		_, err := g.vc.Submit(words)
		if err != nil {
			var se *ScanError
			require.True(t, errors.As(err, &se), "%T: %v", err, err)
			require.Zero(t, g.vc.Stats().Jobs)
		}
		require.NoError(t, r.dev.RunUntilIdle(r.clk, 10*time.Second))
		guard := bytes.Repeat([]byte{0xc3}, iommu.PageSize)
		require.True(t, bytes.Equal(guard, host[:iommu.PageSize]), "the guard page before the mapping changed")
		require.True(t, bytes.Equal(guard, host[len(host)-iommu.PageSize:]), "the guard page after the mapping changed")
		require.True(t, bytes.Equal(bytes.Repeat([]byte{0x3c}, len(oMem)), oMem), "the other domain's memory changed")
		assert.Empty(t, other.vc.Events())
	})
}
