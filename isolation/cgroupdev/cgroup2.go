package cgroupdev

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroup2Mounts lists the mount points of cgroup v2 filesystems in a
// /proc/<pid>/mountinfo text, in order. A unified host has one at
// /sys/fs/cgroup; a hybrid host (systemd's "hybrid" mode) has one at
// /sys/fs/cgroup/unified next to the v1 controllers.
func Cgroup2Mounts(mountinfo []byte) ([]string, error) {
	var mounts []string
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(text, " - ")
		if !ok {
			return nil, fmt.Errorf("cgroupdev: mountinfo line %d: no \" - \" separator: %q", line, text)
		}
		preFields := strings.Fields(pre)
		postFields := strings.Fields(post)
		if len(preFields) < 6 || len(postFields) < 1 {
			return nil, fmt.Errorf("cgroupdev: mountinfo line %d: %d fields before and %d after the separator, want at least 6 and 1: %q",
				line, len(preFields), len(postFields), text)
		}
		if postFields[0] == "cgroup2" {
			mounts = append(mounts, unescapeMountPath(preFields[4]))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroupdev: mountinfo: %w", err)
	}
	return mounts, nil
}

// unescapeMountPath undoes the kernel's octal escapes (\040 for a space) in
// mountinfo paths; malformed escapes are kept as they are.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// FindCgroup2 returns the first cgroup v2 mount of this process's mount
// namespace, or an error saying there is none.
func FindCgroup2() (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("cgroupdev: %w", err)
	}
	mounts, err := Cgroup2Mounts(data)
	if err != nil {
		return "", err
	}
	if len(mounts) == 0 {
		return "", ErrNoCgroup2
	}
	return mounts[0], nil
}

// ErrNoCgroup2 says the machine has no cgroup v2 hierarchy mounted.
var ErrNoCgroup2 = errors.New("cgroupdev: no cgroup v2 hierarchy is mounted (mount one with MountCgroup2, or `mount -t cgroup2 none DIR`)")

// MountCgroup2 mounts the cgroup v2 hierarchy at dir, for machines that have
// none mounted (a v1-only host). There is one v2 hierarchy per cgroup
// namespace: a second mount shows the same tree. Unmount with
// unix.Unmount(dir, 0) when done.
func MountCgroup2(dir string) error {
	if err := unix.Mount("cgroup2", dir, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("cgroupdev: mount cgroup2 at %s: %w", dir, err)
	}
	return nil
}

// Probe says whether device isolation can work here: the capabilities, a
// cgroup v2 hierarchy, and the kernel accepting the filter program (it is
// loaded once and freed). The daemon calls it at start; on error it logs
// the reason and runs with isolation marked off, never silently.
func Probe() error {
	if err := CheckCapabilities(); err != nil {
		return err
	}
	if _, err := FindCgroup2(); err != nil {
		return err
	}
	allow, err := newAllowMap(1)
	if err != nil {
		return err
	}
	defer allow.Close()
	prog, err := newDeviceFilter(allow)
	if err != nil {
		return err
	}
	return prog.Close()
}
