package vfiouser

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/spec"
)

func rawMessage(id, cmd uint16, flags uint32, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, id)
	b = binary.LittleEndian.AppendUint16(b, cmd)
	b = binary.LittleEndian.AppendUint32(b, uint32(16+len(payload)))
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, payload...)
}

func seedMessages() [][]byte {
	return [][]byte{
		rawMessage(1, uint16(CmdVersion), 0, append([]byte{0, 0, 1, 0}, `{"capabilities":{"max_msg_fds":1}}`+"\x00"...)),
		rawMessage(2, uint16(CmdDeviceGetInfo), 0, u32s(16, 0, 0, 0)),
		rawMessage(3, uint16(CmdDeviceGetRegion), 0, append(u32s(32, 0, RegionConfig, 0), make([]byte, 16)...)),
		rawMessage(4, uint16(CmdRegionRead), 0, regionAccess(RegionBAR0, spec.RegID, 4, nil)),
		rawMessage(5, uint16(CmdRegionWrite), 0, regionAccess(RegionBAR0, spec.RegDoorbell, 4, []byte{1, 0, 0, 0})),
		rawMessage(6, uint16(CmdRegionWrite), 0, regionAccess(RegionConfig, cfgBAR0, 4, []byte{0xff, 0xff, 0xff, 0xff})),
		rawMessage(7, uint16(CmdDMAMap), 0, dmaMapPayload(3, 0, 0x10000, 0x1000)),
		rawMessage(8, uint16(CmdDMAUnmap), 0, dmaUnmapPayload(0, 0x10000, 0x1000)),
		rawMessage(9, uint16(CmdDeviceSetIRQs), 0, irqSet(IRQSetDataBool|IRQSetActionUnmask, IRQIndexINTx, 0, 1, 1)),
		rawMessage(10, uint16(CmdDeviceGetIRQInfo), 0, u32s(16, 0, IRQIndexMSIX, 0)),
		rawMessage(11, uint16(CmdRegionRead), 0, regionAccess(RegionBAR1, msixPBAOffset, 8, nil)),
		rawMessage(12, uint16(CmdDeviceReset), FlagNoReply, nil),
		rawMessage(13, uint16(CmdDMAWrite), FlagTypeReply, make([]byte, 16)),
	}
}

// FuzzDecodeMessage: the decoder never panics, and what it accepts is
// consistent: the size field matches, a command's payload holds its fixed
// part.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b, 1<<16)
		if err != nil {
			var perr *ProtocolError
			require.True(t, errors.As(err, &perr), "errors are *ProtocolError: %v", err)
			require.NotZero(t, perr.Errno)
			require.NotEmpty(t, perr.Error())
			return
		}
		require.Equal(t, int(m.Header.Size), len(b))
		require.Equal(t, b[HeaderSize:], m.Payload)
		if !m.Header.IsReply() {
			require.GreaterOrEqual(t, len(m.Payload), minPayload[m.Header.Command])
		}
		var h [HeaderSize]byte
		m.Header.Put(h[:])
		require.Equal(t, b[:HeaderSize], h[:], "the header round-trips")
	})
}

// FuzzServeConn feeds a version handshake followed by arbitrary bytes to a
// live server over a socketpair: the server must not panic or hang, every
// message it sends must be a well-formed reply or DMA request, and the
// vcoproc must stay usable.
func FuzzServeConn(f *testing.F) {
	r := newTestRig(f, Options{MaxDataXferSize: 4096, MaxMsgFDs: 2})
	hello := seedMessages()[0]
	for _, m := range seedMessages()[1:] {
		f.Add(m)
	}
	f.Add(bytes.Join(seedMessages()[1:], nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		srvConn := fileConn(t, fds[0])
		cliConn := fileConn(t, fds[1])
		defer cliConn.Close()
		done := make(chan error, 1)
		go func() { done <- r.srv.ServeConn(srvConn) }()
		go func() {
			_, _ = cliConn.Write(append(append([]byte(nil), hello...), b...))
			_ = cliConn.CloseWrite()
		}()
		out, err := io.ReadAll(cliConn)
		if !errors.Is(err, unix.ECONNRESET) { // the server may close with bytes unread
			require.NoError(t, err)
		}
		<-done
		for len(out) > 0 {
			require.GreaterOrEqual(t, len(out), HeaderSize, "a partial header")
			size := binary.LittleEndian.Uint32(out[4:])
			require.GreaterOrEqual(t, size, uint32(HeaderSize))
			require.LessOrEqual(t, int(size), len(out), "a partial message")
			flags := binary.LittleEndian.Uint32(out[8:])
			if flags&FlagTypeMask == FlagTypeCommand {
				cmd := Command(binary.LittleEndian.Uint16(out[2:]))
				require.True(t, cmd == CmdDMARead || cmd == CmdDMAWrite, "server sent command %s", cmd)
			}
			if flags&FlagError != 0 {
				require.Equal(t, uint32(HeaderSize), size, "error replies are the header alone")
			}
			out = out[size:]
		}
		_, err = r.vc.Access(spec.RegID, 4, false, 0)
		require.NoError(t, err, "the vcoproc is still there")
	})
}

func fileConn(t *testing.T, fd int) *net.UnixConn {
	f := os.NewFile(uintptr(fd), "socketpair")
	c, err := net.FileConn(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return c.(*net.UnixConn)
}
