package cgroupdev

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrMissingCapabilities is wrapped by every error that says the process
// lacks the capabilities to load and attach a device filter.
var ErrMissingCapabilities = errors.New("cgroupdev: missing capabilities for device isolation")

// capabilityBit says whether capability n is in the effective set.
func capabilityBit(data *[2]unix.CapUserData, n uint) bool {
	return data[n/32].Effective&(1<<(n%32)) != 0
}

// CheckCapabilities reports whether this process can load a
// BPF_PROG_TYPE_CGROUP_DEVICE program and its map and attach it to a cgroup:
// the kernel asks for CAP_BPF (map and program creation) and CAP_NET_ADMIN
// (cgroup-device is one of the "net admin" program types, and cgroup
// attachment checks it), and accepts CAP_SYS_ADMIN for either. The error
// names what is missing, so the daemon can say so at start and run with
// isolation marked off.
func CheckCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("cgroupdev: capget: %w", err)
	}
	return missingCapabilities(
		capabilityBit(&data, unix.CAP_BPF),
		capabilityBit(&data, unix.CAP_NET_ADMIN),
		capabilityBit(&data, unix.CAP_SYS_ADMIN))
}

// missingCapabilities is the rule CheckCapabilities applies, apart from the
// syscall so that each combination is tested.
func missingCapabilities(bpf, netAdmin, sysAdmin bool) error {
	if sysAdmin {
		return nil
	}
	var missing []string
	if !bpf {
		missing = append(missing, "CAP_BPF")
	}
	if !netAdmin {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: effective set lacks %s (need CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)",
		ErrMissingCapabilities, strings.Join(missing, " and "))
}
