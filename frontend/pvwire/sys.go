package pvwire

import (
	"errors"
	"fmt"
	"net"
	"os"
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

// Sleeper waits on an eventfd through the Go runtime's network poller
// when the wait is long, instead of a blocking ppoll: the waiting
// goroutine parks, and no thread sits in a system call for the length of
// the sleep.
//
// A thread in a system call longer than 10 ms has its P retaken by the
// runtime's sysmon, and every retake sets sysmon back to polling every
// 20 µs for a millisecond or more: a guest sleeping on its interrupt
// 20 ms at a time, and a session on its doorbell 100 ms at a time, kept
// sysmon waking some 3,000 times a second, most of what a process waiting
// on a job cost (BenchmarkBusySessionCPU, package pvhost). And a blocked
// ppoll holds an OS thread per sleeping session, where the poller needs
// none.
//
// Short waits stay in ppoll: a wake through the poller costs a second
// thread's wake-up, some 10–20 µs on a small VM, which a register read's
// round trip must not pay; and the eventfd is registered with the poller
// only for a long wait's remainder (every kick of a registered eventfd
// wakes the poller's thread too, which cost the short waits as much).
//
// The poller needs the file in non-blocking mode, and the mode belongs to
// the open file, which the peer shares: a Sleeper is for the eventfd this
// side only reads and the peer only writes (the host's doorbell, the
// guest's interrupt); Kick handles EAGAIN already.
type Sleeper struct {
	fd int
}

// sleeperRawPhase is how long a wait sleeps in ppoll before it parks on
// the poller: under the 10 ms after which sysmon retakes the P of a thread
// in a system call while other Ps are idle, and long against a round trip
// and against the gap between the calls of a real-time DSP client (a
// 48 kHz audio stack calls every 5 ms or so: with 2 ms here, the session's
// wake-up for each call went through the poller, and
// BenchmarkDSPCallThroughDaemon's 2.8 ms call, package daemon, took a few
// percent longer). Only a wait that outlasts it parks: an idle session,
// a guest waiting on a long job.
const sleeperRawPhase = 8 * time.Millisecond

// NewSleeper sets fd non-blocking and returns a Sleeper on it; fd stays
// the caller's, to kick, pass on and close.
func NewSleeper(fd int) (*Sleeper, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("pv: eventfd %d non-blocking: %w", fd, err)
	}
	return &Sleeper{fd: fd}, nil
}

// Wait is Wait's contract: it sleeps until the eventfd is kicked or
// timeout passes (negative: for ever), resets the counter and reports
// whether it was kicked.
func (s *Sleeper) Wait(timeout time.Duration) (bool, error) {
	if timeout >= 0 && timeout <= sleeperRawPhase {
		return Wait(s.fd, timeout)
	}
	start := time.Now()
	if kicked, err := Wait(s.fd, sleeperRawPhase); kicked || err != nil {
		return kicked, err
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = start.Add(timeout)
	}
	return s.park(deadline)
}

// Park is Wait without the ppoll phase, for a wait expected to be long
// (an idle session whose last sleep ran to its timeout): a thread that sat
// in ppoll each time would, with many such sleepers, keep the runtime's
// sysmon retaking Ps (BenchmarkIdleSessionsCPU, package pvhost).
func (s *Sleeper) Park(timeout time.Duration) (bool, error) {
	if timeout == 0 {
		return Wait(s.fd, 0)
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	return s.park(deadline)
}

// park sleeps on the poller until a kick or deadline (zero: none), on a
// duplicate of the eventfd registered for this wait only.
func (s *Sleeper) park(deadline time.Time) (bool, error) {
	dup, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("pv: duplicating eventfd %d: %w", s.fd, err)
	}
	f := os.NewFile(uintptr(dup), "eventfd")
	defer f.Close()
	if err := f.SetReadDeadline(deadline); err != nil {
		return false, fmt.Errorf("pv: eventfd %d: %w", s.fd, err)
	}
	var buf [8]byte
	_, err = f.Read(buf[:])
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, nil
	}
	return false, fmt.Errorf("pv: eventfd %d: %w", s.fd, err)
}

// Drain resets the counter without sleeping.
func (s *Sleeper) Drain() { Drain(s.fd) }
