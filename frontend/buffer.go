package frontend

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/spec"
)

// firstIOVA is where Alloc starts placing buffers; each is followed by an
// unmapped guard page so that an overrun faults instead of landing in the
// next buffer.
const firstIOVA = 0x1000_0000

// Buffer is guest memory shared with the device: a sealed memfd mapped
// here and, by the host, into the domain's I/O address space at IOVA.
type Buffer struct {
	c     *Conn
	IOVA  uint64
	Bytes []byte // the guest's mapping; device writes land here
	Perm  uint8
}

// Alloc creates a buffer of at least size bytes (rounded up to pages),
// placed at the next free IOVA, that the device may access with perm
// (spec.PVPerm*).
func (c *Conn) Alloc(ctx context.Context, size uint64, perm uint8) (*Buffer, error) {
	size = (size + spec.PVPageBytes - 1) &^ (spec.PVPageBytes - 1)
	if size == 0 {
		size = spec.PVPageBytes
	}
	c.bufMu.Lock()
	iova := c.nextIOVA
	c.nextIOVA += size + spec.PVPageBytes
	c.bufMu.Unlock()
	return c.AllocAt(ctx, iova, size, perm)
}

// AllocAt creates a buffer of size bytes (a page multiple) at iova.
func (c *Conn) AllocAt(ctx context.Context, iova, size uint64, perm uint8) (*Buffer, error) {
	fd, err := pvwire.NewMemfd("coprocd-pv-buffer", size)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	mem, err := pvwire.Mmap(fd, 0, size)
	if err != nil {
		return nil, fmt.Errorf("frontend: mapping a %d-byte buffer: %w", size, err)
	}
	if _, err := c.sockCall(ctx, "MAP", &pvwire.Sock{Type: spec.PVMap, Map: pvwire.MapRequest{IOVA: iova, Size: size, Perm: uint32(perm)}}, fd); err != nil {
		_ = unix.Munmap(mem)
		return nil, err
	}
	b := &Buffer{c: c, IOVA: iova, Bytes: mem, Perm: perm}
	c.bufMu.Lock()
	defer c.bufMu.Unlock()
	if c.buffers == nil { // closed meanwhile
		_ = unix.Munmap(mem)
		return nil, ErrClosed
	}
	c.buffers[b] = true
	return b, nil
}

// Release unmaps the buffer from the device and then from this process.
func (b *Buffer) Release(ctx context.Context) error {
	if _, err := b.c.sockCall(ctx, "UNMAP", &pvwire.Sock{Type: spec.PVUnmap, IOVA: b.IOVA}); err != nil {
		return err
	}
	b.c.bufMu.Lock()
	defer b.c.bufMu.Unlock()
	if b.c.buffers[b] {
		delete(b.c.buffers, b)
		b.unmapLocal()
	}
	return nil
}

func (b *Buffer) unmapLocal() {
	if b.Bytes != nil {
		_ = unix.Munmap(b.Bytes)
		b.Bytes = nil
	}
}

// sockCall sends one socket request and waits for its SOCK_RESULT.
func (c *Conn) sockCall(ctx context.Context, op string, m *pvwire.Sock, fds ...int) (uint64, error) {
	c.sockMu.Lock()
	defer c.sockMu.Unlock()
	if err := c.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	m.Tag = c.nextTag
	c.nextTag++
	c.mu.Unlock()
	b, err := pvwire.EncodeSock(m)
	if err != nil {
		return 0, err
	}
	if err := pvwire.WritePacket(c.sock, b, fds...); err != nil {
		return 0, fmt.Errorf("frontend: %s: %w", op, err)
	}
	for {
		select {
		case r := <-c.sockReply:
			if r.Tag != m.Tag {
				continue // the answer to a request abandoned earlier
			}
			if r.Status != spec.PVStatusOK {
				return 0, &Error{Op: op, Status: r.Status, Text: r.Text}
			}
			return r.Value, nil
		case <-c.readerEnd:
			if err := c.Err(); err != nil {
				return 0, err
			}
			return 0, ErrClosed
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
