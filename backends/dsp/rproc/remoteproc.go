//go:build linux

package rproc

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultRemoteprocRoot is where the kernel lists remote processors.
const DefaultRemoteprocRoot = "/sys/class/remoteproc"

// State is a remote processor's state as its sysfs "state" attribute
// reads (the kernel's rproc_state_string).
type State string

const (
	StateOffline   State = "offline"
	StateSuspended State = "suspended"
	StateRunning   State = "running"
	StateCrashed   State = "crashed"
	StateDeleted   State = "deleted"
	StateAttached  State = "attached"
	StateDetached  State = "detached"
	StateInvalid   State = "invalid"
)

// ParseState parses the content of a "state" attribute.
func ParseState(s string) (State, error) {
	s = strings.TrimSuffix(s, "\n")
	switch st := State(s); st {
	case StateOffline, StateSuspended, StateRunning, StateCrashed, StateDeleted, StateAttached, StateDetached, StateInvalid:
		return st, nil
	}
	return "", fmt.Errorf("rproc: unknown remoteproc state %q (want offline, suspended, running, crashed, deleted, attached, detached or invalid)", s)
}

// Remoteproc is one remote processor under /sys/class/remoteproc.
type Remoteproc struct {
	// Name is the device's name in the class, e.g. "remoteproc0", and
	// Index its number (the N of /dev/remoteprocN).
	Name  string
	Index int
	dir   string
}

// ListRemoteprocs returns the remote processors under root (normally
// DefaultRemoteprocRoot), ordered by index.
func ListRemoteprocs(root string) ([]*Remoteproc, error) {
	names, err := readDirNames(root)
	if err != nil {
		return nil, fmt.Errorf("rproc: listing remote processors: %w", err)
	}
	var out []*Remoteproc
	for _, n := range names {
		if r, err := OpenRemoteproc(root, n); err == nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// OpenRemoteproc returns the remote processor called name ("remoteprocN")
// under root.
func OpenRemoteproc(root, name string) (*Remoteproc, error) {
	idx, ok := strings.CutPrefix(name, "remoteproc")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil || n < 0 || strconv.Itoa(n) != idx {
		return nil, fmt.Errorf("rproc: %q is not a remote processor name (want remoteprocN)", name)
	}
	dir := filepath.Join(root, name)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "state"), &st); err != nil {
		return nil, fmt.Errorf("rproc: %s has no state attribute: %w", dir, err)
	}
	return &Remoteproc{Name: name, Index: n, dir: dir}, nil
}

// Dir is the processor's sysfs directory.
func (r *Remoteproc) Dir() string { return r.dir }

// CharDevice is the path of its character device under devRoot ("/dev").
func (r *Remoteproc) CharDevice(devRoot string) string { return filepath.Join(devRoot, r.Name) }

func (r *Remoteproc) attr(name string) (string, error) {
	v, err := readAttr(filepath.Join(r.dir, name))
	if err != nil {
		return "", fmt.Errorf("rproc: %s: %w", r.Name, err)
	}
	return v, nil
}

func (r *Remoteproc) set(name, value, hint string) error {
	err := writeAttr(filepath.Join(r.dir, name), value)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EBUSY) && hint != "" {
		return fmt.Errorf("rproc: %s: %w: %s", r.Name, err, hint)
	}
	return fmt.Errorf("rproc: %s: %w", r.Name, err)
}

// Model is the processor's "name" attribute (e.g. "cdsp", "adsp").
func (r *Remoteproc) Model() (string, error) { return r.attr("name") }

// State reads the processor's state.
func (r *Remoteproc) State() (State, error) {
	v, err := r.attr("state")
	if err != nil {
		return "", err
	}
	st, err := ParseState(v)
	if err != nil {
		return "", fmt.Errorf("rproc: %s: %w", r.Name, err)
	}
	return st, nil
}

// Firmware is the name of the firmware the processor boots.
func (r *Remoteproc) Firmware() (string, error) { return r.attr("firmware") }

// SetFirmware chooses the firmware (a file name under the firmware search
// path). The kernel accepts it only while the processor is offline.
func (r *Remoteproc) SetFirmware(name string) error {
	if err := checkFirmwareName(name); err != nil {
		return fmt.Errorf("rproc: %s: %w", r.Name, err)
	}
	return r.set("firmware", name, "the processor is not offline; Stop it first")
}

func checkFirmwareName(name string) error {
	switch {
	case name == "":
		return errors.New("empty firmware name")
	case len(name) > 255:
		return fmt.Errorf("firmware name of %d bytes: at most 255", len(name))
	case strings.ContainsAny(name, "\n\x00"):
		return fmt.Errorf("firmware name %q holds a newline or NUL", name)
	case name[0] == '/' || strings.Contains(name, ".."):
		return fmt.Errorf("firmware name %q must be relative to the firmware search path, without ..", name)
	}
	return nil
}

// Start boots the processor with its firmware.
func (r *Remoteproc) Start() error {
	return r.set("state", "start", "the processor is already running or booting")
}

// Stop shuts the processor down.
func (r *Remoteproc) Stop() error { return r.set("state", "stop", "") }

// Detach leaves a processor that was attached to (booted by someone else)
// running without Linux.
func (r *Remoteproc) Detach() error { return r.set("state", "detach", "") }

// Recovery says whether the kernel restarts the processor after a crash.
func (r *Remoteproc) Recovery() (bool, error) {
	v, err := r.attr("recovery")
	if err != nil {
		return false, err
	}
	switch v {
	case "enabled":
		return true, nil
	case "disabled":
		return false, nil
	}
	return false, fmt.Errorf("rproc: %s: recovery reads %q, want enabled or disabled", r.Name, v)
}

// SetRecovery enables or disables recovery after a crash.
func (r *Remoteproc) SetRecovery(on bool) error {
	v := "disabled"
	if on {
		v = "enabled"
	}
	return r.set("recovery", v, "")
}

// Recover restarts a crashed processor now (with recovery disabled, the
// kernel waits for this).
func (r *Remoteproc) Recover() error { return r.set("recovery", "recover", "") }

// Coredump modes of the "coredump" attribute.
const (
	CoredumpDisabled = "disabled"
	CoredumpEnabled  = "enabled"
	CoredumpInline   = "inline"
)

// Coredump reads the coredump mode.
func (r *Remoteproc) Coredump() (string, error) { return r.attr("coredump") }

// SetCoredump sets the coredump mode.
func (r *Remoteproc) SetCoredump(mode string) error {
	switch mode {
	case CoredumpDisabled, CoredumpEnabled, CoredumpInline:
	default:
		return fmt.Errorf("rproc: %s: coredump mode %q: want disabled, enabled or inline", r.Name, mode)
	}
	return r.set("coredump", mode, "")
}

// Cdev is an open /dev/remoteprocN: the character device that starts and
// stops the processor and can tie its life to the file descriptor.
type Cdev struct {
	fd   int
	path string
}

// OpenCdev opens a remoteproc character device.
func OpenCdev(path string) (*Cdev, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rproc: %w", &pathError{Op: "open", Path: path, Err: err})
	}
	return &Cdev{fd: fd, path: path}, nil
}

// SetShutdownOnRelease makes the kernel stop the processor when the
// descriptor is closed (the daemon dying takes the DSP down with it) or not
// (RPROC_SET_SHUTDOWN_ON_RELEASE).
func (c *Cdev) SetShutdownOnRelease(on bool) error {
	v := int32(0)
	if on {
		v = 1
	}
	if err := ioctlPtr(c.fd, RProcSetShutdownOnRelease, unsafe.Pointer(&v)); err != nil {
		return ioctlError("RPROC_SET_SHUTDOWN_ON_RELEASE", c.path, err)
	}
	return nil
}

// ShutdownOnRelease reads the setting (RPROC_GET_SHUTDOWN_ON_RELEASE).
func (c *Cdev) ShutdownOnRelease() (bool, error) {
	var v int32
	if err := ioctlPtr(c.fd, RProcGetShutdownOnRelease, unsafe.Pointer(&v)); err != nil {
		return false, ioctlError("RPROC_GET_SHUTDOWN_ON_RELEASE", c.path, err)
	}
	return v != 0, nil
}

// Start, Stop and Detach write the command to the character device, as
// the sysfs state attribute takes it.
func (c *Cdev) Start() error  { return c.command("start") }
func (c *Cdev) Stop() error   { return c.command("stop") }
func (c *Cdev) Detach() error { return c.command("detach") }

func (c *Cdev) command(cmd string) error {
	if err := writeAll(c.fd, c.path, []byte(cmd)); err != nil {
		return fmt.Errorf("rproc: %s: %w", cmd, err)
	}
	return nil
}

// Close releases the descriptor (and, with shutdown-on-release, stops the
// processor).
func (c *Cdev) Close() error { return unix.Close(c.fd) }

// readDirNames lists a directory through getdents.
func readDirNames(dir string) ([]string, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &pathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &pathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	sort.Strings(names)
	return names, nil
}
