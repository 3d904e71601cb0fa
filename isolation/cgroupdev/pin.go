package cgroupdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// A filter attached through a bpf_link lives as long as the link: without
// a pin, as long as the daemon's file descriptor, so a daemon that stops
// or restarts leaves its domains' cgroups unfiltered until it is back, and
// a container can open any device node in that window. Pinning the link in
// a BPF filesystem (Options.PinPath) keeps the filter in force with no
// process holding it: Release lets go of it, the next Attach on the same
// pin takes it back and swaps in its own program atomically
// (BPF_LINK_UPDATE), so the cgroup is never without a filter; Close
// unpins and detaches it for good.

// adoptPinned takes the link pinned at pinPath, checks that it guards
// cgroupPath, and replaces its program with prog. It returns nil without
// error when nothing is pinned there, or when the pinned filter's cgroup
// is gone (then unpinned): Attach attaches a fresh one.
func adoptPinned(cgroupPath, pinPath string, prog *ebpf.Program) (link.Link, error) {
	l, err := link.LoadPinnedLink(pinPath, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapPermission(fmt.Errorf("cgroupdev: load the filter pinned at %s: %w", pinPath, err))
	}
	want, err := cgroupID(cgroupPath)
	if err != nil {
		l.Close()
		return nil, err
	}
	info, err := l.Info()
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("cgroupdev: the link pinned at %s: %w", pinPath, err)
	}
	cg := info.Cgroup()
	if cg != nil && cg.CgroupId != want {
		// A filter of another cgroup. If that cgroup is gone (the
		// container restarted while coprocd was down: a new cgroup at the
		// same path), the filter guards nothing: unpin it and attach a
		// fresh one. A live cgroup's filter is not this domain's to take.
		alive, err := cgroupAlive(cgroupPath, cg.CgroupId)
		if err == nil && !alive {
			err = l.Unpin()
			l.Close() // the last reference: detaches it
			if err != nil {
				return nil, fmt.Errorf("cgroupdev: unpin the stale filter at %s: %w", pinPath, err)
			}
			return nil, nil
		}
	}
	if cg == nil || cg.CgroupId != want {
		l.Close()
		return nil, fmt.Errorf("cgroupdev: the link pinned at %s is not a device filter of cgroup %s (id %d): remove the pin if it is stale", pinPath, cgroupPath, want)
	}
	if err := l.Update(prog); err != nil {
		l.Close()
		return nil, fmt.Errorf("cgroupdev: replace the program of the filter pinned at %s: %w", pinPath, err)
	}
	return l, nil
}

// pin pins l at pinPath. Links attached with BPF_PROG_ATTACH (kernels
// before 5.7) cannot be pinned: the error says so.
func pin(l link.Link, pinPath string) error {
	if err := l.Pin(pinPath); err != nil {
		return fmt.Errorf("cgroupdev: pin the device filter at %s (needs bpf_link for cgroups, Linux 5.7+, and a BPF filesystem there): %w", pinPath, err)
	}
	return nil
}

// fileIDKernfs is the kernel's file-handle type of kernfs nodes
// (FILEID_KERNFS): a cgroup v2 directory's handle is its 8-byte id.
const fileIDKernfs = 0xfe

// cgroupAlive reports whether the cgroup whose kernel id is id still
// exists on the cgroup v2 filesystem of dir: the id opened as a file
// handle (open_by_handle_at, which needs CAP_DAC_READ_SEARCH) resolves
// only while the cgroup does.
func cgroupAlive(dir string, id uint64) (bool, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("cgroupdev: open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	var handle [8]byte
	binary.NativeEndian.PutUint64(handle[:], id)
	cfd, err := unix.OpenByHandleAt(fd, unix.NewFileHandle(fileIDKernfs, handle[:]), unix.O_RDONLY|unix.O_CLOEXEC)
	switch {
	case err == nil:
		unix.Close(cfd)
		return true, nil
	case errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, fmt.Errorf("cgroupdev: look up cgroup id %d: %w", id, err)
}

// cgroupID is the kernel's id of a cgroup v2 directory: its inode number.
func cgroupID(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("cgroupdev: stat cgroup %s: %w", path, err)
	}
	return st.Ino, nil
}

// Release lets go of the filter without detaching it, when the filter is
// pinned (Options.PinPath): it stays in force on the cgroup, with its
// last allow list, until an Attach on the same pin takes it back or
// RemovePinned removes it. A daemon that stops calls it for every domain
// it will serve again. An unpinned filter is closed (detached) instead.
func (f *Filter) Release() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Without a pin, closing the last descriptor detaches: that is Close.
	// With one, the pin keeps the link, and so the program and its map.
	return f.closeLocked(f.pinPath == "")
}

// RemovePinned detaches and unpins the filter pinned at pinPath, for a
// domain that is gone (removed from the configuration while the daemon was
// not running). Nothing pinned there is not an error; a link that is not a
// cgroup device filter is not this package's and is left alone, with an
// error that says so.
func RemovePinned(pinPath string) error {
	l, err := link.LoadPinnedLink(pinPath, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cgroupdev: load the filter pinned at %s: %w", pinPath, err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return fmt.Errorf("cgroupdev: the link pinned at %s: %w", pinPath, err)
	}
	if cg := info.Cgroup(); cg == nil || uint32(cg.AttachType) != uint32(ebpf.AttachCGroupDevice) {
		return fmt.Errorf("cgroupdev: the link pinned at %s is not a cgroup device filter: left alone", pinPath)
	}
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("cgroupdev: unpin %s: %w", pinPath, err)
	}
	return nil // Close, the last reference, detaches it
}

// BPFFSRoot is where systemd mounts the BPF filesystem.
const BPFFSRoot = "/sys/fs/bpf"

// EnsurePinDir makes dir a directory in a BPF filesystem, for pinning
// filters: inside /sys/fs/bpf it mounts the filesystem there first if the
// machine has none (minimal systems and containers may not); elsewhere it
// mounts one at dir itself unless dir is in one already.
func EnsurePinDir(dir string) error {
	if rel, err := filepath.Rel(BPFFSRoot, dir); err == nil && !strings.HasPrefix(rel, "..") {
		if err := mountBPFFS(BPFFSRoot); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cgroupdev: pin directory: %w", err)
	}
	return mountBPFFS(dir)
}

// mountBPFFS mounts a BPF filesystem at dir unless dir is in one.
func mountBPFFS(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("cgroupdev: statfs %s: %w", dir, err)
	}
	if st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", dir, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return wrapPermission(fmt.Errorf("cgroupdev: mount a BPF filesystem at %s: %w", dir, err))
	}
	return nil
}
