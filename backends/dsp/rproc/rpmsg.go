//go:build linux

package rproc

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultRPMsgRoot is where the kernel lists rpmsg devices and endpoints.
const DefaultRPMsgRoot = "/sys/class/rpmsg"

// RPMsgMaxPayload is the largest message a virtio rpmsg channel carries:
// a 512-byte buffer less its 16-byte header.
const RPMsgMaxPayload = 512 - 16

// RPMsgCtrl is an open /dev/rpmsg_ctrlN: it creates and destroys the
// endpoints of one rpmsg device.
type RPMsgCtrl struct {
	fd   int
	path string
}

// OpenRPMsgCtrl opens an rpmsg control device.
func OpenRPMsgCtrl(path string) (*RPMsgCtrl, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rproc: %w", &pathError{Op: "open", Path: path, Err: err})
	}
	return &RPMsgCtrl{fd: fd, path: path}, nil
}

// EndpointInfo builds the ioctl argument for a service name and addresses
// (RPMsgAddrAny lets the kernel choose).
func EndpointInfo(name string, src, dst uint32) (RPMsgEndpointInfo, error) {
	var info RPMsgEndpointInfo
	switch {
	case name == "":
		return info, fmt.Errorf("rproc: empty rpmsg service name")
	case len(name) >= len(info.Name):
		return info, fmt.Errorf("rproc: rpmsg service name %q is %d bytes: at most %d", name, len(name), len(info.Name)-1)
	case strings.IndexByte(name, 0) >= 0:
		return info, fmt.Errorf("rproc: rpmsg service name %q holds a NUL", name)
	}
	copy(info.Name[:], name)
	info.Src, info.Dst = src, dst
	return info, nil
}

// CreateEndpoint creates an rpmsg_char endpoint for the service with the
// addresses (RPMSG_CREATE_EPT_IOCTL); the kernel makes a /dev/rpmsgM for it,
// which FindEndpoints locates.
func (c *RPMsgCtrl) CreateEndpoint(name string, src, dst uint32) error {
	return c.ioctlInfo("RPMSG_CREATE_EPT_IOCTL", RPMsgCreateEptIoctl, name, src, dst)
}

// CreateDevice asks the remote side's name service for a channel
// (RPMSG_CREATE_DEV_IOCTL), and ReleaseDevice releases it.
func (c *RPMsgCtrl) CreateDevice(name string, src, dst uint32) error {
	return c.ioctlInfo("RPMSG_CREATE_DEV_IOCTL", RPMsgCreateDevIoctl, name, src, dst)
}

// ReleaseDevice releases a channel made with CreateDevice.
func (c *RPMsgCtrl) ReleaseDevice(name string, src, dst uint32) error {
	return c.ioctlInfo("RPMSG_RELEASE_DEV_IOCTL", RPMsgReleaseDevIoctl, name, src, dst)
}

func (c *RPMsgCtrl) ioctlInfo(what string, req uint, name string, src, dst uint32) error {
	info, err := EndpointInfo(name, src, dst)
	if err != nil {
		return err
	}
	if err := ioctlPtr(c.fd, req, unsafe.Pointer(&info)); err != nil {
		return ioctlError(fmt.Sprintf("%s (%q, src %#x, dst %#x)", what, name, src, dst), c.path, err)
	}
	return nil
}

// Close closes the control device.
func (c *RPMsgCtrl) Close() error { return unix.Close(c.fd) }

// EndpointDevice is an rpmsg_char endpoint the kernel lists in sysfs.
type EndpointDevice struct {
	Dev  string // "rpmsgM": /dev/rpmsgM
	Name string // service name
	Src  uint32
	Dst  uint32
}

// FindEndpoints lists the endpoint devices under root (normally
// DefaultRPMsgRoot): the entries with name, src and dst attributes.
func FindEndpoints(root string) ([]EndpointDevice, error) {
	names, err := readDirNames(root)
	if err != nil {
		return nil, fmt.Errorf("rproc: listing rpmsg endpoints: %w", err)
	}
	var out []EndpointDevice
	for _, n := range names {
		if !strings.HasPrefix(n, "rpmsg") || strings.HasPrefix(n, "rpmsg_ctrl") {
			continue
		}
		dir := filepath.Join(root, n)
		name, err := readAttr(filepath.Join(dir, "name"))
		if err != nil {
			continue // not an endpoint device
		}
		src, err1 := readAddr(filepath.Join(dir, "src"))
		dst, err2 := readAddr(filepath.Join(dir, "dst"))
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, EndpointDevice{Dev: n, Name: name, Src: src, Dst: dst})
	}
	return out, nil
}

func readAddr(path string) (uint32, error) {
	v, err := readAttr(path)
	if err != nil {
		return 0, err
	}
	return ParseAddr(v)
}

// ParseAddr parses an rpmsg address attribute. rpmsg_char prints addresses
// with %d, so RPMsgAddrAny reads "-1".
func ParseAddr(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseInt(s, 0, 64); err == nil && v >= -1<<31 && v <= 1<<32-1 {
		return uint32(v), nil
	}
	return 0, fmt.Errorf("rproc: rpmsg address %q is not a 32-bit number", s)
}

// Endpoint is an open rpmsg_char endpoint (/dev/rpmsgM): each write sends
// one message and each read receives one.
type Endpoint struct {
	fd   int
	path string
}

// OpenEndpoint opens an endpoint device.
func OpenEndpoint(path string) (*Endpoint, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rproc: %w", &pathError{Op: "open", Path: path, Err: err})
	}
	return &Endpoint{fd: fd, path: path}, nil
}

// NewEndpoint wraps a descriptor that is already open on an endpoint (one
// handed over by a privileged helper, say); name is used in errors.
func NewEndpoint(fd int, name string) *Endpoint { return &Endpoint{fd: fd, path: name} }

// Send sends one message of at most RPMsgMaxPayload bytes.
func (e *Endpoint) Send(msg []byte) error {
	switch {
	case len(msg) == 0:
		return fmt.Errorf("rproc: send on %s: empty message", e.path)
	case len(msg) > RPMsgMaxPayload:
		return fmt.Errorf("rproc: send on %s: message of %d bytes, an rpmsg buffer carries at most %d", e.path, len(msg), RPMsgMaxPayload)
	}
	return writeAll(e.fd, e.path, msg)
}

// Receive reads one message into buf and returns its length. buf should
// hold RPMsgMaxPayload bytes: the kernel truncates a longer message.
func (e *Endpoint) Receive(buf []byte) (int, error) {
	for {
		n, err := unix.Read(e.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("rproc: %w", &pathError{Op: "receive on", Path: e.path, Err: err})
		}
		return n, nil
	}
}

// Destroy destroys the endpoint (RPMSG_DESTROY_EPT_IOCTL); its device node
// goes away. Close the descriptor afterwards.
func (e *Endpoint) Destroy() error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(e.fd), uintptr(RPMsgDestroyEptIoctl), 0)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return ioctlError("RPMSG_DESTROY_EPT_IOCTL", e.path, errno)
	}
}

// Close closes the endpoint's descriptor.
func (e *Endpoint) Close() error { return unix.Close(e.fd) }
