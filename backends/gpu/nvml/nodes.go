package nvml

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DeviceNode is one character device a domain needs to use a GPU, a MIG
// instance or a time-slice share. The daemon grants exactly these to the
// domain's cgroup (isolation/cgroupdev) and binds them into its container.
type DeviceNode struct {
	Path   string
	Major  uint32
	Minor  uint32
	Access string // "rw" for all NVIDIA nodes: CUDA opens them read-write
}

func (n DeviceNode) String() string {
	return fmt.Sprintf("%s (c %d:%d %s)", n.Path, n.Major, n.Minor, n.Access)
}

// The NVIDIA driver's fixed device numbers: /dev/nvidiaN is 195:N (N the
// GPU's minor, NVML's GetMinorNumber) and /dev/nvidiactl is 195:255
// (NV_MAJOR_DEVICE_NUMBER, NV_CONTROL_DEVICE_MINOR in the driver). The
// nvidia-uvm and nvidia-caps majors are dynamic and read from /proc/devices.
const (
	nvidiaMajor      = 195
	nvidiaCtlMinor   = 255
	uvmMinor         = 0
	uvmToolsMinor    = 1
	procDevicesUVM   = "nvidia-uvm"
	procDevicesCaps  = "nvidia-caps"
	migMinorsRelPath = "driver/nvidia-caps/mig-minors"
)

// ParseProcDevices reads /proc/devices into name → major for the character
// devices section (block devices are not needed here).
func ParseProcDevices(data []byte) (map[string]uint32, error) {
	majors := make(map[string]uint32)
	sc := bufio.NewScanner(bytes.NewReader(data))
	inChar := false
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "":
			continue
		case text == "Character devices:":
			inChar = true
			continue
		case text == "Block devices:":
			inChar = false
			continue
		case !inChar:
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("nvml: /proc/devices line %d: want \"MAJOR NAME\", got %q", line, text)
		}
		major, err := strconv.ParseUint(fields[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("nvml: /proc/devices line %d: major %q is not a number", line, fields[0])
		}
		majors[fields[1]] = uint32(major)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nvml: /proc/devices: %w", err)
	}
	return majors, nil
}

// MIGMinors is the driver's table of MIG capability minors, read from
// /proc/driver/nvidia-caps/mig-minors: lines "config 1", "monitor 2",
// "gpu0/gi1/access 12", "gpu0/gi1/ci0/access 13". "gpuN" is the parent
// GPU's device minor (the N of /dev/nvidiaN); the value is the minor of
// /dev/nvidia-caps/nvidia-cap<value>, whose major is nvidia-caps in
// /proc/devices. Opening the GI's and the CI's access node is what lets a
// process use that MIG instance (the driver checks them when CUDA attaches
// to it), so a domain is granted both and no other caps node.
type MIGMinors map[string]uint32

// ParseMIGMinors reads the mig-minors table.
func ParseMIGMinors(data []byte) (MIGMinors, error) {
	table := make(MIGMinors)
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("nvml: mig-minors line %d: want \"NAME MINOR\", got %q", line, text)
		}
		minor, err := strconv.ParseUint(fields[1], 10, 20) // MINORBITS is 20
		if err != nil {
			return nil, fmt.Errorf("nvml: mig-minors line %d: minor %q is not a number below 2^20", line, fields[1])
		}
		if _, dup := table[fields[0]]; dup {
			return nil, fmt.Errorf("nvml: mig-minors line %d: %q listed twice", line, fields[0])
		}
		table[fields[0]] = uint32(minor)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nvml: mig-minors: %w", err)
	}
	return table, nil
}

// GPUInstance is the minor of the access node of GPU instance gi on the GPU
// whose device minor is gpuMinor.
func (t MIGMinors) GPUInstance(gpuMinor int, gi uint32) (uint32, error) {
	return t.lookup(fmt.Sprintf("gpu%d/gi%d/access", gpuMinor, gi))
}

// ComputeInstance is the minor of the access node of compute instance ci
// in GPU instance gi.
func (t MIGMinors) ComputeInstance(gpuMinor int, gi, ci uint32) (uint32, error) {
	return t.lookup(fmt.Sprintf("gpu%d/gi%d/ci%d/access", gpuMinor, gi, ci))
}

func (t MIGMinors) lookup(name string) (uint32, error) {
	minor, ok := t[name]
	if !ok {
		return 0, fmt.Errorf("nvml: mig-minors has no entry %q (is the driver's table for this GPU loaded?)", name)
	}
	return minor, nil
}

// nodeTable resolves the nodes of GPUs and MIG instances on this host.
type nodeTable struct {
	devRoot   string
	majors    map[string]uint32
	migMinors MIGMinors // nil when the driver has no MIG caps table
	migErr    error     // why migMinors is nil
}

func loadNodeTable(procRoot, devRoot string) (*nodeTable, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, "devices"))
	if err != nil {
		return nil, fmt.Errorf("nvml: read device majors: %w", err)
	}
	majors, err := ParseProcDevices(data)
	if err != nil {
		return nil, err
	}
	t := &nodeTable{devRoot: devRoot, majors: majors}
	path := filepath.Join(procRoot, migMinorsRelPath)
	if data, err := os.ReadFile(path); err != nil {
		t.migErr = fmt.Errorf("nvml: MIG capability minors unavailable: %w", err)
	} else if t.migMinors, err = ParseMIGMinors(data); err != nil {
		t.migErr = err
	}
	return t, nil
}

// gpuNodes are the nodes every CUDA process on a GPU opens: the GPU, the
// control node and the unified-memory nodes.
func (t *nodeTable) gpuNodes(gpuMinor int) ([]DeviceNode, error) {
	uvm, ok := t.majors[procDevicesUVM]
	if !ok {
		return nil, fmt.Errorf("nvml: no %q in /proc/devices: load nvidia-uvm (CUDA needs it)", procDevicesUVM)
	}
	return []DeviceNode{
		{Path: filepath.Join(t.devRoot, "nvidiactl"), Major: nvidiaMajor, Minor: nvidiaCtlMinor, Access: "rw"},
		{Path: filepath.Join(t.devRoot, fmt.Sprintf("nvidia%d", gpuMinor)), Major: nvidiaMajor, Minor: uint32(gpuMinor), Access: "rw"},
		{Path: filepath.Join(t.devRoot, "nvidia-uvm"), Major: uvm, Minor: uvmMinor, Access: "rw"},
		{Path: filepath.Join(t.devRoot, "nvidia-uvm-tools"), Major: uvm, Minor: uvmToolsMinor, Access: "rw"},
	}, nil
}

// migNodes adds a MIG instance's GI and CI access nodes to the GPU's.
func (t *nodeTable) migNodes(gpuMinor int, gi, ci uint32) ([]DeviceNode, error) {
	nodes, err := t.gpuNodes(gpuMinor)
	if err != nil {
		return nil, err
	}
	if t.migMinors == nil {
		return nil, t.migErr
	}
	caps, ok := t.majors[procDevicesCaps]
	if !ok {
		return nil, fmt.Errorf("nvml: no %q in /proc/devices: the driver exposes no MIG capability nodes", procDevicesCaps)
	}
	giMinor, err := t.migMinors.GPUInstance(gpuMinor, gi)
	if err != nil {
		return nil, err
	}
	ciMinor, err := t.migMinors.ComputeInstance(gpuMinor, gi, ci)
	if err != nil {
		return nil, err
	}
	return append(nodes,
		DeviceNode{Path: filepath.Join(t.devRoot, "nvidia-caps", fmt.Sprintf("nvidia-cap%d", giMinor)), Major: caps, Minor: giMinor, Access: "rw"},
		DeviceNode{Path: filepath.Join(t.devRoot, "nvidia-caps", fmt.Sprintf("nvidia-cap%d", ciMinor)), Major: caps, Minor: ciMinor, Access: "rw"},
	), nil
}
