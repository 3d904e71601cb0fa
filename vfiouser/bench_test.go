package vfiouser

import (
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/internal/benchref"
	"github.com/coprocd/coprocd/spec"
)

// BenchmarkBAR0ReadRoundTrip measures one BAR0 register read (8 bytes, CAPS)
// over the socket: the client's REGION_READ, the server's decode, the
// mediator's Access, the reply. The baseline is the floor: a raw ping-pong
// over a UNIX socket of the same sizes (32-byte request, 40-byte reply)
// with an echo server that does nothing but read and write, measured in the
// same run. The client code is the same for both.
func BenchmarkBAR0ReadRoundTrip(b *testing.B) {
	r := newTestRig(b, Options{})
	c := r.connect()
	req := regionAccess(RegionBAR0, spec.RegCaps, 8, nil)

	// The floor: an echo server on its own socket.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: r.path + ".pingpong", Net: "unix"})
	require.NoError(b, err)
	defer l.Close()
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		var in [HeaderSize + regionAccessSize]byte
		out := make([]byte, HeaderSize+regionAccessSize+8)
		for {
			if _, err := io.ReadFull(conn, in[:]); err != nil {
				return
			}
			copy(out, in[:])
			binary.LittleEndian.PutUint32(out[4:], uint32(len(out)))
			if _, err := conn.Write(out); err != nil {
				return
			}
		}
	}()
	pc := r.dial()
	pc.uc.Close()
	raw, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: r.path + ".pingpong", Net: "unix"})
	require.NoError(b, err)
	defer raw.Close()
	pc.uc, pc.br = raw, newReader(raw)

	roundTrip := func(cl *client) {
		cl.send(uint16(CmdRegionRead), FlagTypeCommand, req)
		m, err := cl.recv()
		if err != nil || len(m.payload) != regionAccessSize+8 || m.isError() {
			b.Fatalf("round trip: %v, %d bytes, error flag %v", err, len(m.payload), m.isError())
		}
	}
	benchref.Compare(b,
		func(n int) {
			for range n {
				roundTrip(pc)
			}
		},
		func(n int) {
			for range n {
				roundTrip(c)
			}
		})
}
