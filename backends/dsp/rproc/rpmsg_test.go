//go:build linux

package rproc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestEndpointInfo(t *testing.T) {
	info, err := EndpointInfo("rpmsg-client-sample", 0x400, RPMsgAddrAny)
	require.NoError(t, err)
	assert.Equal(t, "rpmsg-client-sample", string(bytes.TrimRight(info.Name[:], "\x00")))
	assert.Zero(t, info.Name[31], "NUL-terminated")
	assert.EqualValues(t, 0x400, info.Src)
	assert.EqualValues(t, 0xFFFFFFFF, info.Dst)
	_, err = EndpointInfo("", 1, 1)
	assert.ErrorContains(t, err, "empty")
	_, err = EndpointInfo(string(bytes.Repeat([]byte{'a'}, 32)), 1, 1)
	assert.ErrorContains(t, err, "is 32 bytes: at most 31")
	_, err = EndpointInfo("a\x00b", 1, 1)
	assert.ErrorContains(t, err, "NUL")
}

// A socketpair of SOCK_SEQPACKET stands in for an rpmsg_char endpoint: it
// keeps message boundaries as rpmsg does.
func TestEndpointMessages(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	ours, remote := NewEndpoint(fds[0], "rpmsg0"), NewEndpoint(fds[1], "remote")
	defer ours.Close()
	defer remote.Close()

	require.NoError(t, ours.Send([]byte("hello")))
	require.NoError(t, ours.Send(bytes.Repeat([]byte{7}, RPMsgMaxPayload)))
	buf := make([]byte, RPMsgMaxPayload)
	n, err := remote.Receive(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
	n, err = remote.Receive(buf)
	require.NoError(t, err)
	assert.Equal(t, RPMsgMaxPayload, n)

	require.NoError(t, remote.Send([]byte{1, 2, 3}))
	n, err = ours.Receive(buf)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, buf[:n])

	assert.ErrorContains(t, ours.Send(make([]byte, RPMsgMaxPayload+1)), "message of 497 bytes, an rpmsg buffer carries at most 496")
	assert.ErrorContains(t, ours.Send(nil), "empty message")

	err = ours.Destroy()
	assert.ErrorIs(t, err, unix.ENOTTY)
	assert.ErrorContains(t, err, "RPMSG_DESTROY_EPT_IOCTL on rpmsg0")
}

func TestCtrlIoctlsOnAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rpmsg_ctrl0")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	c, err := OpenRPMsgCtrl(path)
	require.NoError(t, err)
	defer c.Close()
	err = c.CreateEndpoint("sample", RPMsgAddrAny, 0x35)
	assert.ErrorIs(t, err, unix.ENOTTY)
	assert.ErrorContains(t, err, `RPMSG_CREATE_EPT_IOCTL ("sample", src 0xffffffff, dst 0x35) on `+path)
	assert.ErrorIs(t, c.CreateDevice("sample", 1, 2), unix.ENOTTY)
	assert.ErrorIs(t, c.ReleaseDevice("sample", 1, 2), unix.ENOTTY)
	assert.ErrorContains(t, c.CreateEndpoint("", 1, 2), "empty rpmsg service name")
}

func TestFindEndpoints(t *testing.T) {
	root := t.TempDir()
	mk := func(dev string, attrs map[string]string) {
		require.NoError(t, os.MkdirAll(filepath.Join(root, dev), 0o755))
		for k, v := range attrs {
			require.NoError(t, os.WriteFile(filepath.Join(root, dev, k), []byte(v), 0o644))
		}
	}
	mk("rpmsg0", map[string]string{"name": "rpmsg-client-sample\n", "src": "1024\n", "dst": "-1\n"})
	mk("rpmsg1", map[string]string{"name": "fastrpc\n", "src": "0x401\n", "dst": "53\n"})
	mk("rpmsg_ctrl0", map[string]string{"name": "ctrl\n"})
	mk("rpmsg2", map[string]string{"name": "broken\n", "src": "x\n", "dst": "1\n"})
	mk("virtio0.rpmsg-client-sample.-1.1024", map[string]string{"name": "rpmsg-client-sample\n"})
	eps, err := FindEndpoints(root)
	require.NoError(t, err)
	assert.Equal(t, []EndpointDevice{
		{Dev: "rpmsg0", Name: "rpmsg-client-sample", Src: 1024, Dst: RPMsgAddrAny},
		{Dev: "rpmsg1", Name: "fastrpc", Src: 0x401, Dst: 53},
	}, eps)
	_, err = FindEndpoints(filepath.Join(root, "none"))
	assert.ErrorIs(t, err, unix.ENOENT)

	for in, want := range map[string]uint32{"0": 0, "-1": 0xFFFFFFFF, "4294967295": 0xFFFFFFFF, " 7\n": 7} {
		got, err := ParseAddr(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "4294967296", "-2147483649", "abc"} {
		_, err := ParseAddr(bad)
		assert.Error(t, err, bad)
	}
}
