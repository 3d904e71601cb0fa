package nvml

import (
	"cmp"
	"slices"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// ProcessUsage is one process on one GPU at one sample.
type ProcessUsage struct {
	PID               uint32
	GPU               string // UUID
	GPUInstanceID     uint32 // MIG only (NVML reports 0xFFFFFFFF otherwise)
	ComputeInstanceID uint32
	MemoryBytes       uint64
	// SMPercent and MemPercent are the process's share of the GPU's SM and
	// memory-controller time over the last sampling period
	// (nvmlDeviceGetProcessUtilization), or its lifetime average from
	// accounting (nvmlDeviceGetAccountingStats) where the former is not
	// supported. UtilizationKnown is false when neither is available.
	SMPercent        uint32
	MemPercent       uint32
	UtilizationKnown bool
}

// Sample reads the compute processes of every GPU with their memory and
// utilization. Utilization samples are taken since the previous Sample of
// the same GPU, so call it at a steady interval (the daemon's accounting
// period). A GPU that cannot list processes (NOT_SUPPORTED) is skipped;
// any other NVML failure is an error naming the call and the GPU.
func (m *Manager) Sample() ([]ProcessUsage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastSample == nil {
		m.lastSample = map[string]uint64{}
	}
	var out []ProcessUsage
	for _, g := range m.gpus {
		dev := m.devs[g.UUID]
		procs, ret := dev.GetComputeRunningProcesses()
		if ret == nvml.ERROR_NOT_SUPPORTED {
			continue
		}
		if err := check("nvmlDeviceGetComputeRunningProcesses", g.UUID, ret); err != nil {
			return nil, err
		}
		util, known, err := m.utilization(dev, g.UUID)
		if err != nil {
			return nil, err
		}
		accounting := !known && accountingEnabled(dev)
		for _, p := range procs {
			u := ProcessUsage{PID: p.Pid, GPU: g.UUID, GPUInstanceID: p.GpuInstanceId, ComputeInstanceID: p.ComputeInstanceId, MemoryBytes: p.UsedGpuMemory}
			switch {
			case known:
				s := util[p.Pid] // absent: no sample since last time, i.e. idle
				u.SMPercent, u.MemPercent, u.UtilizationKnown = s.SmUtil, s.MemUtil, true
			case accounting:
				stats, ret := dev.GetAccountingStats(p.Pid)
				if ret == nvml.SUCCESS {
					u.SMPercent, u.MemPercent, u.UtilizationKnown = stats.GpuUtilization, stats.MemoryUtilization, true
				} else if ret != nvml.ERROR_NOT_FOUND {
					return nil, check("nvmlDeviceGetAccountingStats", g.UUID, ret)
				}
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// utilization returns the newest sample of each process since the last
// call; known is false when the device does not offer per-process samples.
func (m *Manager) utilization(dev nvml.Device, uuid string) (map[uint32]nvml.ProcessUtilizationSample, bool, error) {
	samples, ret := dev.GetProcessUtilization(m.lastSample[uuid])
	switch ret {
	case nvml.SUCCESS:
	case nvml.ERROR_NOT_FOUND: // no sample since the last call: all idle
		return nil, true, nil
	case nvml.ERROR_NOT_SUPPORTED:
		return nil, false, nil
	default:
		return nil, false, check("nvmlDeviceGetProcessUtilization", uuid, ret)
	}
	newest := make(map[uint32]nvml.ProcessUtilizationSample, len(samples))
	for _, s := range samples {
		if old, ok := newest[s.Pid]; !ok || s.TimeStamp >= old.TimeStamp {
			newest[s.Pid] = s
		}
		m.lastSample[uuid] = max(m.lastSample[uuid], s.TimeStamp)
	}
	return newest, true, nil
}

func accountingEnabled(dev nvml.Device) bool {
	mode, ret := dev.GetAccountingMode()
	return ret == nvml.SUCCESS && mode == nvml.FEATURE_ENABLED
}

// GPUUsage is a domain's use of one GPU.
type GPUUsage struct {
	MemoryBytes      uint64
	SMPercent        uint32 // sum over the domain's processes, capped at 100
	UtilizationKnown bool   // false if any process's utilization is unknown
	PIDs             []uint32
}

// DomainUsage is a domain's use of the GPUs, by GPU UUID.
type DomainUsage struct {
	Domain string // "" for processes no domain owns
	GPUs   map[string]GPUUsage
}

// Aggregate sums process usage per domain. domainOf maps a pid to its
// domain (the daemon knows which cgroup each pid is in); pids it does not
// know are gathered under Domain "". The result is sorted by domain.
func Aggregate(procs []ProcessUsage, domainOf func(pid uint32) (string, bool)) []DomainUsage {
	byDomain := map[string]*DomainUsage{}
	for _, p := range procs {
		domain, ok := domainOf(p.PID)
		if !ok {
			domain = ""
		}
		d := byDomain[domain]
		if d == nil {
			d = &DomainUsage{Domain: domain, GPUs: map[string]GPUUsage{}}
			byDomain[domain] = d
		}
		g, seen := d.GPUs[p.GPU]
		if !seen {
			g.UtilizationKnown = true
		}
		g.MemoryBytes += p.MemoryBytes
		g.SMPercent = min(100, g.SMPercent+p.SMPercent)
		g.UtilizationKnown = g.UtilizationKnown && p.UtilizationKnown
		g.PIDs = append(g.PIDs, p.PID)
		d.GPUs[p.GPU] = g
	}
	out := make([]DomainUsage, 0, len(byDomain))
	for _, d := range byDomain {
		for uuid, g := range d.GPUs {
			slices.Sort(g.PIDs)
			d.GPUs[uuid] = g
		}
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DomainUsage) int { return cmp.Compare(a.Domain, b.Domain) })
	return out
}
