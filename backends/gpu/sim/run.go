package sim

import (
	"fmt"
	"time"

	"github.com/coprocd/coprocd/backends/internal/engine"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/spec"
)

// stepResult is what running (part of) one command came to.
type stepResult uint8

const (
	stepDone      stepResult = iota // the command completed
	stepPreempted                   // the budget ran out between workgroups
	stepBlocked                     // a WAIT's condition is false
	stepFailed                      // the job must be aborted
)

// run is the state of one Run call.
type run struct {
	c      *context
	used   uint64 // cycles
	limit  uint64 // cycles
	events []coproc.Event
}

// Run executes the active context's jobs, command by command, for about
// budget: it checks the budget before every command and every workgroup of
// a DISPATCH and stops at the first such point where the time used has
// reached it. A WAIT whose condition is false ends the run (Blocked) after
// one poll. A job that faults or that the engine refuses is aborted with an
// EventJobFailed and the context goes on with its next job.
func (g *GPU) Run(budget time.Duration) (coproc.Result, error) {
	c := g.active
	if c == nil {
		return coproc.Result{}, coproc.ErrNotActive
	}
	r := run{c: c, limit: g.cost.DurationToCycles(budget)}
	state := coproc.Idle
	progressed := false
jobs:
	for c.jobs.Len() > 0 {
		job := c.jobs.Head()
		if c.pos.cmd >= len(job.Commands) {
			r.events = append(r.events, coproc.Event{Kind: coproc.EventJobDone, Job: job.ID, At: g.cost.CyclesToDuration(r.used)})
			c.popJob()
			continue
		}
		if r.used >= r.limit {
			state = coproc.Preempted
			break
		}
		switch res, err := g.step(&r, job, &job.Commands[c.pos.cmd]); res {
		case stepDone:
			c.pos = position{cmd: c.pos.cmd + 1}
			progressed = true
		case stepFailed:
			r.events = append(r.events, coproc.Event{Kind: coproc.EventJobFailed, Job: job.ID, Err: err, At: g.cost.CyclesToDuration(r.used)})
			c.popJob()
			progressed = true
		case stepPreempted:
			state = coproc.Preempted
			break jobs
		case stepBlocked:
			state = coproc.Blocked
			break jobs
		}
	}
	return coproc.Result{Used: g.cost.CyclesToDuration(r.used), State: state, Events: r.events, Progressed: progressed}, nil
}

// step runs the current command of the current job, or what is left of it.
// A DMA fault is returned as the *iommu.Fault itself.
func (g *GPU) step(r *run, job *coproc.Job, cmd *spec.Command) (stepResult, error) {
	c := r.c
	first := !c.pos.started
	if err := g.checkCommand(cmd); err != nil {
		if first {
			r.used += g.cost.IssueCycles
		}
		return stepFailed, fmt.Errorf("sim: job %d command %d: %w", job.ID, c.pos.cmd, err)
	}
	if first {
		r.used += g.commandCost(cmd)
		c.pos.started = true
	}
	u := g.unit
	switch cmd.Op {
	case spec.OpNop:
	case spec.OpFence:
		if err := u.WriteU64(cmd.Operands[0], cmd.Operands[1]); err != nil {
			return stepFailed, err
		}
		r.events = append(r.events, coproc.Event{Kind: coproc.EventFence, Job: job.ID, Value: cmd.Operands[1], At: g.cost.CyclesToDuration(r.used)})
	case spec.OpCopy:
		if err := g.copy(cmd.Operands[0], cmd.Operands[1], cmd.Operands[2]); err != nil {
			return stepFailed, err
		}
	case spec.OpFill:
		if err := g.fill(cmd.Operands[0], cmd.Operands[1], uint32(cmd.Operands[2])); err != nil {
			return stepFailed, err
		}
	case spec.OpWait:
		r.used += g.cost.PollCycles
		v, err := u.ReadU64(cmd.Operands[0])
		if err != nil {
			return stepFailed, err
		}
		if v < cmd.Operands[1] {
			return stepBlocked, nil
		}
	case spec.OpLoadReg:
		g.regs.Lookup(uint32(cmd.Operands[0])).Write(cmd.Operands[1]) // checked: a pass-through register
	case spec.OpStoreReg:
		v := g.regs.Lookup(uint32(cmd.Operands[0])).Value
		if err := u.WriteU64(cmd.Operands[1], v); err != nil {
			return stepFailed, err
		}
	case spec.OpDispatch:
		return g.dispatch(r, cmd, first)
	default:
		// checkCommand accepts only the opcodes above.
		return stepFailed, fmt.Errorf("sim: job %d command %d: opcode 0x%02x: %w", job.ID, c.pos.cmd, cmd.Op, ErrBadCommand)
	}
	return stepDone, nil
}

// dispatch runs the workgroups of a DISPATCH from the context's position.
func (g *GPU) dispatch(r *run, cmd *spec.Command, launch bool) (stepResult, error) {
	k, groups, _ := g.checkDispatch(cmd) // checked by checkCommand
	if launch {
		clear(g.local)
	}
	c := r.c
	for c.pos.group < groups {
		if r.used >= r.limit {
			return stepPreempted, nil
		}
		first, e := k.groupElements(cmd.Args, c.pos.group)
		if e == 0 {
			// This workgroup and all after it lie beyond the data: launch
			// at once as many as the per-workgroup budget checks allow.
			rest := groups - c.pos.group
			if l := g.cost.LaunchCycles; l > 0 {
				rest = min(rest, engine.CeilDiv(r.limit-r.used, l))
			}
			r.used += rest * g.cost.LaunchCycles
			c.pos.group += rest
			continue
		}
		r.used += g.groupCost(k, cmd.Args, e)
		c.pos.group++
		if err := k.run(g, cmd.Args, first, e); err != nil {
			return stepFailed, err
		}
	}
	return stepDone, nil
}

// commandCost is the cost charged when a checked command starts: its issue,
// and for the commands that are not split any further, their transfers.
// DISPATCH workgroups and WAIT polls are charged as they happen.
func (g *GPU) commandCost(cmd *spec.Command) uint64 {
	c := g.cost.IssueCycles
	switch cmd.Op {
	case spec.OpFence, spec.OpStoreReg:
		c += g.cost.transfer(8)
	case spec.OpCopy:
		c += g.cost.transfer(cmd.Operand(2))
	case spec.OpFill:
		c += g.cost.transfer(4 * cmd.Operand(1))
	}
	return c
}

// checkCommand re-validates a shadow command against the spec: the engine
// does not rely on the scanner for its own safety.
func (g *GPU) checkCommand(cmd *spec.Command) error {
	d, ok := g.spec.Commands.Lookup(cmd.Op)
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
	for i, o := range d.Operands {
		if o.Kind != spec.RegisterOffset {
			continue
		}
		off := cmd.Operands[i]
		if off > 0xffffffff {
			return fmt.Errorf("%s: register offset 0x%x is outside the register window: %w", d.Name, off, ErrBadCommand)
		}
		r := g.regs.Lookup(uint32(off))
		if r == nil || r.Def.Class != spec.PassThrough {
			name, class := "no register", ""
			if r != nil {
				name, class = r.Def.Name, " ("+r.Def.Class.String()+")"
			}
			return fmt.Errorf("%s: register 0x%04x is %s%s, not a per-context register: %w", d.Name, off, name, class, ErrBadCommand)
		}
	}
	if cmd.Op == spec.OpDispatch {
		if _, _, err := g.checkDispatch(cmd); err != nil {
			return err
		}
	}
	return nil
}

// checkDispatch checks a DISPATCH's kernel and its argument snapshot.
func (g *GPU) checkDispatch(cmd *spec.Command) (*kernel, uint64, error) {
	if cmd.N != 3 {
		return nil, 0, fmt.Errorf("DISPATCH with %d operands, want 3: %w", cmd.N, ErrBadCommand)
	}
	k, ok := g.kerns[cmd.Operands[0]]
	if !ok {
		return nil, 0, fmt.Errorf("DISPATCH of unknown kernel %d: %w", cmd.Operands[0], ErrBadCommand)
	}
	groups := cmd.Operands[1]
	if groups > spec.RefGPUMaxGroups {
		return nil, 0, fmt.Errorf("DISPATCH of %d workgroups, at most %d: %w", groups, spec.RefGPUMaxGroups, ErrBadCommand)
	}
	if len(cmd.Args) != len(k.def.Args) {
		return nil, 0, fmt.Errorf("DISPATCH %s with %d arguments, want %d: %w", k.def.Name, len(cmd.Args), len(k.def.Args), ErrBadCommand)
	}
	if err := engine.CheckOperands(k.def.Name, k.def.Args, cmd.Args, ErrBadCommand); err != nil {
		return nil, 0, err
	}
	return k, groups, nil
}

// copy moves n bytes from src to dst through the IOMMU with memmove
// semantics, copyChunk bytes at a time (each chunk all or nothing, as the
// IOMMU does it). As on real hardware, a fault in the middle of the range
// stops the copy there: the chunks before it have landed.
func (g *GPU) copy(dst, src, n uint64) error {
	return engine.Copy(g.unit, g.scratchA, dst, src, n)
}

// fill writes words copies of pattern at dst, chunk by chunk like copy.
func (g *GPU) fill(dst, words uint64, pattern uint32) error {
	n := 4 * words
	buf := g.scratchA[:min(uint64(len(g.scratchA)), n)]
	for i := 0; i+4 <= len(buf); i += 4 {
		buf[i], buf[i+1], buf[i+2], buf[i+3] = byte(pattern), byte(pattern>>8), byte(pattern>>16), byte(pattern>>24)
	}
	for done := uint64(0); done < n; {
		m := min(uint64(len(buf)), n-done)
		if err := g.unit.Write(dst+done, buf[:m]); err != nil {
			return err
		}
		done += m
	}
	return nil
}
