//go:build linux

package rproc

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxAttr bounds what is read of one sysfs attribute: sysfs hands out at
// most a page.
const maxAttr = 4096

// readAttr reads a sysfs attribute and strips one trailing newline.
func readAttr(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &pathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, maxAttr)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &pathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	s := string(buf[:n])
	if len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s, nil
}

// writeAttr writes value to a sysfs attribute in one write, as sysfs
// requires (a store sees exactly one buffer).
func writeAttr(path, value string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	return writeAll(fd, path, []byte(value))
}

func writeAll(fd int, path string, b []byte) error {
	for {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &pathError{Op: "write", Path: path, Err: err}
		}
		if n != len(b) {
			return &pathError{Op: "write", Path: path, Err: fmt.Errorf("short write: %d of %d bytes", n, len(b))}
		}
		return nil
	}
}

// pathError is a failed system call on a path; Err is usually a unix.Errno, so
// errors.Is(err, unix.EBUSY) works.
type pathError struct {
	Op   string
	Path string
	Err  error
}

func (e *pathError) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err) }
func (e *pathError) Unwrap() error { return e.Err }

// ioctlPtr issues an ioctl whose argument is a pointer to arg.
func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return errno
	}
}

// ioctlError names the ioctl and the node, and says what ENOTTY means.
func ioctlError(name, path string, err error) error {
	if errors.Is(err, unix.ENOTTY) {
		return fmt.Errorf("rproc: %s on %s: %w (the node is not the device the ioctl belongs to, or its driver is too old)", name, path, err)
	}
	return fmt.Errorf("rproc: %s on %s: %w", name, path, err)
}
