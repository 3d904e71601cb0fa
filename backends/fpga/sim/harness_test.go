package sim

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/clock"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/scheduler"
	"github.com/coprocd/coprocd/spec"
)

// rig is a mediator with one reference FPGA under round-robin and a
// virtual clock, as mediator/rig_test.go builds one for the GPU.
type rig struct {
	t    testing.TB
	clk  *clock.Virtual
	m    *mediator.Mediator
	fpga *FPGA
	dev  *mediator.Device
}

func newRig(t testing.TB, cfg Config, slice time.Duration) *rig {
	t.Helper()
	clk := clock.NewVirtual()
	m, err := mediator.New(mediator.Config{Clock: clk, WatchdogLimit: time.Minute})
	require.NoError(t, err)
	if cfg.DDRBytes == 0 {
		cfg.DDRBytes, cfg.DDRGranule = 1<<20, 64<<10
	}
	f, err := New(cfg)
	require.NoError(t, err)
	caps := f.Caps()
	rr, err := scheduler.NewRoundRobin(slice, scheduler.Costs{SwitchCost: caps.SwitchCost, MaxNonPreemptible: caps.MaxNonPreemptible})
	require.NoError(t, err)
	dev, err := m.AddDevice("fpga0", f, rr)
	require.NoError(t, err)
	return &rig{t: t, clk: clk, m: m, fpga: f, dev: dev}
}

func (r *rig) run() {
	r.t.Helper()
	require.NoError(r.t, r.dev.RunUntilIdle(r.clk, time.Hour))
}

// guest is a domain with memory mapped into its address space and a
// vcoproc on the rig's FPGA.
type guest struct {
	t    testing.TB
	r    *rig
	dom  *mediator.Domain
	vc   *mediator.VCoproc
	next uint64
}

func (r *rig) guest(name string, quota uint64) *guest {
	r.t.Helper()
	dom, err := r.m.CreateDomain(name)
	require.NoError(r.t, err)
	vc, err := r.m.Attach(name, "fpga0", mediator.VCoprocConfig{MemoryQuota: quota})
	require.NoError(r.t, err)
	return &guest{t: r.t, r: r, dom: dom, vc: vc, next: 0x10_0000}
}

// alloc maps a fresh buffer followed by an unmapped guard page and returns
// its IOVA and memory (exactly size bytes long).
func (g *guest) alloc(size uint64, perm iommu.Perm) (uint64, []byte) {
	g.t.Helper()
	pages := max((size+iommu.PageSize-1)/iommu.PageSize, 1)
	mem := make([]byte, pages*iommu.PageSize)
	iova := g.next
	require.NoError(g.t, g.dom.Map(iova, mem, perm))
	g.next += uint64(len(mem)) + iommu.PageSize
	return iova, mem[:size]
}

func (g *guest) data(b []byte) uint64 {
	iova, mem := g.alloc(uint64(len(b)), iommu.ReadWrite)
	copy(mem, b)
	return iova
}

func (g *guest) words(v ...uint64) uint64 {
	b := make([]byte, 8*len(v))
	for i, w := range v {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	return g.data(b)
}

// invoke submits one INVOKE of accel with the argument block args.
func (g *guest) invoke(accel uint64, args ...uint64) uint64 {
	g.t.Helper()
	id, err := g.vc.Submit(spec.Encode(nil, spec.FPGAOpInvoke, accel, g.words(args...)))
	require.NoError(g.t, err)
	return id
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func int16s(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

func int32s(b []byte) []int32 {
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// firRef is the naive FIR of the spec: y[i] = Σ h[j]·x[i−j].
func firRef(x, h []int16) []byte {
	y := make([]byte, 8*len(x))
	for i := range x {
		var acc int64
		for j := 0; j < len(h) && j <= i; j++ {
			acc += int64(h[j]) * int64(x[i-j])
		}
		binary.LittleEndian.PutUint64(y[8*i:], uint64(acc))
	}
	return y
}

func matmulRef(m, n, k int, a, b []int32) []byte {
	c := make([]byte, 4*m*n)
	for i := range m {
		for j := range n {
			var acc int32
			for p := range k {
				acc += a[i*k+p] * b[p*n+j]
			}
			binary.LittleEndian.PutUint32(c[4*(i*n+j):], uint32(acc))
		}
	}
	return c
}

func aesCTRRef(key, iv, src []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	out := make([]byte, len(src))
	cipher.NewCTR(block, iv).XORKeyStream(out, src)
	return out
}

// work is one accelerator job a guest has queued and the result it must
// produce.
type work struct {
	out  []byte
	want []byte
}

func (g *guest) crcJob(seed uint64, n int) work {
	src := randBytes(seed, n)
	out, mem := g.alloc(4, iommu.ReadWrite)
	g.invoke(spec.AccelCRC32, uint64(n), g.data(src), out)
	return work{out: mem, want: binary.LittleEndian.AppendUint32(nil, crc32IEEE(src))}
}

func (g *guest) firJob(seed uint64, n, taps int) work {
	xb, hb := randBytes(seed, 2*n), randBytes(seed+1, 2*taps)
	y, mem := g.alloc(uint64(8*n), iommu.ReadWrite)
	g.invoke(spec.AccelFIR, uint64(n), uint64(taps), g.data(xb), g.data(hb), y)
	return work{out: mem, want: firRef(int16s(xb), int16s(hb))}
}

func (g *guest) aesJob(seed uint64, n int) work {
	key, iv, src := randBytes(seed, 16), randBytes(seed+1, 16), randBytes(seed+2, n)
	iv[15] = 0xff // the counter carries into the next byte within the first blocks
	dst, mem := g.alloc(uint64(n), iommu.ReadWrite)
	g.invoke(spec.AccelAES128CTR, uint64(n), g.data(key), g.data(iv), g.data(src), dst)
	return work{out: mem, want: aesCTRRef(key, iv, src)}
}

func (g *guest) matmulJob(seed uint64, m, n, k int) work {
	ab, bb := randBytes(seed, 4*m*k), randBytes(seed+1, 4*k*n)
	c, mem := g.alloc(uint64(4*m*n), iommu.ReadWrite)
	g.invoke(spec.AccelMatMul, uint64(m), uint64(n), uint64(k), g.data(ab), g.data(bb), c)
	return work{out: mem, want: matmulRef(m, n, k, int32s(ab), int32s(bb))}
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
