package mediator

import (
	"sync"
	"testing"

	"github.com/coprocd/coprocd/internal/benchref"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// BenchmarkAccessEmulated is the trap path's hot case: one guest access to
// an emulated register (a write of RING_TAIL, a read of INT_MASK). Target:
// ≤ 50 ns/op and 0 allocs/op. The baseline is the same operation on a plain
// register array behind a mutex: what an unmediated, thread-safe register
// file costs, so x-baseline is the price of decoding and mediation.
func BenchmarkAccessEmulated(b *testing.B) {
	for _, c := range []struct {
		name  string
		off   uint32
		write bool
	}{{"write", spec.RegRingTail, true}, {"read", spec.RegIntMask, false}} {
		b.Run(c.name, func(b *testing.B) {
			r := newRig(b)
			g := r.guest("g", 0)
			var mu sync.Mutex
			plain := make([]uint64, spec.RefGPUWindowBytes/4)
			var sink uint64
			benchref.Compare(b,
				func(n int) {
					for i := 0; i < n; i++ {
						mu.Lock()
						if c.write {
							plain[c.off/4] = uint64(i) & 0xff8
						} else {
							sink += plain[c.off/4]
						}
						mu.Unlock()
					}
				},
				func(n int) {
					for i := 0; i < n; i++ {
						v, _ := g.vc.Access(c.off, 4, c.write, uint64(i)&0xff8)
						sink += v
					}
				})
			_ = sink
		})
	}
}

// BenchmarkAccessPassThrough reads and writes a USER register while the
// vcoproc owns the device: the access reaches the backend's register file.
func BenchmarkAccessPassThrough(b *testing.B) {
	r := newRig(b)
	g := r.guest("g", 0)
	if _, err := g.vc.Submit(spec.Encode(nil, spec.OpNop)); err != nil {
		b.Fatal(err)
	}
	r.run()
	var mu sync.Mutex
	plain := make([]uint64, spec.RefGPUWindowBytes/4)
	var sink uint64
	benchref.Compare(b,
		func(n int) {
			for i := 0; i < n; i++ {
				mu.Lock()
				plain[spec.RegUser0/4] = uint64(i)
				mu.Unlock()
				mu.Lock()
				sink += plain[spec.RegUser0/4]
				mu.Unlock()
			}
		},
		func(n int) {
			for i := 0; i < n; i++ {
				_, _ = g.vc.Access(spec.RegUser0, 8, true, uint64(i))
				v, _ := g.vc.Access(spec.RegUser0, 8, false, 0)
				sink += v
			}
		})
	_ = sink
}

// BenchmarkScan audits a 64-command buffer (fills, copies, fences and a
// saxpy dispatch with its argument block). The baseline decodes the same
// headers without auditing anything, so x-baseline is the audit's price.
func BenchmarkScan(b *testing.B) {
	r := newRig(b)
	g := r.guest("g", 0)
	x, _ := g.alloc(1<<16, iommu.ReadWrite)
	y, _ := g.alloc(1<<16, iommu.ReadWrite)
	args := g.words(1<<14, f32(2), x, y)
	var words []uint64
	for i := 0; i < 16; i++ {
		words = spec.Encode(words, spec.OpFill, x, 256, 1)
		words = spec.Encode(words, spec.OpCopy, y, x, 1024)
		words = spec.Encode(words, spec.OpFence, y+8*uint64(i), uint64(i))
		words = spec.Encode(words, spec.OpDispatch, spec.KernelSaxpy, 256, args)
	}
	dev := r.gpu.Spec()
	var sink int
	benchref.Compare(b,
		func(n int) {
			for i := 0; i < n; i++ {
				for pos := 0; pos < len(words); {
					c := int(words[pos]>>spec.HeaderCountShift) & spec.HeaderCountMask
					sink += c
					pos += 1 + c
				}
			}
		},
		func(n int) {
			for i := 0; i < n; i++ {
				cmds, err := Scan(dev, g.dom.as, words)
				if err != nil {
					b.Fatal(err)
				}
				sink += len(cmds)
			}
		})
	_ = sink
}
