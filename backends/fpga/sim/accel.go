package sim

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"hash/crc32"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/spec"
)

// invokeCycles is the cost of one invocation of accelerator id with the
// (checked) argument snapshot args: the larger of the DMA and the pipeline,
// which overlap in a streaming accelerator.
func invokeCycles(m *CostModel, id uint64, args []uint64) uint64 {
	dma := func(bytes uint64) uint64 { return engine.CeilDiv(bytes, m.DMABytesPerCycle) }
	switch id {
	case spec.AccelCRC32:
		n := args[0]
		return max(dma(n+4), engine.CeilDiv(n, m.CRCBytesPerCycle))
	case spec.AccelFIR:
		n, taps := args[0], args[1]
		return max(dma(2*taps+10*n), engine.CeilDiv(n, m.FIRSamplesPerCycle)+taps)
	case spec.AccelAES128CTR:
		n := args[0]
		return max(dma(32+2*n), engine.CeilDiv(n, m.AESBytesPerCycle))
	case spec.AccelMatMul:
		mm, n, k := args[0], args[1], args[2]
		return max(dma(4*(mm*k+k*n+mm*n)), engine.CeilDiv(mm*n*k, m.MACsPerCycle))
	}
	return 0
}

// invoke runs accelerator id on checked arguments, every byte through the
// IOMMU unit (the active domain's address space).
func (f *FPGA) invoke(id uint64, args []uint64) error {
	switch id {
	case spec.AccelCRC32:
		return f.crc32(args[0], args[1], args[2])
	case spec.AccelFIR:
		return f.fir(args[0], args[1], args[2], args[3], args[4])
	case spec.AccelAES128CTR:
		return f.aesCTR(args[0], args[1], args[2], args[3], args[4])
	case spec.AccelMatMul:
		return f.matmul(args[0], args[1], args[2], args[3], args[4], args[5])
	}
	return nil // checkCommand admits only the ids above
}

func (f *FPGA) crc32(n, src, out uint64) error {
	var crc uint32
	for done := uint64(0); done < n; {
		m := min(chunk, n-done)
		if err := f.unit.Read(src+done, f.bufA[:m]); err != nil {
			return err
		}
		crc = crc32.Update(crc, crc32.IEEETable, f.bufA[:m])
		done += m
	}
	return f.unit.WriteU32(out, crc)
}

// fir streams x through a direct-form filter a chunk at a time, carrying
// the last taps-1 samples between chunks as the hardware's delay line does.
func (f *FPGA) fir(n, taps, x, h, y uint64) error {
	coef := make([]int64, taps)
	if taps > 0 {
		raw := f.bufA[:2*taps]
		if err := f.unit.Read(h, raw); err != nil {
			return err
		}
		for j := range coef {
			coef[j] = int64(int16(binary.LittleEndian.Uint16(raw[2*j:])))
		}
	}
	// line[0:hist] holds the samples before the chunk, oldest first.
	const per = chunk / 8 // samples per chunk: y takes 8 bytes a sample
	line := make([]int64, int(taps)+per)
	hist := 0
	for done := uint64(0); done < n; {
		m := min(per, n-done)
		raw := f.bufA[:2*m]
		if err := f.unit.Read(x+2*done, raw); err != nil {
			return err
		}
		for i := range m {
			line[hist+int(i)] = int64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
		}
		out := f.bufB[:8*m]
		for i := range int(m) {
			var acc int64
			cur := hist + i
			for j := 0; j < int(taps) && j <= cur; j++ {
				acc += coef[j] * line[cur-j]
			}
			binary.LittleEndian.PutUint64(out[8*i:], uint64(acc))
		}
		if err := f.unit.Write(y+8*done, out); err != nil {
			return err
		}
		keep := min(int(taps)-1, hist+int(m))
		if keep > 0 {
			copy(line, line[hist+int(m)-keep:hist+int(m)])
		} else {
			keep = 0
		}
		hist = keep
		done += m
	}
	return nil
}

func (f *FPGA) aesCTR(n, key, iv, src, dst uint64) error {
	var k, v [16]byte
	if err := f.unit.Read(key, k[:]); err != nil {
		return err
	}
	if err := f.unit.Read(iv, v[:]); err != nil {
		return err
	}
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return err // unreachable: the key is 16 bytes
	}
	stream := cipher.NewCTR(block, v[:])
	for done := uint64(0); done < n; {
		m := min(chunk, n-done)
		if err := f.unit.Read(src+done, f.bufA[:m]); err != nil {
			return err
		}
		stream.XORKeyStream(f.bufB[:m], f.bufA[:m])
		if err := f.unit.Write(dst+done, f.bufB[:m]); err != nil {
			return err
		}
		done += m
	}
	return nil
}

// matmul holds B on the card (as the systolic array's weight buffer does)
// and streams A in and C out a row at a time.
func (f *FPGA) matmul(m, n, k, a, b, c uint64) error {
	if m == 0 || n == 0 {
		return nil
	}
	if uint64(cap(f.matB)) < k*n {
		f.matB = make([]int32, k*n)
	}
	bm := f.matB[:k*n]
	if err := f.readInt32s(b, bm); err != nil {
		return err
	}
	row := make([]int32, k)
	acc := make([]int32, n)
	for i := range m {
		if err := f.readInt32s(a+4*i*k, row); err != nil {
			return err
		}
		clear(acc)
		for p, av := range row {
			bp := bm[uint64(p)*n : uint64(p+1)*n]
			for j, bv := range bp {
				acc[j] += av * bv
			}
		}
		if err := f.writeInt32s(c+4*i*n, acc); err != nil {
			return err
		}
	}
	return nil
}

func (f *FPGA) readInt32s(iova uint64, dst []int32) error {
	for done := 0; done < len(dst); {
		m := min(chunk/4, len(dst)-done)
		raw := f.bufA[:4*m]
		if err := f.unit.Read(iova+4*uint64(done), raw); err != nil {
			return err
		}
		for i := range m {
			dst[done+i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		done += m
	}
	return nil
}

func (f *FPGA) writeInt32s(iova uint64, src []int32) error {
	for done := 0; done < len(src); {
		m := min(chunk/4, len(src)-done)
		raw := f.bufB[:4*m]
		for i := range m {
			binary.LittleEndian.PutUint32(raw[4*i:], uint32(src[done+i]))
		}
		if err := f.unit.Write(iova+4*uint64(done), raw); err != nil {
			return err
		}
		done += m
	}
	return nil
}
