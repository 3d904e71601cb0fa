package sim

import (
	"fmt"
	"time"
)

// region is one partial-reconfiguration region of the card.
type region struct {
	accel   uint64 // the accelerator configured in it; 0 while blank
	lastUse uint64 // f.seq at its last INVOKE, for LRU replacement
}

// cacheEntry is one bitstream held in the card's bitstream cache.
type cacheEntry struct {
	accel   uint64
	readyAt time.Duration // device time at which its fetch completes
	lastUse uint64
}

// ReconfigStats counts what the regions and the bitstream cache did.
type ReconfigStats struct {
	Invokes      uint64        // INVOKEs that reached an accelerator
	ResidentHits uint64        // INVOKEs whose accelerator was already configured
	Reconfigs    uint64        // partial reconfigurations
	CacheHits    uint64        // reconfigurations whose bitstream was cached (or being prefetched)
	CacheMisses  uint64        // reconfigurations that fetched from the host's library
	Prefetches   uint64        // fetches started by PREFETCH or Prefetch
	PrefetchDrop uint64        // PREFETCH hints dropped because the fetch link was busy
	PortResets   uint64        // switches between contexts (every region's port reset)
	ReconfigTime time.Duration // device time spent reconfiguring, fetch waits included
}

func (f *FPGA) bitstreamBytes(id uint64) uint64 { return f.library[id] }

// findCache returns the cache entry of accelerator id, or nil.
func (f *FPGA) findCache(id uint64) *cacheEntry {
	for i := range f.cache {
		if f.cache[i].accel == id {
			return &f.cache[i]
		}
	}
	return nil
}

// fetchStart starts bringing id's bitstream into the cache at device time
// now (after any fetch in progress: there is one link to the host) and
// returns when it will be ready. The least recently used entry makes room.
func (f *FPGA) fetchStart(id uint64, now time.Duration) time.Duration {
	ready := max(now, f.fetchFree) + f.cost.fetch(f.bitstreamBytes(id))
	f.fetchFree = ready
	if f.cfg.CacheEntries < 0 {
		return ready
	}
	f.seq++
	e := cacheEntry{accel: id, readyAt: ready, lastUse: f.seq}
	if len(f.cache) < f.cfg.CacheEntries {
		f.cache = append(f.cache, e)
		return ready
	}
	victim := 0
	for i := range f.cache {
		if f.cache[i].lastUse < f.cache[victim].lastUse {
			victim = i
		}
	}
	f.cache[victim] = e
	return ready
}

// prefetch stages id's bitstream unless it is cached already. A guest's
// hint is dropped while another fetch is in flight, so that no tenant can
// queue fetches that delay another's reconfiguration by more than one.
func (f *FPGA) prefetch(id uint64, hint bool) {
	if f.findCache(id) != nil || f.cfg.CacheEntries < 0 {
		return
	}
	if hint && f.fetchFree > f.now {
		f.stats.PrefetchDrop++
		return
	}
	f.stats.Prefetches++
	f.fetchStart(id, f.now)
}

// Prefetch stages an accelerator's bitstream in the card's cache, as the
// host's tooling would ahead of a tenant's arrival. The fetch uses the link
// to the host, not the engine: it completes while the engine runs.
func (f *FPGA) Prefetch(accel uint64) error {
	if _, ok := f.library[accel]; !ok {
		return fmt.Errorf("sim: prefetch of accelerator %d: not in the library", accel)
	}
	f.prefetch(accel, false)
	return nil
}

// EvictCache empties the bitstream cache (the host's EVICT_CACHE).
func (f *FPGA) EvictCache() { f.cache = f.cache[:0] }

// reconfigCost is what making accel usable costs at device time now, and
// the region it would use; it changes nothing. A resident accelerator costs
// nothing.
func (f *FPGA) reconfigCost(accel uint64, now time.Duration) (time.Duration, int, bool) {
	victim := 0
	for i, r := range f.regions {
		if r.accel == accel {
			return 0, i, true
		}
		if r.lastUse < f.regions[victim].lastUse {
			victim = i
		}
	}
	size := f.bitstreamBytes(accel)
	var wait time.Duration
	if e := f.findCache(accel); e != nil {
		wait = max(0, e.readyAt-now)
	} else {
		wait = max(now, f.fetchFree) + f.cost.fetch(size) - now
	}
	return wait + f.cost.icap(size), victim, false
}

// configure makes accel resident in a region at device time now and
// returns the time that took.
func (f *FPGA) configure(accel uint64, now time.Duration) time.Duration {
	f.stats.Invokes++
	cost, i, resident := f.reconfigCost(accel, now)
	f.seq++
	f.regions[i].lastUse = f.seq
	if resident {
		f.stats.ResidentHits++
		return 0
	}
	if e := f.findCache(accel); e != nil {
		f.stats.CacheHits++
		e.lastUse = f.seq
	} else {
		f.stats.CacheMisses++
		f.fetchStart(accel, now)
	}
	f.regions[i].accel = accel
	f.stats.Reconfigs++
	f.stats.ReconfigTime += cost
	return cost
}

// ReconfigStats returns the counters of the regions and the cache.
func (f *FPGA) ReconfigStats() ReconfigStats { return f.stats }

// Resident lists the accelerator configured in each region (0: blank).
func (f *FPGA) Resident() []uint64 {
	out := make([]uint64, len(f.regions))
	for i, r := range f.regions {
		out[i] = r.accel
	}
	return out
}

// Cached lists the accelerators whose bitstreams the cache holds.
func (f *FPGA) Cached() []uint64 {
	out := make([]uint64, len(f.cache))
	for i, e := range f.cache {
		out[i] = e.accel
	}
	return out
}
