package sim

import (
	"fmt"
	"time"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/spec"
)

// Run executes the active context's jobs command by command for about
// budget: it checks the budget before every command and stops at the first
// command boundary where the time used has reached it. Commands are never
// split (an accelerator invocation, and the reconfiguration before it, run
// to their end). A job that faults or that the engine refuses is aborted
// with an EventJobFailed and the context goes on with its next job.
//
// Used includes the partial reconfigurations the run's INVOKEs needed: that
// is where they really happen, and the mediator then advances virtual time
// and charges the policy correctly without knowing about regions.
func (f *FPGA) Run(budget time.Duration) (coproc.Result, error) {
	c := f.active
	if c == nil {
		return coproc.Result{}, coproc.ErrNotActive
	}
	var used time.Duration
	var events []coproc.Event
	state := coproc.Idle
	reconfigBefore := f.stats.ReconfigTime
	for c.jobs.Len() > 0 {
		job := c.jobs.Head()
		if c.pos >= len(job.Commands) {
			events = append(events, coproc.Event{Kind: coproc.EventJobDone, Job: job.ID, At: used})
			c.popJob()
			continue
		}
		if used >= budget {
			state = coproc.Preempted
			break
		}
		cost, ev, err := f.exec(job, c.pos, &job.Commands[c.pos])
		used += cost
		f.now += cost
		if err != nil {
			events = append(events, coproc.Event{Kind: coproc.EventJobFailed, Job: job.ID, Err: err, At: used})
			c.popJob()
			continue
		}
		if ev != nil {
			ev.At = used
			events = append(events, *ev)
		}
		c.pos++
	}
	return coproc.Result{Used: used, State: state, Events: events, Reconfig: f.stats.ReconfigTime - reconfigBefore}, nil
}

// exec runs one command and returns the device time it took. A DMA fault
// is returned as the *iommu.Fault itself (wrapped), so the mediator files it
// as a fault of this domain.
func (f *FPGA) exec(job *coproc.Job, index int, cmd *spec.Command) (time.Duration, *coproc.Event, error) {
	issue := f.cost.IssueCycles
	if err := f.checkCommand(cmd); err != nil {
		return f.cost.cycles(issue), nil, fmt.Errorf("sim: job %d command %d: %w", job.ID, index, err)
	}
	u := f.unit
	switch cmd.Op {
	case spec.OpNop:
	case spec.OpFence:
		t := f.cost.cycles(issue + engine.CeilDiv(8, f.cost.DMABytesPerCycle))
		if err := u.WriteU64(cmd.Operands[0], cmd.Operands[1]); err != nil {
			return t, nil, err
		}
		return t, &coproc.Event{Kind: coproc.EventFence, Job: job.ID, Value: cmd.Operands[1]}, nil
	case spec.OpCopy:
		t := f.cost.cycles(issue + engine.CeilDiv(cmd.Operands[2], f.cost.DMABytesPerCycle))
		return t, nil, f.copy(cmd.Operands[0], cmd.Operands[1], cmd.Operands[2])
	case spec.OpLoadReg:
		f.regs.Lookup(uint32(cmd.Operands[0])).Write(cmd.Operands[1]) // checked: a pass-through register
	case spec.OpStoreReg:
		t := f.cost.cycles(issue + engine.CeilDiv(8, f.cost.DMABytesPerCycle))
		return t, nil, u.WriteU64(cmd.Operands[1], f.regs.Lookup(uint32(cmd.Operands[0])).Value)
	case spec.FPGAOpPrefetch:
		f.prefetch(cmd.Operands[0], true)
	case spec.FPGAOpInvoke:
		id := cmd.Operands[0]
		reconf := f.configure(id, f.now)
		t := reconf + f.cost.cycles(issue+invokeCycles(&f.cost, id, cmd.Args))
		return t, nil, f.invoke(id, cmd.Args)
	}
	return f.cost.cycles(issue), nil, nil
}

// checkCommand re-validates a shadow command against the spec: the engine
// does not rely on the scanner for its own safety.
func (f *FPGA) checkCommand(cmd *spec.Command) error {
	d, ok := f.spec.Commands.Lookup(cmd.Op)
	switch {
	case !ok:
		return fmt.Errorf("unknown opcode 0x%02x: %w", cmd.Op, ErrBadCommand)
	case d.Privileged:
		return fmt.Errorf("%s is privileged (host only) and must never reach the engine from a guest job: %w", d.Name, ErrBadCommand)
	case int(cmd.N) != len(d.Operands):
		return fmt.Errorf("%s with %d operands, want %d: %w", d.Name, cmd.N, len(d.Operands), ErrBadCommand)
	}
	if err := engine.CheckOperands(d.Name, d.Operands, cmd.Operands[:cmd.N], ErrBadCommand); err != nil {
		return err
	}
	switch cmd.Op {
	case spec.OpLoadReg, spec.OpStoreReg:
		off := cmd.Operands[0]
		r := f.regs.Lookup(uint32(off))
		if off > 0xffffffff || r == nil || r.Def.Class != spec.PassThrough {
			return fmt.Errorf("%s: register 0x%x is not a per-context register: %w", d.Name, off, ErrBadCommand)
		}
	case spec.FPGAOpPrefetch:
		if _, ok := f.library[cmd.Operands[0]]; !ok {
			return fmt.Errorf("PREFETCH of accelerator %d, which is not in the library: %w", cmd.Operands[0], ErrBadCommand)
		}
	case spec.FPGAOpInvoke:
		k, ok := f.spec.Commands.Kernel(cmd.Operands[0])
		if !ok {
			return fmt.Errorf("INVOKE of unknown accelerator %d: %w", cmd.Operands[0], ErrBadCommand)
		}
		if len(cmd.Args) != len(k.Args) {
			return fmt.Errorf("INVOKE %s with %d arguments, want %d: %w", k.Name, len(cmd.Args), len(k.Args), ErrBadCommand)
		}
		return engine.CheckOperands(k.Name, k.Args, cmd.Args, ErrBadCommand)
	}
	return nil
}

// copy moves n bytes from src to dst through the IOMMU with memmove
// semantics, a chunk at a time; a fault stops it there.
func (f *FPGA) copy(dst, src, n uint64) error {
	return engine.Copy(f.unit, f.bufA, dst, src, n)
}
