//go:build linux

package rproc

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestScalars(t *testing.T) {
	// The kernel's own uses: FASTRPC_SCALARS(FASTRPC_RMID_INIT_CREATE = 6,
	// 4, 0) when it creates a process, FASTRPC_SCALARS(0, 1, 0) to attach.
	sc, err := Scalars{Method: 6, InBufs: 4}.Encode()
	require.NoError(t, err)
	assert.EqualValues(t, 0x06040000, sc)
	sc, err = Scalars{InBufs: 1}.Encode()
	require.NoError(t, err)
	assert.EqualValues(t, 0x00010000, sc)
	all := Scalars{Attr: 7, Method: 31, InBufs: 255, OutBufs: 255, InHandles: 15, OutHandles: 15}
	sc, err = all.Encode()
	require.NoError(t, err)
	assert.EqualValues(t, 0xffffffff, sc)
	assert.Equal(t, all, DecodeScalars(sc))
	assert.Equal(t, 540, all.Args())
	_, err = Scalars{Method: 32}.Encode()
	assert.ErrorContains(t, err, "method = 32 does not fit 5 bits (at most 31)")
	_, err = Scalars{OutBufs: 256}.Encode()
	assert.ErrorContains(t, err, "out buffers = 256")
}

func TestInvokeArgsLayout(t *testing.T) {
	in := [][]byte{[]byte("abc"), nil}
	out := [][]byte{make([]byte, 8)}
	args, pin := invokeArgs(in, out)
	defer pin.Unpin()
	require.Len(t, args, 3)
	assert.Equal(t, uint64(uintptr(unsafe.Pointer(&in[0][0]))), args[0].Ptr)
	assert.EqualValues(t, 3, args[0].Length)
	assert.Zero(t, args[1].Ptr)
	assert.Equal(t, uint64(uintptr(unsafe.Pointer(&out[0][0]))), args[2].Ptr)
	assert.EqualValues(t, 8, args[2].Length)
	for _, a := range args {
		assert.EqualValues(t, -1, a.Fd, "plain buffers, no dma-buf")
	}
}

func TestFastRPCNodes(t *testing.T) {
	dev := t.TempDir()
	for _, n := range []string{"fastrpc-cdsp", "fastrpc-adsp-secure", "fastrpc-", "null", "fastrpc-CDSP"} {
		require.NoError(t, os.WriteFile(filepath.Join(dev, n), nil, 0o600))
	}
	nodes, err := ListFastRPCNodes(dev)
	require.NoError(t, err)
	assert.Equal(t, []FastRPCNode{
		{Name: "fastrpc-adsp-secure", Domain: "adsp", Secure: true},
		{Name: "fastrpc-cdsp", Domain: "cdsp"},
	}, nodes)
	_, err = ParseFastRPCNode("fastrpc--secure")
	assert.ErrorContains(t, err, "names no domain")
	_, err = ParseFastRPCNode("rpmsg0")
	assert.ErrorContains(t, err, "not a FastRPC node")
}

// On a node that is not a FastRPC device every ioctl fails with ENOTTY,
// named; arguments the kernel would refuse are refused before the ioctl.
func TestFastRPCIoctlsOnAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fastrpc-cdsp")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	f, err := OpenFastRPC(path)
	require.NoError(t, err)
	defer f.Close()

	notty := func(err error, name string) {
		t.Helper()
		assert.ErrorIs(t, err, unix.ENOTTY, name)
		assert.ErrorContains(t, err, name+" on "+path, name)
	}
	notty(f.InitAttach(), "FASTRPC_IOCTL_INIT_ATTACH")
	notty(f.InitAttachSensors(), "FASTRPC_IOCTL_INIT_ATTACH_SNS")
	notty(f.InitCreate([]byte("\x7fELF"), FastRPCModeUnsignedModule), "FASTRPC_IOCTL_INIT_CREATE")
	notty(f.Invoke(3, 1, [][]byte{{1, 2}}, [][]byte{make([]byte, 4)}), "FASTRPC_IOCTL_INVOKE (handle 3, method 1)")
	_, err = f.AllocDMABuf(4096, 0)
	notty(err, "FASTRPC_IOCTL_ALLOC_DMA_BUFF")
	_, err = f.Mmap(5, 0, 0, 4096)
	notty(err, "FASTRPC_IOCTL_MMAP")
	notty(f.Munmap(0x1000, 4096), "FASTRPC_IOCTL_MUNMAP")
	_, err = f.MemMap(5, 0, FastRPCMapFD, 0, 4096, FastRPCAttrSecureMap)
	notty(err, "FASTRPC_IOCTL_MEM_MAP")
	notty(f.MemUnmap(5, 0x1000, 4096), "FASTRPC_IOCTL_MEM_UNMAP")
	_, err = f.Capability(3, 1)
	notty(err, "FASTRPC_IOCTL_GET_DSP_INFO")

	assert.ErrorContains(t, f.InitCreate(nil, 0), "empty ELF image")
	assert.ErrorContains(t, f.InitCreate([]byte{1}, 1<<7), "unknown bits")
	assert.ErrorContains(t, f.Invoke(3, 32, nil, nil), "method = 32")
	assert.ErrorContains(t, f.Invoke(3, 1, make([][]byte, 256), nil), "in buffers = 256")
	_, err = f.AllocDMABuf(0, 0)
	assert.ErrorContains(t, err, "size 0")
	_, err = f.Mmap(-1, 0, 0, 4096)
	assert.ErrorContains(t, err, "fd -1 size 4096")
	_, err = f.MemMap(5, 0, FastRPCMapMax, 0, 1, 0)
	assert.ErrorContains(t, err, "flags 17")
	_, err = OpenFastRPC(filepath.Join(t.TempDir(), "fastrpc-none"))
	assert.ErrorIs(t, err, unix.ENOENT)
}
