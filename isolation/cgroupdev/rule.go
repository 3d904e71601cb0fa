package cgroupdev

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DeviceType is the kind of device node a rule grants. The values are the
// kernel's BPF_DEVCG_DEV_* (include/uapi/linux/bpf.h), which the program
// compares against the low 16 bits of bpf_cgroup_dev_ctx.access_type.
type DeviceType uint8

const (
	Block DeviceType = 1 // BPF_DEVCG_DEV_BLOCK
	Char  DeviceType = 2 // BPF_DEVCG_DEV_CHAR
)

func (t DeviceType) String() string {
	switch t {
	case Block:
		return "b"
	case Char:
		return "c"
	}
	return fmt.Sprintf("DeviceType(%d)", t)
}

// Access is a set of operations on a device node. The bits are the kernel's
// BPF_DEVCG_ACC_*, found in the high 16 bits of access_type.
type Access uint8

const (
	Mknod Access = 1 // BPF_DEVCG_ACC_MKNOD
	Read  Access = 2 // BPF_DEVCG_ACC_READ
	Write Access = 4 // BPF_DEVCG_ACC_WRITE

	allAccess = Mknod | Read | Write
)

// String writes the set the way devices.allow does: "rwm" order.
func (a Access) String() string {
	var b strings.Builder
	if a&Read != 0 {
		b.WriteByte('r')
	}
	if a&Write != 0 {
		b.WriteByte('w')
	}
	if a&Mknod != 0 {
		b.WriteByte('m')
	}
	if a&^allAccess != 0 {
		fmt.Fprintf(&b, "+%#x", uint8(a&^allAccess))
	}
	return b.String()
}

// ParseAccess reads "r", "w", "m" in any order, each at most once.
func ParseAccess(s string) (Access, error) {
	if s == "" {
		return 0, errors.New("cgroupdev: empty access: want a combination of r, w and m")
	}
	var a Access
	for _, c := range s {
		var bit Access
		switch c {
		case 'r':
			bit = Read
		case 'w':
			bit = Write
		case 'm':
			bit = Mknod
		default:
			return 0, fmt.Errorf("cgroupdev: access %q: unknown letter %q: want r, w or m", s, c)
		}
		if a&bit != 0 {
			return 0, fmt.Errorf("cgroupdev: access %q: %q given twice", s, c)
		}
		a |= bit
	}
	return a, nil
}

// Rule grants access to one device node, named by its device number.
// Wildcards are deliberately absent: a domain gets exactly the nodes it was
// given, and "c 195:* rw" would hand it every other tenant's GPU.
type Rule struct {
	Type   DeviceType
	Major  uint32
	Minor  uint32
	Access Access
}

// String is the devices.allow syntax: "c 195:0 rw".
func (r Rule) String() string {
	return fmt.Sprintf("%s %d:%d %s", r.Type, r.Major, r.Minor, r.Access)
}

// Validate says what is wrong with a rule, naming the field.
func (r Rule) Validate() error {
	if r.Type != Char && r.Type != Block {
		return fmt.Errorf("cgroupdev: rule %s: device type %d is neither char (c) nor block (b)", r, r.Type)
	}
	if r.Access == 0 {
		return fmt.Errorf("cgroupdev: rule %s: grants no access: want a combination of r, w and m", r)
	}
	if r.Access&^allAccess != 0 {
		return fmt.Errorf("cgroupdev: rule %s: access bits %#x are not r, w or m", r, uint8(r.Access&^allAccess))
	}
	return nil
}

// ParseRule reads one rule in the devices.allow syntax, "c 195:0 rw".
// "a" (all devices) and "*" (any major or minor) are refused: see Rule.
func ParseRule(s string) (Rule, error) {
	fields := strings.Fields(s)
	if len(fields) != 3 {
		return Rule{}, fmt.Errorf("cgroupdev: rule %q: want \"TYPE MAJOR:MINOR ACCESS\" such as \"c 195:0 rw\"", s)
	}
	var r Rule
	switch fields[0] {
	case "c":
		r.Type = Char
	case "b":
		r.Type = Block
	default:
		return Rule{}, fmt.Errorf("cgroupdev: rule %q: device type %q: want c or b (wildcard type a is not allowed)", s, fields[0])
	}
	majorText, minorText, ok := strings.Cut(fields[1], ":")
	if !ok {
		return Rule{}, fmt.Errorf("cgroupdev: rule %q: device number %q: want MAJOR:MINOR", s, fields[1])
	}
	major, err := parseDeviceNumber(majorText)
	if err != nil {
		return Rule{}, fmt.Errorf("cgroupdev: rule %q: major %q: %w", s, majorText, err)
	}
	minor, err := parseDeviceNumber(minorText)
	if err != nil {
		return Rule{}, fmt.Errorf("cgroupdev: rule %q: minor %q: %w", s, minorText, err)
	}
	r.Major, r.Minor = major, minor
	if r.Access, err = ParseAccess(fields[2]); err != nil {
		return Rule{}, fmt.Errorf("cgroupdev: rule %q: %w", s, err)
	}
	return r, nil
}

func parseDeviceNumber(s string) (uint32, error) {
	if s == "*" {
		return 0, errors.New("wildcards are not allowed: grant each node")
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errors.New("not a decimal number below 2^32")
	}
	return uint32(n), nil
}

// ruleKey is the allow map's key, laid out as the program builds it on its
// stack from bpf_cgroup_dev_ctx: type, major, minor, 32 bits each.
type ruleKey struct {
	Type  uint32
	Major uint32
	Minor uint32
}

func (r Rule) key() ruleKey {
	return ruleKey{Type: uint32(r.Type), Major: r.Major, Minor: r.Minor}
}

// mergeRules validates rules and folds duplicates of one node into one
// entry (the union of their access), as the map holds one value per node.
func mergeRules(rules []Rule) (map[ruleKey]Access, error) {
	merged := make(map[ruleKey]Access, len(rules))
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		merged[r.key()] |= r.Access
	}
	return merged, nil
}
