package pvwire

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/spec"
)

// WritePacket sends one packet, with fds as SCM_RIGHTS.
func WritePacket(c *net.UnixConn, b []byte, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, oobn, err := c.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return err
	}
	if n != len(b) || oobn != len(oob) {
		return fmt.Errorf("pv: short packet write: %d of %d bytes, %d of %d control bytes", n, len(b), oobn, len(oob))
	}
	return nil
}

// ReadPacket receives one packet into buf, and the fds that came with it.
// The caller owns the fds and must close every one it does not keep, also
// on error (ReadPacket closes them itself when it fails).
func ReadPacket(c *net.UnixConn, buf []byte) (int, []int, error) {
	oob := make([]byte, unix.CmsgSpace(4*spec.PVMaxFDs))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	var fds []int
	if oobn > 0 {
		msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
		if perr == nil {
			for _, m := range msgs {
				if got, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	fail := func(e error) (int, []int, error) {
		CloseFDs(fds)
		return 0, nil, e
	}
	if err != nil {
		return fail(err)
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return fail(fmt.Errorf("pv: packet carried more than %d file descriptors", spec.PVMaxFDs))
	}
	if flags&unix.MSG_TRUNC != 0 {
		return fail(fmt.Errorf("pv: packet is longer than %d bytes", len(buf)))
	}
	if n == 0 && oobn == 0 {
		return fail(errors.New("pv: peer closed the socket"))
	}
	return n, fds, nil
}

// CloseFDs closes fds, ignoring errors.
func CloseFDs(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// PeerCred returns the connected peer's credentials (SO_PEERCRED).
func PeerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return nil, err
	}
	return cred, cerr
}

var one = [8]byte{1}

// Kick adds one to an eventfd.
func Kick(fd int) error {
	for {
		_, err := unix.Write(fd, one[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN { // the counter is saturated: the peer is kicked already
			return nil
		}
		return err
	}
}

// Wait sleeps on an eventfd until it is kicked or timeout passes (a
// negative timeout waits for ever), and resets its counter. It reports
// whether it was kicked. It works whether or not the fd is in non-blocking
// mode: the peer shares the file and may change that.
func Wait(fd int, timeout time.Duration) (bool, error) {
	var buf [8]byte
	if timeout < 0 {
		for {
			_, err := unix.Read(fd, buf[:])
			switch err {
			case nil:
				return true, nil
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				if _, err := poll(fd, -1); err != nil {
					return false, err
				}
				continue
			}
			return false, err
		}
	}
	ready, err := poll(fd, timeout)
	if err != nil || !ready {
		return false, err
	}
	_, err = unix.Read(fd, buf[:])
	if err == unix.EAGAIN || err == unix.EINTR {
		return false, nil
	}
	return err == nil, err
}

// Drain resets an eventfd's counter without sleeping.
func Drain(fd int) {
	if ok, _ := poll(fd, 0); ok {
		var buf [8]byte
		_, _ = unix.Read(fd, buf[:])
	}
}

func poll(fd int, timeout time.Duration) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	for {
		n, err := unix.Ppoll(fds, ts, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
			return false, fmt.Errorf("pv: eventfd %d: poll revents 0x%x", fd, fds[0].Revents)
		}
		return n > 0, nil
	}
}

// Mmap maps size bytes of fd from offset, shared and read-write.
func Mmap(fd int, offset, size uint64) ([]byte, error) {
	if size == 0 || size > 1<<40 || offset > 1<<40 {
		return nil, fmt.Errorf("pv: mmap of %d bytes at %d is out of range", size, offset)
	}
	return unix.Mmap(fd, int64(offset), int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// NewMemfd creates a memfd of size bytes sealed against shrinking and
// growing (and against further sealing), so that the peer that maps it can
// never have its mapping cut short under it (which would be a SIGBUS).
func NewMemfd(name string, size uint64) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("pv: memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("pv: ftruncate memfd to %d bytes: %w", size, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("pv: sealing memfd: %w", err)
	}
	return fd, nil
}

// NewEventfd creates a blocking eventfd.
func NewEventfd() (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("pv: eventfd: %w", err)
	}
	return fd, nil
}
