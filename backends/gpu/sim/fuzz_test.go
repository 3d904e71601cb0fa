package sim

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/spec"
)

// FuzzRun feeds the engine arbitrary shadow commands, as a broken scanner
// might: whatever they hold, Run must not panic, every job must end in
// exactly one EventJobDone or EventJobFailed, and a context must keep going.
func FuzzRun(f *testing.F) {
	word := func(ws ...uint64) []byte {
		var b []byte
		for _, w := range ws {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
		return b
	}
	const buf = 1 << 63 // operand bit: an address inside the mapped buffer
	f.Add(word(uint64(spec.OpFence), 2, buf|8, 5))
	f.Add(word(uint64(spec.OpCopy), 3, buf|0x100, buf, 0x200))
	f.Add(word(uint64(spec.OpDispatch), 3, spec.KernelSaxpy, 4, 0, 200, 0x3f800000, buf, buf|0x400))
	f.Add(word(uint64(spec.OpDispatch), 3, spec.KernelSgemm, 9, 0, 8, 8, 8, buf, buf, buf|0x1000))
	f.Add(word(uint64(spec.OpDispatch), 3, spec.KernelReduceSum, 9, 0, 300, buf, buf|0x4))
	f.Add(word(uint64(spec.OpDispatch), 3, spec.KernelLocalRead, 1<<20, 0, 4096, buf))
	f.Add(word(uint64(spec.OpWait), 2, buf, 1))
	f.Add(word(uint64(spec.OpLoadReg), 2, spec.RegPTBase, 1, uint64(spec.OpStoreReg), 2, spec.RegUser0, buf))
	f.Add(word(uint64(spec.OpSetPTBase), 1, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := newGPU(t, Config{})
		d := newDomain(t, g, "fuzz")
		base, _ := d.alloc(64 << 10)
		next := func() uint64 {
			if len(data) < 8 {
				data = nil
				return 0
			}
			w := binary.LittleEndian.Uint64(data)
			data = data[8:]
			if w&buf != 0 {
				w = base + w&0xffff
			}
			return w
		}
		var jobs int
		for id := uint64(1); len(data) > 0 && id <= 4; id++ {
			var cmds []spec.Command
			for range 4 {
				c := spec.Command{Op: spec.Opcode(next() & 0xff), N: uint8(next() % (spec.MaxOperands + 1))}
				for i := range int(c.N) {
					c.Operands[i] = next()
				}
				if c.Op == spec.OpDispatch {
					c.Operands[1] %= spec.RefGPUMaxGroups + 2
					for range 6 {
						c.Args = append(c.Args, next())
					}
					if k, ok := g.spec.Commands.Kernel(c.Operands[0]); ok && len(c.Args) > len(k.Args) {
						c.Args = c.Args[:len(k.Args)]
					}
				}
				cmds = append(cmds, c)
			}
			require.NoError(t, g.Enqueue(d.ctx, &coproc.Job{ID: id, Commands: cmds}))
			jobs++
		}
		d.on()
		ended := map[uint64]int{}
		for range 20 {
			res, err := g.Run(100 * time.Microsecond)
			require.NoError(t, err)
			for _, e := range res.Events {
				if e.Kind != coproc.EventFence {
					ended[e.Job]++
					if e.Kind == coproc.EventJobFailed {
						assert.Error(t, e.Err)
					}
				}
			}
			if res.State != coproc.Preempted {
				break
			}
		}
		if g.Pending(d.ctx) == 0 {
			assert.Len(t, ended, jobs)
		}
		for id, n := range ended {
			assert.Equal(t, 1, n, "job %d ended %d times", id, n)
		}
	})
}
