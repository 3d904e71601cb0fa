package vfiouser

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// conn frames vfio-user messages on a connected AF_UNIX stream socket and
// collects the file descriptors (SCM_RIGHTS) that arrive with them.
//
// A message is read as exactly its header and then exactly its payload, so
// a read never runs into the next message and every descriptor the kernel
// hands over belongs to the message being read: the kernel attaches a
// sendmsg's descriptors to its first byte, and a recvmsg returns them with
// the read that consumes that byte.
type conn struct {
	uc     *net.UnixConn
	maxFDs int

	hdr     [HeaderSize]byte
	payload []byte // grown up to the message limit, reused
	oob     []byte // room for maxFDs+1 descriptors: one more shows an excess
	fds     []int
	ctrunc  bool

	wmu sync.Mutex // one writer at a time: replies and server-initiated requests
}

func newConn(uc *net.UnixConn, maxFDs int) *conn {
	return &conn{uc: uc, maxFDs: maxFDs, oob: make([]byte, unix.CmsgSpace(4*(maxFDs+1)))}
}

// errFraming is a stream the server cannot stay in step with.
var errFraming = errors.New("vfio-user: message framing lost")

// read fills b exactly, collecting descriptors.
func (c *conn) readFull(b []byte) error {
	for n := 0; n < len(b); {
		m, oobn, flags, _, err := c.uc.ReadMsgUnix(b[n:], c.oob)
		if oobn > 0 {
			c.collectFDs(c.oob[:oobn])
		}
		if flags&unix.MSG_CTRUNC != 0 {
			c.ctrunc = true
		}
		n += m
		if err != nil {
			if errors.Is(err, io.EOF) && n > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if m == 0 {
			return io.EOF
		}
	}
	return nil
}

func (c *conn) collectFDs(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		c.ctrunc = true
		return
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		c.fds = append(c.fds, fds...)
	}
}

// closeFDs closes every descriptor not yet taken over.
func closeFDs(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

// readMessage reads one message. It returns the decoded message and the
// descriptors that came with it (the caller owns them). A *ProtocolError
// means the message was read whole (the stream is still in step) but is
// refused; errFraming or an I/O error means the connection is done.
func (c *conn) readMessage(maxSize uint32) (Message, []int, error) {
	c.fds, c.ctrunc = c.fds[:0], false
	if err := c.readFull(c.hdr[:]); err != nil {
		closeFDs(c.fds)
		return Message{}, nil, err
	}
	h, herr := DecodeHeader(c.hdr[:], maxSize)
	if herr != nil && h.Size < HeaderSize {
		closeFDs(c.fds)
		return Message{Header: h}, nil, fmt.Errorf("%w: %v", errFraming, herr)
	}
	n := int(h.Size) - HeaderSize
	if herr != nil && h.Size > maxSize {
		// Discard the oversized payload in bounded pieces: the limit was
		// checked before anything was allocated, and the stream stays in
		// step for the next message.
		if err := c.discard(n); err != nil {
			closeFDs(c.fds)
			return Message{Header: h}, nil, err
		}
		closeFDs(c.fds)
		return Message{Header: h}, nil, herr
	}
	if cap(c.payload) < n {
		c.payload = make([]byte, n)
	}
	p := c.payload[:n]
	if err := c.readFull(p); err != nil {
		closeFDs(c.fds)
		return Message{Header: h}, nil, err
	}
	m := Message{Header: h, Payload: p}
	if herr != nil {
		closeFDs(c.fds)
		return m, nil, herr
	}
	if c.ctrunc || len(c.fds) > c.maxFDs {
		got := len(c.fds)
		closeFDs(c.fds)
		reason := fmt.Sprintf("%d file descriptors arrived, at most %d are accepted (max_msg_fds)", got, c.maxFDs)
		if c.ctrunc {
			reason = fmt.Sprintf("more than %d file descriptors were sent; at most %d are accepted (max_msg_fds)", c.maxFDs, c.maxFDs)
		}
		return m, nil, &ProtocolError{Command: h.Command, ID: h.ID, Errno: syscall.EINVAL, Reason: reason}
	}
	if err := checkPayload(m); err != nil {
		closeFDs(c.fds)
		return m, nil, err
	}
	fds := append([]int(nil), c.fds...)
	if len(c.fds) == 0 {
		fds = nil
	}
	return m, fds, nil
}

func (c *conn) discard(n int) error {
	var buf [4096]byte
	for n > 0 {
		k := min(n, len(buf))
		if err := c.readFull(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// write sends one whole message in one write.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.uc.Write(b)
	return err
}
