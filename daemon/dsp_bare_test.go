package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	dspsim "github.com/coprocd/coprocd/backends/dsp/sim"
	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/mediator"
)

// bareDSP is the reference DSP with nothing in front of it: one session,
// switched in once, its IOMMU unit on a context of its own. It runs the
// guest's jobs as the daemon's device does inside a scheduling step
// (Enqueue, Run: the DSP's admission checks, the DMA through the IOMMU, the
// service), minus everything the daemon adds around that.
type bareDSP struct {
	tb     testing.TB
	dsp    *dspsim.DSP
	ctx    coproc.Context
	io     *iommu.Context
	mapped map[uint64]bool // IOVAs mapped in io
}

func newBareDSP(tb testing.TB) *bareDSP {
	tb.Helper()
	d, err := dspsim.New(dspsim.Config{Name: "bare-dsp", CallBudget: dspCallBudget})
	require.NoError(tb, err)
	ctx, err := d.Init("bare")
	require.NoError(tb, err)
	io := iommu.NewContext("bare")
	d.IOMMU().Activate(io)
	require.NoError(tb, d.SwitchTo(ctx))
	return &bareDSP{tb: tb, dsp: d, ctx: ctx, io: io, mapped: map[uint64]bool{}}
}

// bareJob is a guest's call made ready for the bare DSP: its shadow
// commands, and the out buffer it writes.
type bareJob struct {
	job *coproc.Job
	out []byte
}

// load maps the call's buffers at the guest's IOVAs: what the call reads
// is the guest's own memory (the same pages the daemon's device reads),
// what it writes (out, the fence) is memory of the bare DSP's own, so
// that the daemon's result and the bare one can be compared. The words
// are audited by the mediator's scanner once, here, to get the shadow
// commands a backend runs.
func (m *bareDSP) load(g *dspGuest, c *dspCall) *bareJob {
	m.tb.Helper()
	mapAt := func(iova uint64, mem []byte, perm iommu.Perm) {
		if !m.mapped[iova] {
			require.NoError(m.tb, m.io.Map(iova, mem, perm))
			m.mapped[iova] = true
		}
	}
	for _, b := range c.reads {
		mapAt(b.IOVA, b.Bytes, iommu.Read)
	}
	if !m.mapped[g.fence.IOVA] {
		mapAt(g.fence.IOVA, make([]byte, len(g.fence.Bytes)), iommu.ReadWrite)
	}
	require.False(m.tb, m.mapped[c.out.IOVA], "call %s loaded twice", c.name)
	out := make([]byte, len(c.out.Bytes))
	mapAt(c.out.IOVA, out, iommu.ReadWrite)
	j := m.scan(c.words)
	j.out = out[:c.outLen]
	return j
}

// run runs the job to its end and returns the device time it took.
func (m *bareDSP) run(j *bareJob) (time.Duration, error) {
	if err := m.dsp.Enqueue(m.ctx, j.job); err != nil {
		return 0, err
	}
	res, err := m.dsp.Run(time.Hour)
	if err != nil {
		return 0, err
	}
	if len(res.Events) != 2 || res.Events[1].Kind != coproc.EventJobDone {
		return 0, fmt.Errorf("bare DSP: events %+v, want the fence and the job's end", res.Events)
	}
	return res.Used, nil
}

// scan audits words with the mediator's scanner against the bare DSP's
// IOMMU context and returns the job a backend runs.
func (m *bareDSP) scan(words []uint64) *bareJob {
	m.tb.Helper()
	cmds, err := mediator.Scan(m.dsp.Spec(), m.io, words)
	require.NoError(m.tb, err)
	return &bareJob{job: &coproc.Job{ID: 1, Commands: cmds}}
}
