package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/spec"
)

// With one region, alternating accelerators reconfigure on every switch:
// the first time of each from the host's library (fetch + ICAP), then from
// the cache (ICAP only), and a resident accelerator costs nothing. Run's
// Used carries exactly these costs, and SwitchCostTo predicts them.
func TestReconfigurationCosts(t *testing.T) {
	f := newFPGA(t, Config{Regions: 1})
	c := f.CostModel()
	a, b := newDomain(t, f, "a"), newDomain(t, f, "b")
	crcBytes, firBytes := f.Library()[spec.AccelCRC32], f.Library()[spec.AccelFIR]
	crcRun := c.cycles(c.IssueCycles + invokeCycles(&c, spec.AccelCRC32, []uint64{4096}))
	firRun := c.cycles(c.IssueCycles + invokeCycles(&c, spec.AccelFIR, []uint64{1000, 8}))

	uncachedCRC := c.fetch(crcBytes) + c.icap(crcBytes)
	assert.Equal(t, c.SwitchCost, f.SwitchCostTo(a.ctx), "nothing to predict before work is queued")
	a.crc(1, 4096)
	assert.Equal(t, c.SwitchCost+uncachedCRC, f.SwitchCostTo(a.ctx))
	a.on()
	used, ev := runIdle(t, f)
	assert.Equal(t, []coproc.Event{{Kind: coproc.EventJobDone, Job: 1}}, untimed(ev))
	assert.Equal(t, uncachedCRC+crcRun, used, "fetch + ICAP + the invocation")

	a.crc(2, 4096)
	used, _ = runIdle(t, f)
	assert.Equal(t, crcRun, used, "resident: no reconfiguration")
	a.off()

	b.fir(1, 1000)
	b.on()
	used, _ = runIdle(t, f)
	assert.Equal(t, c.fetch(firBytes)+c.icap(firBytes)+firRun, used)
	b.off()

	a.crc(3, 4096)
	assert.Equal(t, c.SwitchCost+c.icap(crcBytes), f.SwitchCostTo(a.ctx), "cached now")
	a.on()
	used, _ = runIdle(t, f)
	assert.Equal(t, c.icap(crcBytes)+crcRun, used, "the repeat switch programs from the cache")
	a.off()

	st := f.ReconfigStats()
	assert.Equal(t, uint64(4), st.Invokes)
	assert.Equal(t, uint64(1), st.ResidentHits)
	assert.Equal(t, uint64(3), st.Reconfigs)
	assert.Equal(t, uint64(2), st.CacheMisses)
	assert.Equal(t, uint64(1), st.CacheHits)
	assert.Equal(t, uncachedCRC+c.fetch(firBytes)+c.icap(firBytes)+c.icap(crcBytes), st.ReconfigTime)
	assert.Equal(t, uint64(3), st.PortResets)
	assert.GreaterOrEqual(t, uncachedCRC, 5*c.icap(crcBytes), "the cache pays at least 5× with the defaults")
}

// The cache holds CacheEntries bitstreams and evicts the least recently
// used; without a cache every reconfiguration fetches.
func TestCacheLRU(t *testing.T) {
	f := newFPGA(t, Config{Regions: 1, CacheEntries: 2})
	d := newDomain(t, f, "d")
	d.on()
	for i, id := range []uint64{spec.AccelCRC32, spec.AccelFIR, spec.AccelCRC32, spec.AccelAES128CTR} {
		require.NoError(t, f.Prefetch(id), "step %d", i)
	}
	// Prefetching a cached bitstream is a no-op that does not refresh it,
	// so aes evicts crc, the least recently used.
	assert.ElementsMatch(t, []uint64{spec.AccelAES128CTR, spec.AccelFIR}, f.Cached())
	assert.Equal(t, uint64(3), f.ReconfigStats().Prefetches)
	assert.ErrorContains(t, f.Prefetch(42), "accelerator 42: not in the library")
	f.EvictCache()
	assert.Empty(t, f.Cached())

	nc := newFPGA(t, Config{Regions: 1, CacheEntries: -1})
	e := newDomain(t, nc, "e")
	e.on()
	for i := range 3 {
		e.crc(uint64(2*i+1), 64)
		e.fir(uint64(2*i+2), 64)
	}
	runIdle(t, nc)
	st := nc.ReconfigStats()
	assert.Equal(t, uint64(6), st.CacheMisses)
	assert.Zero(t, st.CacheHits)
	assert.Empty(t, nc.Cached())
}

// A PREFETCH hint overlaps the fetch with other work: the reconfiguration
// then waits only for what is left of the fetch. A second hint while the
// link is busy is dropped, so a tenant cannot queue fetches ahead of
// another's.
func TestPrefetchOverlapsTheFetch(t *testing.T) {
	cost := DefaultCostModel()
	cost.FetchFixed = 10 * time.Microsecond
	f := newFPGA(t, Config{Regions: 1, Cost: cost, Bitstreams: map[uint64]uint64{spec.AccelFIR: 64 << 10, spec.AccelCRC32: 64 << 10}})
	c := f.CostModel()
	firBytes := f.Library()[spec.AccelFIR]
	a, b := newDomain(t, f, "a"), newDomain(t, f, "b")
	src, _ := a.alloc(8 << 20)
	dst, _ := a.alloc(8 << 20)
	a.enqueue(1,
		spec.Command{Op: spec.FPGAOpPrefetch, N: 1, Operands: [8]uint64{spec.AccelFIR}},
		spec.Command{Op: spec.FPGAOpPrefetch, N: 1, Operands: [8]uint64{spec.AccelAES128CTR}},
		spec.Command{Op: spec.OpCopy, N: 3, Operands: [8]uint64{dst, src, 8 << 20}})
	a.on()
	start := f.Now()
	used, ev := runIdle(t, f)
	require.Equal(t, []coproc.Event{{Kind: coproc.EventJobDone, Job: 1}}, untimed(ev))
	a.off()
	st := f.ReconfigStats()
	assert.Equal(t, uint64(1), st.Prefetches)
	assert.Equal(t, uint64(1), st.PrefetchDrop, "the second hint found the link busy")
	fetched := start + c.cycles(c.IssueCycles) + c.fetch(firBytes)

	b.fir(1, 100)
	b.on()
	firRun := c.cycles(c.IssueCycles + invokeCycles(&c, spec.AccelFIR, []uint64{100, 8}))
	wait := max(0, fetched-f.Now())
	used, _ = runIdle(t, f)
	assert.Equal(t, wait+c.icap(firBytes)+firRun, used)
	assert.Less(t, used, c.fetch(firBytes)+c.icap(firBytes), "cheaper than a cold reconfiguration")
	assert.Equal(t, uint64(1), f.ReconfigStats().CacheHits)
}

// Jobs and budgets give the same results every time.
func TestDeterministic(t *testing.T) {
	scenario := func() []coproc.Result {
		f := newFPGA(t, Config{Regions: 1})
		a, b := newDomain(t, f, "a"), newDomain(t, f, "b")
		for i := range 4 {
			a.crc(uint64(i+1), 70_000)
			b.fir(uint64(i+1), 9_000)
		}
		var out []coproc.Result
		for i := 0; f.Pending(a.ctx)+f.Pending(b.ctx) > 0 && i < 100; i++ {
			d := []*domain{a, b}[i%2]
			d.on()
			res, err := f.Run(time.Duration(i%3+1) * time.Microsecond)
			require.NoError(t, err)
			out = append(out, res)
			d.off()
		}
		return out
	}
	first, second := scenario(), scenario()
	require.Greater(t, len(first), 6)
	assert.Equal(t, first, second)
}

// untimed drops the events' offsets, for comparing what happened.
func untimed(ev []coproc.Event) []coproc.Event {
	out := make([]coproc.Event, len(ev))
	for i, e := range ev {
		e.At = 0
		out[i] = e
	}
	return out
}
