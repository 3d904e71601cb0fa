package sim

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"time"
	"unsafe"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/backends/internal/regfile"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/spec"
)

// Run executes the active session's jobs, command by command, for about
// budget: it checks the budget before every command and stops at the first
// command boundary where the time used has reached it. A command, a CALL
// above all, always runs to its end, so Used overshoots budget by at most
// one command (Caps().MaxNonPreemptible). A job that faults or that the DSP
// refuses is aborted with an EventJobFailed and the session goes on with its
// next job.
func (d *DSP) Run(budget time.Duration) (coproc.Result, error) {
	s := d.active
	if s == nil {
		return coproc.Result{}, coproc.ErrNotActive
	}
	limit := d.cost.durationToCycles(budget)
	var used uint64
	var events []coproc.Event
	state := coproc.Idle
	for s.jobs.Len() > 0 {
		job := s.jobs.Head()
		if s.cmd >= len(job.Commands) {
			events = append(events, coproc.Event{Kind: coproc.EventJobDone, Job: job.ID, At: d.cost.cyclesToDuration(used)})
			s.popJob()
			continue
		}
		if used >= limit {
			state = coproc.Preempted
			break
		}
		cmd := &job.Commands[s.cmd]
		cost, err := d.checkCommand(cmd)
		if err == nil {
			used += cost
			err = d.exec(cmd)
		} else {
			used += d.cost.CommandCycles
			err = fmt.Errorf("sim: job %d command %d: %w", job.ID, s.cmd, err)
		}
		if err != nil {
			events = append(events, coproc.Event{Kind: coproc.EventJobFailed, Job: job.ID, Err: err, At: d.cost.cyclesToDuration(used)})
			s.popJob()
			continue
		}
		if cmd.Op == spec.OpDSPFence {
			events = append(events, coproc.Event{Kind: coproc.EventFence, Job: job.ID, Value: cmd.Operands[1], At: d.cost.cyclesToDuration(used)})
		}
		s.cmd++
	}
	return coproc.Result{Used: d.cost.cyclesToDuration(used), State: state, Events: events}, nil
}

// exec runs one checked command. A DMA fault is returned as the
// *iommu.Fault itself.
func (d *DSP) exec(cmd *spec.Command) error {
	switch cmd.Op {
	case spec.OpDSPNop:
		return nil
	case spec.OpDSPFence:
		return d.unit.WriteU64(cmd.Operands[0], cmd.Operands[1])
	case spec.OpDSPLoadReg:
		d.regs.Lookup(uint32(cmd.Operands[0])).Write(cmd.Operands[1]) // checked: a mailbox
		return nil
	case spec.OpDSPStoreReg:
		return d.unit.WriteU64(cmd.Operands[1], d.regs.Lookup(uint32(cmd.Operands[0])).Value)
	case spec.OpDSPCall:
		return d.call(cmd)
	}
	return fmt.Errorf("opcode 0x%02x: %w", cmd.Op, ErrBadCommand) // checkCommand accepts only the above
}

// call runs a checked CALL: it reads the in buffer (and the coefficient or
// gain buffer) through the IOMMU, runs the service, and writes the out
// buffer through the IOMMU, all or nothing.
func (d *DSP) call(cmd *spec.Command) error {
	in, inLen, out, outLen := cmd.Operands[1], cmd.Operands[2], cmd.Operands[3], cmd.Operands[4]
	args := cmd.Args
	d.dirty = true
	inF, err := d.load(&d.inF, in, inLen)
	if err != nil {
		return err
	}
	outF := grow(&d.outF, int(outLen/4))
	switch cmd.Operands[0] {
	case spec.DSPServiceFIR:
		coeffs, err := d.load(&d.auxF, args[2], 4*args[0])
		if err != nil {
			return err
		}
		FIR(outF, coeffs, inF)
	case spec.DSPServiceFFT:
		FFT(outF, inF, args[1] == 1)
	case spec.DSPServiceMix:
		gains, err := d.load(&d.auxF, args[2], 4*args[0])
		if err != nil {
			return err
		}
		Mix(outF, gains, inF)
	default:
		return fmt.Errorf("service %d: %w", cmd.Operands[0], ErrBadCommand)
	}
	return d.unit.Write(out, d.wire(outF))
}

// load reads n bytes (a multiple of 4) at iova through the IOMMU into a
// float32 scratch buffer.
func (d *DSP) load(f *[]float32, iova, n uint64) ([]float32, error) {
	fl := grow(f, int(n/4))
	if littleEndian {
		// The wire format is the host's: DMA straight into the floats.
		return fl, d.unit.Read(iova, bytesOf(fl))
	}
	raw := grow(&d.wireB, int(n))
	if err := d.unit.Read(iova, raw); err != nil {
		return nil, err
	}
	for i := range fl {
		fl[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return fl, nil
}

// wire returns fl in the wire format (little-endian float32).
func (d *DSP) wire(fl []float32) []byte {
	if littleEndian {
		return bytesOf(fl)
	}
	raw := grow(&d.wireB, 4*len(fl))
	for i, f := range fl {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return raw
}

// littleEndian is true on hosts whose float32 layout is the wire format.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytesOf views a float32 slice as its bytes.
func bytesOf(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// grow returns (*s)[:n], reallocating when the capacity is short.
func grow[T any](s *[]T, n int) []T {
	if cap(*s) < n {
		*s = make([]T, n)
	}
	return (*s)[:n]
}

// checkCommand re-validates a shadow command against the spec, and a CALL
// against its service, and returns its cost in cycles. The DSP does not rely
// on the scanner for its own safety.
func (d *DSP) checkCommand(cmd *spec.Command) (uint64, error) {
	def, ok := d.spec.Commands.Lookup(cmd.Op)
	switch {
	case !ok:
		return 0, fmt.Errorf("unknown opcode 0x%02x: %w", cmd.Op, ErrBadCommand)
	case def.Privileged:
		return 0, fmt.Errorf("%s is privileged (host only) and must never reach the DSP from a guest job: %w", def.Name, ErrBadCommand)
	case int(cmd.N) != len(def.Operands):
		return 0, fmt.Errorf("%s with %d operands, want %d: %w", def.Name, cmd.N, len(def.Operands), ErrBadCommand)
	}
	if err := engine.CheckOperands(def.Name, def.Operands, cmd.Operands[:cmd.N], ErrBadCommand); err != nil {
		return 0, err
	}
	switch cmd.Op {
	case spec.OpDSPLoadReg, spec.OpDSPStoreReg:
		off := cmd.Operands[0]
		var r *regfile.Reg
		if off <= 0xffffffff {
			r = d.regs.Lookup(uint32(off))
		}
		if r == nil || r.Def.Class != spec.PassThrough {
			name := "no register"
			if r != nil {
				name = r.Def.Name + " (" + r.Def.Class.String() + ")"
			}
			return 0, fmt.Errorf("%s: register 0x%04x is %s, not a per-session register: %w", def.Name, off, name, ErrBadCommand)
		}
		if cmd.Op == spec.OpDSPStoreReg {
			return d.cost.CommandCycles + engine.CeilDiv(8, d.cost.BytesPerCycle), nil
		}
		return d.cost.CommandCycles, nil
	case spec.OpDSPFence:
		return d.cost.CommandCycles + engine.CeilDiv(8, d.cost.BytesPerCycle), nil
	case spec.OpDSPCall:
		return d.checkCall(cmd)
	}
	return d.cost.CommandCycles, nil
}

// checkCall checks a CALL's service, argument snapshot and buffer lengths.
func (d *DSP) checkCall(cmd *spec.Command) (uint64, error) {
	svc := cmd.Operands[0]
	k, ok := d.spec.Commands.Kernel(svc)
	if !ok {
		return 0, fmt.Errorf("CALL of unknown service %d: %w", svc, ErrBadCommand)
	}
	if len(cmd.Args) != len(k.Args) {
		return 0, fmt.Errorf("CALL %s with %d arguments, want %d: %w", k.Name, len(cmd.Args), len(k.Args), ErrBadCommand)
	}
	if err := engine.CheckOperands(d.callLabel[svc], k.Args, cmd.Args, ErrBadCommand); err != nil {
		return 0, err
	}
	if err := checkServiceArgs(k, cmd.Args); err != nil {
		return 0, err
	}
	in, out, err := spec.RefDSPCallBuffers(svc, cmd.Args)
	if err != nil {
		return 0, fmt.Errorf("CALL %s: %v: %w", k.Name, err, ErrBadCommand)
	}
	if cmd.Operands[2] != in || cmd.Operands[4] != out {
		return 0, fmt.Errorf("CALL %s %s: in_len %d and out_len %d, the service needs %d and %d bytes: %w",
			k.Name, fmtArgs(k, cmd.Args), cmd.Operands[2], cmd.Operands[4], in, out, ErrBadCommand)
	}
	return d.callCycles(svc, cmd.Args, in, out), nil
}

// checkServiceArgs applies what each service needs beyond the table's
// limits. args has the service's length and is within its limits.
func checkServiceArgs(k *spec.KernelDef, args []uint64) error {
	switch k.ID {
	case spec.DSPServiceFIR:
		if args[0] == 0 || args[1] == 0 {
			return fmt.Errorf("CALL fir with taps=%d samples=%d: both must be at least 1: %w", args[0], args[1], ErrBadCommand)
		}
	case spec.DSPServiceFFT:
		if n := args[0]; n < 2 || n&(n-1) != 0 {
			return fmt.Errorf("CALL fft with n=%d: n must be a power of two from 2 to %d: %w", n, spec.RefDSPMaxFFTPoints, ErrBadCommand)
		}
	case spec.DSPServiceMix:
		if args[0] == 0 || args[1] == 0 {
			return fmt.Errorf("CALL mix with channels=%d frames=%d: both must be at least 1: %w", args[0], args[1], ErrBadCommand)
		}
	}
	return nil
}

// callCost is the cycles a CALL with valid arguments takes: the dispatch,
// every byte it moves (in, out, coefficients or gains) and its MACs.
func (d *DSP) callCost(svc uint64, args []uint64) uint64 {
	in, out, _ := spec.RefDSPCallBuffers(svc, args)
	return d.callCycles(svc, args, in, out)
}

// callCycles is callCost for a call whose in and out lengths are known
// (checkCall has just computed them: every call is checked twice, at
// Enqueue and when it runs, so the fixed cost of a check counts).
func (d *DSP) callCycles(svc uint64, args []uint64, in, out uint64) uint64 {
	var aux, macs uint64
	switch svc {
	case spec.DSPServiceFIR:
		aux, macs = 4*args[0], args[0]*args[1]
	case spec.DSPServiceFFT:
		// n/2·log2(n) butterflies of one complex multiply (4 MACs) each.
		macs = 2 * args[0] * uint64(bits.TrailingZeros64(args[0]))
	case spec.DSPServiceMix:
		aux, macs = 4*args[0], args[0]*args[1]
	}
	return d.cost.CallCycles + engine.CeilDiv(in+out+aux, d.cost.BytesPerCycle) + engine.CeilDiv(macs, d.cost.MACsPerCycle)
}
