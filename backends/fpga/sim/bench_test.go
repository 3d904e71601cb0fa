package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/coproc"
	"github.com/coprocd/coprocd/internal/benchref"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// switchPair hands a one-region card from a CRC32 tenant to a FIR tenant
// and back, each running one small invocation, and returns the device time
// the two reconfigurations took.
func switchPair(b *testing.B, f *FPGA, a, c *domain) time.Duration {
	before := f.ReconfigStats().ReconfigTime
	for _, d := range []*domain{a, c} {
		if d == a {
			d.crc(1, 64)
		} else {
			d.fir(1, 64)
		}
		d.on()
		res, err := f.Run(time.Hour)
		if err != nil || res.State != coproc.Idle {
			b.Fatal(err, res.State)
		}
		d.off()
	}
	return f.ReconfigStats().ReconfigTime - before
}

// BenchmarkRepeatSwitch measures a repeat switch between two accelerators
// on one region with the bitstream cache (the subject) against the same
// switch with the cache disabled (the baseline, measured in the same run).
// The target is on device time: cached-device-us/switch at least 5× below
// uncached-device-us/switch (speedup-x ≥ 5). Wall time per op is the
// simulator's own cost and is reported by benchref.Compare as usual.
func BenchmarkRepeatSwitch(b *testing.B) {
	cached := newFPGA(b, Config{Regions: 1})
	uncached := newFPGA(b, Config{Regions: 1, CacheEntries: -1})
	ca, cb := newDomain(b, cached, "a"), newDomain(b, cached, "b")
	ua, ub := newDomain(b, uncached, "a"), newDomain(b, uncached, "b")
	switchPair(b, cached, ca, cb) // the first, cold, pair fills the cache
	var cachedTime, uncachedTime time.Duration
	var n int
	benchref.Compare(b,
		func(ops int) {
			for range ops {
				uncachedTime += switchPair(b, uncached, ua, ub)
			}
		},
		func(ops int) {
			n = ops
			for range ops {
				cachedTime += switchPair(b, cached, ca, cb)
			}
		})
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(2*n) }
	b.ReportMetric(per(cachedTime), "cached-device-us/switch")
	b.ReportMetric(per(uncachedTime), "uncached-device-us/switch")
	b.ReportMetric(float64(uncachedTime)/float64(cachedTime), "speedup-x")
	require.Equal(b, uint64(2*n), cached.ReconfigStats().CacheHits)
}

// tenantLoss runs four tenants, each with its own accelerator, on a
// two-region card under round-robin with the given slice and a virtual
// clock, and returns the share of device time lost to reconfiguration and
// switching. Three tenants (CRC32, FIR, AES) queue about work of device
// time each in jobs of about 1 ms; the matrix tenant a quarter of it (its
// simulation is the costliest in wall time). The cache is warmed first with
// one job per tenant (the cold fetches happen once; their device time is
// returned as cold).
func tenantLoss(b *testing.B, slice, work time.Duration) (warm float64, cold time.Duration) {
	r := newRig(b, Config{DDRBytes: 1 << 20, DDRGranule: 64 << 10}, slice)
	type tenant struct {
		g   *guest
		job []uint64
	}
	var ts []tenant
	mk := func(name string, accel uint64, perJob int, args func(g *guest) []uint64) {
		g := r.guest(name, 0)
		block := g.words(args(g)...)
		var w []uint64
		for range perJob {
			w = spec.Encode(w, spec.FPGAOpInvoke, accel, block)
		}
		ts = append(ts, tenant{g: g, job: w})
	}
	mk("crc", spec.AccelCRC32, 1, func(g *guest) []uint64 {
		src, _ := g.alloc(8<<20, iommu.Read)
		out, _ := g.alloc(4, iommu.ReadWrite)
		return []uint64{8 << 20, src, out}
	})
	mk("fir", spec.AccelFIR, 1, func(g *guest) []uint64 {
		x, _ := g.alloc(2*250_000, iommu.Read)
		h, _ := g.alloc(2, iommu.Read)
		y, _ := g.alloc(8*250_000, iommu.ReadWrite)
		return []uint64{250_000, 1, x, h, y}
	})
	mk("aes", spec.AccelAES128CTR, 1, func(g *guest) []uint64 {
		key, _ := g.alloc(16, iommu.Read)
		iv, _ := g.alloc(16, iommu.Read)
		buf, _ := g.alloc(4<<20, iommu.ReadWrite)
		return []uint64{4 << 20, key, iv, buf, buf}
	})
	mk("mm", spec.AccelMatMul, 8, func(g *guest) []uint64 {
		a, _ := g.alloc(4*512, iommu.Read)
		bm, _ := g.alloc(4*512, iommu.Read)
		c, _ := g.alloc(4*512*512, iommu.ReadWrite)
		return []uint64{512, 512, 1, a, bm, c}
	})
	submit := func(jobs int) {
		for i, t := range ts {
			n := jobs
			if i == 3 {
				n = (jobs + 3) / 4
			}
			for range n {
				if _, err := t.g.vc.Submit(t.job); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	submit(1) // warm-up round: cold fetches
	r.run()
	cold = r.fpga.ReconfigStats().ReconfigTime

	submit(int(work / time.Millisecond))
	start, sw := r.clk.Now(), r.dev.Stats().SwitchTime
	r.run()
	total := r.clk.Now() - start
	// The device's switch time counts context switches and the
	// reconfigurations the runs reported (coproc.Result.Reconfig).
	lost := r.dev.Stats().SwitchTime - sw
	for _, t := range ts {
		st := t.g.vc.Stats()
		if st.JobsFailed != 0 || st.JobsDone != st.Jobs {
			b.Fatalf("%s: %d of %d jobs done, %d failed", t.g.vc.Name(), st.JobsDone, st.Jobs, st.JobsFailed)
		}
	}
	return float64(lost) / float64(total), cold
}

// BenchmarkFourTenants shares a two-region card among four tenants with
// four different accelerators under round-robin. The subject is a slice
// long against the reconfiguration time (150 ms, tenants queue 225 ms); the baseline, on the
// same work in the same run, is a 1 ms slice that reconfigures at every
// turn. Target: lost-pct (reconfiguration and switching over device time,
// warm cache) ≤ 10 with the long slice; rr-1ms-lost-pct shows what the
// short slice loses. Times are virtual (device time), not wall time.
func BenchmarkFourTenants(b *testing.B) {
	const work = 225 * time.Millisecond // per tenant
	var long, short float64
	var cold time.Duration
	for range b.N {
		long, cold = tenantLoss(b, 150*time.Millisecond, work)
		short, _ = tenantLoss(b, time.Millisecond, work)
	}
	b.ReportMetric(100*long, "lost-pct")
	b.ReportMetric(100*short, "rr-1ms-lost-pct")
	b.ReportMetric(float64(cold.Milliseconds()), "cold-warmup-ms")
}
