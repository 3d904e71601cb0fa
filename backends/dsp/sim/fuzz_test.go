package sim

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/internal/dspref"
	"github.com/coprocd/coprocd/internal/testutil"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// FuzzSubmit feeds arbitrary command buffers from one domain through the
// mediator to the DSP, next to a victim domain's FIR call: nothing panics,
// and the victim's result is always right and its address space untouched
// by faults.
func FuzzSubmit(f *testing.F) {
	f.Add(words(spec.Encode(nil, spec.OpDSPCall, spec.DSPServiceFIR, 0x10_0000, 64, 0x10_3000, 64, 0x10_4000)))
	f.Add(words(spec.Encode(nil, spec.OpDSPCall, spec.DSPServiceFFT, 0x10_0000, 64, 0x10_3000, 64, 0x10_6000)))
	f.Add(words(spec.Encode(nil, spec.OpDSPCall, spec.DSPServiceMix, 0x10_0000, 64, 0x10_3000, 32, 0x10_8000)))
	f.Add(words(spec.Encode(nil, spec.OpDSPStoreReg, spec.RegDSPMbox0, 0x10_3000)))
	f.Add(words(spec.Encode(nil, spec.OpDSPSetClock, 1)))
	f.Add([]byte{1, 2, 3})
	h, x := dspref.Samples(1, 8), dspref.Samples(2, 64)
	want := dspref.FIR(h, x)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := newRig(t, Config{MaxQueuedJobs: 4}, 5*time.Microsecond)
		victim := r.guest("victim", 0)
		victim.next = 0x8000_0000
		words, out := victim.firCall(h, x)
		victim.submit(words)

		// The attacker maps a data page and argument blocks at the IOVAs
		// the seeds name, so that the fuzzer reaches the services.
		a := r.guest("attacker", 8<<10)
		data, _ := a.alloc(8<<10, iommu.ReadWrite) // 0x10_0000, 0x10_1000
		_, _ = a.alloc(4096, iommu.ReadWrite)      // 0x10_3000
		a.next = 0x10_4000
		a.args(4, 16, data) // FIR block
		a.next = 0x10_6000
		a.args(8, 0) // FFT block
		a.next = 0x10_8000
		a.args(2, 8, data) // mix block
		_ = a.vc.AllocDeviceMemory(0x20_0000, 4096, iommu.ReadWrite)

		buf := make([]uint64, len(raw)/8)
		for i := range buf {
			buf[i] = binary.LittleEndian.Uint64(raw[8*i:])
		}
		for range 2 {
			_, _ = a.vc.Submit(buf)
		}
		if err := r.dev.RunUntilIdle(r.clk, time.Minute); err != nil {
			t.Fatal(err)
		}
		got := testutil.GetFloats(out)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("victim's output %d is %v, want %v", i, got[i], want[i])
			}
		}
		if n := len(victim.dom.Faults()); n != 0 {
			t.Fatalf("victim has %d faults", n)
		}
	})
}

func words(w []uint64) []byte {
	b := make([]byte, 8*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// FuzzEngine hands the DSP arbitrary shadow commands directly, as a buggy
// or bypassed scanner would: Enqueue refuses or Run fails the job cleanly,
// and nothing panics.
func FuzzEngine(f *testing.F) {
	f.Add(uint16(spec.OpDSPCall), uint8(6), spec.DSPServiceFIR, uint64(0x10_0000), uint64(64), uint64(0x10_0000), uint64(64), []byte{4, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0})
	f.Add(uint16(spec.OpDSPCall), uint8(6), spec.DSPServiceFFT, uint64(0x10_0000), uint64(128), uint64(0x10_0000), uint64(128), []byte{16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint16(spec.OpDSPLoadReg), uint8(2), uint64(spec.RegDSPMbox0), uint64(1), uint64(0), uint64(0), uint64(0), []byte(nil))
	f.Fuzz(func(t *testing.T, op uint16, n uint8, o0, o1, o2, o3, o4 uint64, rawArgs []byte) {
		d, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		s := newDirect(t, d, "f")
		s.floats(make([]float32, 4096)) // 16 KiB at 0x10_0000
		cmd := spec.Command{Op: spec.Opcode(op), N: n % (spec.MaxOperands + 1)}
		copy(cmd.Operands[:], []uint64{o0, o1, o2, o3, o4})
		for i := 0; i+8 <= len(rawArgs) && i < 64; i += 8 {
			cmd.Args = append(cmd.Args, binary.LittleEndian.Uint64(rawArgs[i:]))
		}
		if err := d.Enqueue(s.ctx, &coproc.Job{ID: 1, Commands: []spec.Command{cmd}}); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		s.on()
		res, err := d.Run(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.State != coproc.Idle || len(res.Events) != 1 {
			t.Fatalf("state %v events %v", res.State, res.Events)
		}
	})
}
