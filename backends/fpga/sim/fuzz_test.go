package sim

import (
	"bytes"
	"encoding/binary"
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

func wordBytes(ws ...uint64) []byte {
	var b []byte
	for _, w := range ws {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

// fuzzBuf marks a word as an address inside the fuzzing domain's buffer.
const fuzzBuf = 1 << 63

// FuzzEngine feeds the engine arbitrary shadow commands, as a broken
// scanner might: Run must not panic, every job must end in exactly one
// EventJobDone or EventJobFailed, and the context must keep going.
func FuzzEngine(f *testing.F) {
	f.Add(wordBytes(uint64(spec.FPGAOpInvoke), 2, spec.AccelCRC32, 0, 100, fuzzBuf, fuzzBuf|0x1000))
	f.Add(wordBytes(uint64(spec.FPGAOpInvoke), 2, spec.AccelFIR, 0, 300, 9, fuzzBuf, fuzzBuf|0x2000, fuzzBuf|0x3000))
	f.Add(wordBytes(uint64(spec.FPGAOpInvoke), 2, spec.AccelAES128CTR, 0, 64, fuzzBuf, fuzzBuf|16, fuzzBuf|32, fuzzBuf|0x100))
	f.Add(wordBytes(uint64(spec.FPGAOpInvoke), 2, spec.AccelMatMul, 0, 4, 4, 4, fuzzBuf, fuzzBuf|0x100, fuzzBuf|0x200))
	f.Add(wordBytes(uint64(spec.FPGAOpPrefetch), 1, spec.AccelMatMul, uint64(spec.OpCopy), 3, fuzzBuf|0x100, fuzzBuf, 0x200))
	f.Add(wordBytes(uint64(spec.OpLoadReg), 2, spec.FPGARegPRData, 1, uint64(spec.OpStoreReg), 2, spec.RegUser0, fuzzBuf))
	f.Add(wordBytes(uint64(spec.FPGAOpLoadBitstream), 3, 0, fuzzBuf, 0x100))
	f.Fuzz(func(t *testing.T, data []byte) {
		fp := newFPGA(t, Config{Regions: 1, CacheEntries: 2})
		d := newDomain(t, fp, "fuzz")
		base, _ := d.alloc(64 << 10)
		next := func() uint64 {
			if len(data) < 8 {
				data = nil
				return 0
			}
			w := binary.LittleEndian.Uint64(data)
			data = data[8:]
			if w&fuzzBuf != 0 {
				w = base + w&0xffff
			}
			return w
		}
		jobs := 0
		for id := uint64(1); len(data) > 0 && id <= 4; id++ {
			var cmds []spec.Command
			for range 3 {
				c := spec.Command{Op: spec.Opcode(next() & 0xff), N: uint8(next() % (spec.MaxOperands + 1))}
				for i := range int(c.N) {
					c.Operands[i] = next()
				}
				if c.Op == spec.FPGAOpInvoke {
					for range 6 {
						c.Args = append(c.Args, next()%(1<<21))
					}
					if k, ok := fp.spec.Commands.Kernel(c.Operands[0]); ok && len(c.Args) > len(k.Args) {
						c.Args = c.Args[:len(k.Args)]
					}
				}
				cmds = append(cmds, c)
			}
			require.NoError(t, fp.Enqueue(d.ctx, &coproc.Job{ID: id, Commands: cmds}))
			jobs++
		}
		d.on()
		ended := map[uint64]int{}
		for range 50 {
			res, err := fp.Run(time.Millisecond)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, res.Used, time.Duration(0))
			for _, e := range res.Events {
				if e.Kind != coproc.EventFence {
					ended[e.Job]++
				}
			}
			if res.State == coproc.Idle {
				break
			}
		}
		assert.Zero(t, fp.Pending(d.ctx))
		assert.Len(t, ended, jobs)
		for id, n := range ended {
			assert.Equal(t, 1, n, "job %d ended %d times", id, n)
		}
		assert.Zero(t, fp.ReadReg(spec.FPGARegPRData), "no guest command reaches a privileged register")
	})
}

// FuzzSubmit sends arbitrary command buffers through the mediator's
// scanner to the card while a bystander domain computes a CRC: nothing
// panics, and the bystander's result and event stream are untouched.
func FuzzSubmit(f *testing.F) {
	f.Add(wordBytes(spec.Header(spec.FPGAOpInvoke, 2), spec.AccelCRC32, fuzzBuf|0x800))
	f.Add(wordBytes(spec.Header(spec.FPGAOpLoadBitstream, 3), 0, fuzzBuf, 0x100))
	f.Add(wordBytes(spec.Header(spec.OpCopy, 3), fuzzBuf|0x100, 0x4000_0000, 0x100))
	f.Add(wordBytes(spec.Header(spec.FPGAOpPrefetch, 1), spec.AccelAES128CTR, spec.Header(spec.OpFence, 2), fuzzBuf|8, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newRig(t, Config{}, 100*time.Microsecond)
		g, by := r.guest("fuzz", 0), r.guest("bystander", 0)
		by.next = 0x4000_0000
		base, mem := g.alloc(64<<10, iommu.ReadWrite)
		copy(mem, data) // the fuzzer also controls what argument blocks say
		for i := 0; i+8 <= len(mem); i += 8 {
			if w := binary.LittleEndian.Uint64(mem[i:]); w&fuzzBuf != 0 {
				binary.LittleEndian.PutUint64(mem[i:], base+w&0xfff8)
			}
		}
		var words []uint64
		for len(data) >= 8 && len(words) < 64 {
			w := binary.LittleEndian.Uint64(data)
			if w&fuzzBuf != 0 {
				w = base + w&0xffff
			}
			words = append(words, w)
			data = data[8:]
		}
		src := randBytes(1, 3000)
		out, outMem := by.alloc(4, iommu.ReadWrite)
		by.invoke(spec.AccelCRC32, 3000, by.data(src), out)
		_, _ = g.vc.Submit(words)
		r.run()
		assert.Equal(t, crc32.ChecksumIEEE(src), binary.LittleEndian.Uint32(outMem))
		evs := by.vc.Events()
		require.Len(t, evs, 1)
		assert.Equal(t, mediator.EventJobDone, evs[0].Kind)
		assert.True(t, bytes.Equal(src, randBytes(1, 3000)))
		assert.Empty(t, by.dom.Faults())
	})
}
