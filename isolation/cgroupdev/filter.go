package cgroupdev

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Options configure a Filter.
type Options struct {
	// MaxRules bounds the number of distinct nodes in the allow list
	// (DefaultMaxRules when 0). The map is sized once; Replace may use it
	// all.
	MaxRules int
	// PinPath, when set, is a file in a BPF filesystem where the filter's
	// link is pinned, so that the filter outlives the process (see
	// pin.go). An Attach finding a filter of the same cgroup pinned there
	// takes it over instead of attaching a second one.
	PinPath string
}

// Filter is a device filter attached to one cgroup v2 directory. It is safe
// for concurrent use.
type Filter struct {
	path     string
	maxRules int
	pinPath  string

	mu      sync.Mutex
	allow   *ebpf.Map
	prog    *ebpf.Program
	progID  ebpf.ProgramID
	link    link.Link
	granted map[ruleKey]Access
	closed  bool

	reattached int
}

// ErrClosed is returned by a Filter's methods after Close.
var ErrClosed = errors.New("cgroupdev: filter is closed")

// Attach loads a device filter allowing exactly rules and attaches it to the
// cgroup v2 directory cgroupPath. Processes in that cgroup (and in its
// descendants) can then open, create or use only those nodes, with only the
// access each rule grants; everything else is EPERM.
//
// The filter is attached through a bpf_link where the kernel has one (5.7+),
// which another agent cannot replace by program id, and through
// BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI otherwise. Check finds out whether
// it is still attached. An error wrapping ErrMissingCapabilities means the
// process may not do this at all.
func Attach(cgroupPath string, rules []Rule, opts Options) (*Filter, error) {
	maxRules := opts.MaxRules
	if maxRules == 0 {
		maxRules = DefaultMaxRules
	}
	if maxRules < 0 {
		return nil, fmt.Errorf("cgroupdev: MaxRules %d is negative", maxRules)
	}
	granted, err := mergeRules(rules)
	if err != nil {
		return nil, err
	}
	if len(granted) > maxRules {
		return nil, fmt.Errorf("cgroupdev: %d nodes granted but the allow map holds %d (raise Options.MaxRules)", len(granted), maxRules)
	}
	if err := checkCgroup2Dir(cgroupPath); err != nil {
		return nil, err
	}
	f := &Filter{path: cgroupPath, maxRules: maxRules, pinPath: opts.PinPath}
	allow, prog, id, err := f.load(granted)
	if err != nil {
		return nil, err
	}
	l, err := f.attachOrAdopt(prog)
	if err != nil {
		prog.Close()
		allow.Close()
		return nil, err
	}
	f.allow, f.prog, f.progID, f.link, f.granted = allow, prog, id, l, granted
	return f, nil
}

// attachOrAdopt attaches prog to the cgroup, or, with a pin path, takes
// over the filter pinned there (swapping in prog) or attaches and pins.
func (f *Filter) attachOrAdopt(prog *ebpf.Program) (link.Link, error) {
	if f.pinPath != "" {
		l, err := adoptPinned(f.path, f.pinPath, prog)
		if err != nil || l != nil {
			return l, err
		}
	}
	l, err := attachProgram(f.path, prog)
	if err != nil {
		return nil, err
	}
	if f.pinPath != "" {
		if err := pin(l, f.pinPath); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// load makes a new map filled with granted and a program bound to it.
func (f *Filter) load(granted map[ruleKey]Access) (*ebpf.Map, *ebpf.Program, ebpf.ProgramID, error) {
	allow, err := newAllowMap(f.maxRules)
	if err != nil {
		return nil, nil, 0, err
	}
	for k, a := range granted {
		if err := allow.Put(k, uint32(a)); err != nil {
			allow.Close()
			return nil, nil, 0, fmt.Errorf("cgroupdev: fill allow map with %s: %w", ruleFromKey(k, a), err)
		}
	}
	prog, err := newDeviceFilter(allow)
	if err != nil {
		allow.Close()
		return nil, nil, 0, err
	}
	info, err := prog.Info()
	if err != nil {
		prog.Close()
		allow.Close()
		return nil, nil, 0, fmt.Errorf("cgroupdev: read program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		prog.Close()
		allow.Close()
		return nil, nil, 0, errors.New("cgroupdev: the kernel does not report program ids (needs 4.13+): cannot detect detachment")
	}
	return allow, prog, id, nil
}

func attachProgram(cgroupPath string, prog *ebpf.Program) (link.Link, error) {
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroupPath, Attach: ebpf.AttachCGroupDevice, Program: prog})
	if err != nil {
		return nil, wrapPermission(fmt.Errorf("cgroupdev: attach device filter to %s: %w", cgroupPath, err))
	}
	return l, nil
}

func ruleFromKey(k ruleKey, a Access) Rule {
	return Rule{Type: DeviceType(k.Type), Major: k.Major, Minor: k.Minor, Access: a}
}

// Path is the cgroup directory the filter guards.
func (f *Filter) Path() string { return f.path }

// Rules is the allow list as it stands, sorted by type, major, minor.
func (f *Filter) Rules() []Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	rules := make([]Rule, 0, len(f.granted))
	for _, k := range slices.SortedFunc(maps.Keys(f.granted), compareKeys) {
		rules = append(rules, ruleFromKey(k, f.granted[k]))
	}
	return rules
}

func compareKeys(a, b ruleKey) int {
	if a.Type != b.Type {
		return int(a.Type) - int(b.Type)
	}
	if a.Major != b.Major {
		if a.Major < b.Major {
			return -1
		}
		return 1
	}
	if a.Minor < b.Minor {
		return -1
	}
	if a.Minor > b.Minor {
		return 1
	}
	return 0
}

// Grant adds a node to the allow list, or sets its access if it is there.
// It is one map update: the kernel sees the old list or the new one.
func (f *Filter) Grant(r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	k := r.key()
	if _, ok := f.granted[k]; !ok && len(f.granted) >= f.maxRules {
		return fmt.Errorf("cgroupdev: grant %s on %s: the allow map is full (%d nodes; raise Options.MaxRules)", r, f.path, f.maxRules)
	}
	if err := f.allow.Put(k, uint32(r.Access)); err != nil {
		return fmt.Errorf("cgroupdev: grant %s on %s: %w", r, f.path, err)
	}
	f.granted[k] = r.Access
	return nil
}

// Revoke removes a node from the allow list (whatever access it had). It is
// one map delete. Revoking a node that is not granted is an error, so that
// a caller's bookkeeping bug shows. Processes that opened the node before
// keep their file descriptors: the filter guards open and mknod.
func (f *Filter) Revoke(t DeviceType, major, minor uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	k := ruleKey{Type: uint32(t), Major: major, Minor: minor}
	if _, ok := f.granted[k]; !ok {
		return fmt.Errorf("cgroupdev: revoke %s %d:%d on %s: not granted", t, major, minor, f.path)
	}
	if err := f.allow.Delete(k); err != nil {
		return fmt.Errorf("cgroupdev: revoke %s %d:%d on %s: %w", t, major, minor, f.path, err)
	}
	delete(f.granted, k)
	return nil
}

// Replace swaps the whole allow list at once: it loads a new map and program
// and replaces the attached program in one step (BPF_LINK_UPDATE, or
// BPF_PROG_ATTACH with BPF_F_REPLACE), so no open is ever checked against a
// half-updated list. On error the old list stays in force.
func (f *Filter) Replace(rules []Rule) error {
	granted, err := mergeRules(rules)
	if err != nil {
		return err
	}
	if len(granted) > f.maxRules {
		return fmt.Errorf("cgroupdev: replace on %s: %d nodes granted but the allow map holds %d (raise Options.MaxRules)", f.path, len(granted), f.maxRules)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	allow, prog, id, err := f.load(granted)
	if err != nil {
		return err
	}
	if err := f.link.Update(prog); err != nil {
		prog.Close()
		allow.Close()
		return fmt.Errorf("cgroupdev: replace device filter on %s: %w", f.path, err)
	}
	f.prog.Close()
	f.allow.Close()
	f.allow, f.prog, f.progID, f.granted = allow, prog, id, granted
	return nil
}

// Attached reports whether the filter's program is among the programs
// attached to the cgroup right now.
func (f *Filter) Attached() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false, ErrClosed
	}
	return f.attachedLocked()
}

func (f *Filter) attachedLocked() (bool, error) {
	ids, err := AttachedPrograms(f.path)
	if err != nil {
		return false, err
	}
	return slices.Contains(ids, f.progID), nil
}

// Check re-attaches the filter if another agent detached or replaced it (a
// container runtime re-applying its own device rules does: runc detaches the
// cgroup-device programs it did not install). It reports whether it had to.
// The daemon calls it periodically (Watch) and after anything that may have
// touched the cgroup.
func (f *Filter) Check() (reattached bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false, ErrClosed
	}
	ok, err := f.attachedLocked()
	if err != nil {
		return false, err
	}
	if ok {
		return false, nil
	}
	// The old link (if the agent replaced the program under it, or detached
	// the link) is dead weight now: drop it before attaching anew. Its
	// Close may fail when the attachment is already gone; that is expected.
	if f.pinPath != "" {
		_ = f.link.Unpin()
	}
	_ = f.link.Close()
	l, err := attachProgram(f.path, f.prog)
	if err != nil {
		return false, fmt.Errorf("cgroupdev: re-attach after detachment: %w", err)
	}
	if f.pinPath != "" {
		if err := pin(l, f.pinPath); err != nil {
			// Enforced again, but only while this process lives.
			f.link = l
			f.reattached++
			return true, err
		}
	}
	f.link = l
	f.reattached++
	return true, nil
}

// Reattachments counts how often Check had to re-attach the filter.
func (f *Filter) Reattachments() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reattached
}

// Close detaches the filter (unpinning it) and frees its program and map.
// The cgroup is then unfiltered by coprocd: call it when the domain is
// gone. A daemon that only stops calls Release instead.
func (f *Filter) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closeLocked(true)
}

// closeLocked frees the filter's descriptors; detach also unpins it, so
// that closing the last descriptor detaches the link.
func (f *Filter) closeLocked(detach bool) error {
	if f.closed {
		return nil
	}
	f.closed = true
	var err error
	if detach && f.pinPath != "" {
		err = f.link.Unpin()
	}
	err = errors.Join(err, f.link.Close())
	f.prog.Close()
	f.allow.Close()
	if err != nil {
		return fmt.Errorf("cgroupdev: detach device filter from %s: %w", f.path, err)
	}
	return nil
}

// AttachedPrograms lists the ids of the cgroup-device programs attached
// directly to a cgroup directory (not inherited ones), whoever attached them.
func AttachedPrograms(cgroupPath string) ([]ebpf.ProgramID, error) {
	dir, err := os.Open(cgroupPath)
	if err != nil {
		return nil, fmt.Errorf("cgroupdev: open cgroup %s: %w", cgroupPath, err)
	}
	defer dir.Close()
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(dir.Fd()), Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return nil, wrapPermission(fmt.Errorf("cgroupdev: query device filters on %s: %w", cgroupPath, err))
	}
	ids := make([]ebpf.ProgramID, 0, len(res.Programs))
	for _, p := range res.Programs {
		ids = append(ids, p.ID)
	}
	return ids, nil
}

// checkCgroup2Dir says clearly when path is not a cgroup v2 directory (a v1
// hierarchy, a plain directory, a typo), which the kernel would report as a
// bare EBADF or EINVAL.
func checkCgroup2Dir(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("cgroupdev: cgroup %s: %w", path, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("cgroupdev: %s is not in a cgroup v2 hierarchy (filesystem magic %#x): device filters attach to cgroup v2 directories only", path, st.Type)
	}
	return nil
}

func isEPERM(err error) bool {
	return errors.Is(err, unix.EPERM)
}
