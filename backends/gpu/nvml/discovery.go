package nvml

import (
	"fmt"
	"math"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// ProfileKind says how a profile shares its GPU.
type ProfileKind uint8

const (
	// MIG: a GPU instance with its own SMs, memory and L2 slices, made by
	// the driver; hardware enforces its memory and compute.
	MIG ProfileKind = iota + 1
	// TimeSlice: a share of a whole GPU's time and memory; the driver
	// time-slices the contexts and coprocd accounts and enforces the share.
	TimeSlice
)

func (k ProfileKind) String() string {
	switch k {
	case MIG:
		return "mig"
	case TimeSlice:
		return "time-slice"
	}
	return fmt.Sprintf("ProfileKind(%d)", k)
}

// Placement is a MIG GPU instance's position in memory slices.
type Placement struct{ Start, Size uint32 }

func (p Placement) overlaps(q Placement) bool {
	return p.Start < q.Start+q.Size && q.Start < p.Start+p.Size
}

// Profile is a named share of one GPU that a vcoproc can be given.
type Profile struct {
	Name        string // "1g.5gb", "3g.20gb+me", "ts-1/4"
	Kind        ProfileKind
	MemoryBytes uint64

	// MIG profiles.
	GIProfileIndex  int    // nvml.GPU_INSTANCE_PROFILE_*
	GIProfileID     uint32 // the driver's profile id (GpuInstanceProfileInfo.Id)
	Slices          uint32
	Multiprocessors uint32
	MaxInstances    uint32
	Placements      []Placement

	// Time-slice profiles: this profile is 1/Divisor of the GPU.
	Divisor uint32
}

// PCI is a GPU's PCI identity.
type PCI struct {
	BusID       string // "0000:3b:00.0"; empty when NVML gave none
	Domain      uint32
	Bus         uint32
	Device      uint32
	DeviceID    uint32 // device << 16 | vendor (0x20B010DE)
	SubsystemID uint32
}

// MIGState is a GPU's MIG capability and mode.
type MIGState struct {
	Capable bool
	Enabled bool // current mode
	Pending bool // mode after the next GPU reset
}

// GPU is one physical GPU as coprocd sees it.
type GPU struct {
	Index       int
	UUID        string
	Name        string
	Minor       int // the N of /dev/nvidiaN
	PCI         PCI
	MemoryBytes uint64
	MIG         MIGState
	// Scheduler is the vGPU scheduler's capabilities, or nil; SchedulerErr
	// then says why (ErrNotSupported outside vGPU host mode or with MIG on).
	Scheduler    *SchedulerCaps
	SchedulerErr error
	// Profiles offered: MIG profiles when MIG is enabled, time-slice
	// profiles otherwise.
	Profiles []Profile
}

// Profile finds a profile by name.
func (g *GPU) Profile(name string) (Profile, bool) {
	for _, p := range g.Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// migProfileSuffix names the media-engine and graphics variants as
// nvidia-smi does ("1g.5gb+me").
var migProfileSuffix = map[int]string{
	nvml.GPU_INSTANCE_PROFILE_1_SLICE_REV1:   "+me",
	nvml.GPU_INSTANCE_PROFILE_2_SLICE_REV1:   "+me",
	nvml.GPU_INSTANCE_PROFILE_1_SLICE_GFX:    "+gfx",
	nvml.GPU_INSTANCE_PROFILE_2_SLICE_GFX:    "+gfx",
	nvml.GPU_INSTANCE_PROFILE_3_SLICE_GFX:    "+gfx",
	nvml.GPU_INSTANCE_PROFILE_4_SLICE_GFX:    "+gfx",
	nvml.GPU_INSTANCE_PROFILE_1_SLICE_NO_ME:  "-me",
	nvml.GPU_INSTANCE_PROFILE_2_SLICE_NO_ME:  "-me",
	nvml.GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME: "+me.all",
	nvml.GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME: "+me.all",
}

// migProfileName is nvidia-smi's "<slices>g.<GB>gb" with the memory
// rounded up to whole GiB (4864 MiB is "5gb", 40192 MiB is "40gb").
func migProfileName(index int, info nvml.GpuInstanceProfileInfo) string {
	gb := uint64(math.Ceil(float64(info.MemorySizeMB) / 1024))
	return fmt.Sprintf("%dg.%dgb%s", info.SliceCount, gb, migProfileSuffix[index])
}

func cString(b []int8) string {
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	s := make([]byte, n)
	for i := range n {
		s[i] = byte(b[i])
	}
	return string(s)
}

// discover reads one GPU. A feature the device lacks (MIG, the vGPU
// scheduler) is recorded as absent; any other NVML failure is an error.
func discover(index int, dev nvml.Device, shares []uint32) (*GPU, error) {
	idx := fmt.Sprintf("GPU %d", index)
	uuid, ret := dev.GetUUID()
	if err := check("nvmlDeviceGetUUID", idx, ret); err != nil {
		return nil, err
	}
	g := &GPU{Index: index, UUID: uuid}
	var err error
	if g.Name, ret = dev.GetName(); ret != nvml.SUCCESS {
		return nil, check("nvmlDeviceGetName", uuid, ret)
	}
	if g.Minor, ret = dev.GetMinorNumber(); ret != nvml.SUCCESS {
		return nil, check("nvmlDeviceGetMinorNumber", uuid, ret)
	}
	pci, ret := dev.GetPciInfo()
	if err = check("nvmlDeviceGetPciInfo", uuid, ret); err != nil {
		return nil, err
	}
	g.PCI = PCI{BusID: cString(pci.BusId[:]), Domain: pci.Domain, Bus: pci.Bus, Device: pci.Device, DeviceID: pci.PciDeviceId, SubsystemID: pci.PciSubSystemId}
	mem, ret := dev.GetMemoryInfo()
	if err = check("nvmlDeviceGetMemoryInfo", uuid, ret); err != nil {
		return nil, err
	}
	g.MemoryBytes = mem.Total

	current, pending, ret := dev.GetMigMode()
	switch ret {
	case nvml.SUCCESS:
		g.MIG = MIGState{Capable: true, Enabled: current == nvml.DEVICE_MIG_ENABLE, Pending: pending == nvml.DEVICE_MIG_ENABLE}
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return nil, check("nvmlDeviceGetMigMode", uuid, ret)
	}

	caps, err := readSchedulerCaps(dev, uuid)
	if err != nil {
		g.SchedulerErr = err
	} else {
		g.Scheduler = &caps
	}

	if g.MIG.Enabled {
		if g.Profiles, err = migProfiles(dev, uuid); err != nil {
			return nil, err
		}
	} else {
		g.Profiles = timeSliceProfiles(g.MemoryBytes, shares)
	}
	return g, nil
}

func migProfiles(dev nvml.Device, uuid string) ([]Profile, error) {
	var profiles []Profile
	for index := range nvml.GPU_INSTANCE_PROFILE_COUNT {
		info, ret := dev.GetGpuInstanceProfileInfo(index)
		if ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_INVALID_ARGUMENT {
			continue // this GPU has no such profile
		}
		if err := check("nvmlDeviceGetGpuInstanceProfileInfo", uuid, ret); err != nil {
			return nil, err
		}
		placements, ret := dev.GetGpuInstancePossiblePlacements(&info)
		if err := check("nvmlDeviceGetGpuInstancePossiblePlacements", uuid, ret); err != nil {
			return nil, err
		}
		p := Profile{
			Name:            migProfileName(index, info),
			Kind:            MIG,
			MemoryBytes:     info.MemorySizeMB << 20,
			GIProfileIndex:  index,
			GIProfileID:     info.Id,
			Slices:          info.SliceCount,
			Multiprocessors: info.MultiprocessorCount,
			MaxInstances:    info.InstanceCount,
		}
		for _, pl := range placements {
			p.Placements = append(p.Placements, Placement{Start: pl.Start, Size: pl.Size})
		}
		profiles = append(profiles, p)
	}
	return profiles, nil
}

// DefaultTimeSliceDivisors are the time-slice profiles offered per GPU:
// the whole GPU, halves, quarters and eighths.
var DefaultTimeSliceDivisors = []uint32{1, 2, 4, 8}

func timeSliceProfiles(memory uint64, divisors []uint32) []Profile {
	profiles := make([]Profile, 0, len(divisors))
	for _, d := range divisors {
		profiles = append(profiles, Profile{
			Name:        fmt.Sprintf("ts-1/%d", d),
			Kind:        TimeSlice,
			MemoryBytes: memory / uint64(d),
			Divisor:     d,
		})
	}
	return profiles
}
