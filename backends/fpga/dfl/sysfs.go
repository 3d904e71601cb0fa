package dfl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// System is what sysfs says about the host's DFL FPGAs.
type System struct {
	Regions  []Region
	Managers []Manager
}

// Region is one /sys/class/fpga_region/regionN and the DFL feature devices
// under it: the FPGA Management Engine(s) and the AFU ports.
type Region struct {
	Name     string // "region0"
	Path     string
	CompatID GUID // compat_id of the region; zero if the kernel has none
	FMEs     []FME
	Ports    []Port
}

// FME is a dfl-fme.N: the management engine that performs partial
// reconfiguration of its ports' regions.
type FME struct {
	Name     string // "dfl-fme.0"
	ID       int
	Path     string
	DevPath  string // "/dev/dfl-fme.0"
	PortsNum int    // ports_num; -1 if absent
	// PRInterfaceID is the interface id a GBS must match: the compat_id of
	// the FME's PR region (dfl-fme-region.*/fpga_region/region*/compat_id),
	// or the older pr/interface_id. Zero if neither exists.
	PRInterfaceID GUID
}

// Port is a dfl-port.N: an accelerator function unit's port.
type Port struct {
	Name    string // "dfl-port.0"
	ID      int
	Path    string
	DevPath string // "/dev/dfl-port.0"
	AFUID   GUID   // afu_id of the accelerator loaded now
}

// Manager is a /sys/class/fpga_manager/* device.
type Manager struct {
	Name  string // directory name, e.g. "fpga0"
	Path  string
	Label string // its name attribute
	State string // e.g. "operating", "write init", "write error"
}

// Enumerate reads the DFL devices under sysRoot (normally "/sys") and names
// their character devices under devRoot (normally "/dev"). A system with
// no FPGA has no fpga_region class: that is an empty System, not an error.
func Enumerate(sysRoot, devRoot string) (*System, error) {
	s := &System{}
	regionDir := filepath.Join(sysRoot, "class", "fpga_region")
	regions, err := os.ReadDir(regionDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dfl: listing %s: %w", regionDir, err)
	}
	for _, e := range regions {
		r := Region{Name: e.Name(), Path: filepath.Join(regionDir, e.Name())}
		if r.CompatID, err = readGUID(filepath.Join(r.Path, "compat_id"), true); err != nil {
			return nil, err
		}
		children, err := os.ReadDir(r.Path)
		if err != nil {
			return nil, fmt.Errorf("dfl: listing %s: %w", r.Path, err)
		}
		for _, c := range children {
			p := filepath.Join(r.Path, c.Name())
			switch {
			case strings.HasPrefix(c.Name(), "dfl-fme."):
				f, err := readFME(p, c.Name(), devRoot)
				if err != nil {
					return nil, err
				}
				r.FMEs = append(r.FMEs, f)
			case strings.HasPrefix(c.Name(), "dfl-port."):
				pt, err := readPort(p, c.Name(), devRoot)
				if err != nil {
					return nil, err
				}
				r.Ports = append(r.Ports, pt)
			}
		}
		s.Regions = append(s.Regions, r)
	}
	mgrDir := filepath.Join(sysRoot, "class", "fpga_manager")
	mgrs, err := os.ReadDir(mgrDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dfl: listing %s: %w", mgrDir, err)
	}
	for _, e := range mgrs {
		m := Manager{Name: e.Name(), Path: filepath.Join(mgrDir, e.Name())}
		if m.State, err = readAttr(filepath.Join(m.Path, "state"), false); err != nil {
			return nil, err
		}
		if m.Label, err = readAttr(filepath.Join(m.Path, "name"), true); err != nil {
			return nil, err
		}
		s.Managers = append(s.Managers, m)
	}
	sort.Slice(s.Regions, func(i, j int) bool { return s.Regions[i].Name < s.Regions[j].Name })
	return s, nil
}

func deviceID(name, prefix string) (int, error) {
	id, err := strconv.Atoi(strings.TrimPrefix(name, prefix))
	if err != nil || id < 0 {
		return 0, fmt.Errorf("dfl: device %q: want %sN with N a non-negative number", name, prefix)
	}
	return id, nil
}

func readFME(path, name, devRoot string) (FME, error) {
	id, err := deviceID(name, "dfl-fme.")
	if err != nil {
		return FME{}, err
	}
	f := FME{Name: name, ID: id, Path: path, DevPath: filepath.Join(devRoot, name), PortsNum: -1}
	if v, err := readAttr(filepath.Join(path, "ports_num"), true); err != nil {
		return f, err
	} else if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, fmt.Errorf("dfl: %s: ports_num %q is not a count", path, v)
		}
		f.PortsNum = n
	}
	compat, _ := filepath.Glob(filepath.Join(path, "dfl-fme-region.*", "fpga_region", "region*", "compat_id"))
	sort.Strings(compat)
	candidates := append(compat, filepath.Join(path, "pr", "interface_id"))
	for _, c := range candidates {
		g, err := readGUID(c, true)
		if err != nil {
			return f, err
		}
		if !g.IsZero() {
			f.PRInterfaceID = g
			break
		}
	}
	return f, nil
}

func readPort(path, name, devRoot string) (Port, error) {
	id, err := deviceID(name, "dfl-port.")
	if err != nil {
		return Port{}, err
	}
	p := Port{Name: name, ID: id, Path: path, DevPath: filepath.Join(devRoot, name)}
	p.AFUID, err = readGUID(filepath.Join(path, "afu_id"), false)
	return p, err
}

// readAttr reads a sysfs attribute, trimmed. A missing optional attribute
// reads as "".
func readAttr(path string, optional bool) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("dfl: reading %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func readGUID(path string, optional bool) (GUID, error) {
	v, err := readAttr(path, optional)
	if err != nil || v == "" {
		return GUID{}, err
	}
	g, err := ParseGUID(v)
	if err != nil {
		return GUID{}, fmt.Errorf("dfl: %s: %w", path, err)
	}
	return g, nil
}
