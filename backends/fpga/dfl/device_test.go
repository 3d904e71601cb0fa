package dfl

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// notADevice is a regular file: every DFL ioctl on it fails with ENOTTY,
// which proves the call reached the kernel with the request it names.
func notADevice(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "dfl-port.0")
	require.NoError(t, os.WriteFile(p, make([]byte, 4096), 0o600))
	return p
}

func TestOpenChecksTheDriver(t *testing.T) {
	_, err := OpenPort(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	p := notADevice(t)
	_, err = OpenPort(p)
	assert.ErrorIs(t, err, unix.ENOTTY)
	assert.ErrorContains(t, err, "DFL_FPGA_GET_API_VERSION on "+p)
	_, err = OpenFME(p)
	assert.ErrorIs(t, err, unix.ENOTTY)
}

func TestPortIoctlsReachTheKernel(t *testing.T) {
	p := notADevice(t)
	port, err := openPortUnchecked(p)
	require.NoError(t, err)
	defer port.Close()
	calls := map[string]error{
		"DFL_FPGA_PORT_RESET":            port.Reset(),
		"DFL_FPGA_PORT_GET_INFO":         func() error { _, err := port.Info(); return err }(),
		"DFL_FPGA_PORT_GET_REGION_INFO":  func() error { _, err := port.MapMMIO(); return err }(),
		"DFL_FPGA_PORT_DMA_UNMAP":        port.DMAUnmap(0x1000),
		"DFL_FPGA_PORT_ERR_GET_IRQ_NUM":  func() error { _, err := port.ErrIRQs(); return err }(),
		"DFL_FPGA_PORT_UINT_GET_IRQ_NUM": func() error { _, err := port.UserIRQs(); return err }(),
	}
	fd, err := NewEventfd()
	require.NoError(t, err)
	defer unix.Close(fd)
	calls["DFL_FPGA_PORT_ERR_SET_IRQ"] = port.SetErrIRQ(0, []int{fd})
	calls["DFL_FPGA_PORT_UINT_SET_IRQ"] = port.SetUserIRQ(0, []int{fd, -1})
	buf, err := AllocDMABuffer(100)
	require.NoError(t, err)
	defer unix.Munmap(buf)
	assert.Len(t, buf, os.Getpagesize())
	calls["DFL_FPGA_PORT_DMA_MAP"] = func() error { _, err := port.DMAMap(buf); return err }()
	for name, err := range calls {
		assert.ErrorIs(t, err, unix.ENOTTY, name)
		assert.ErrorContains(t, err, name+" on "+p)
	}
	_, err = port.DMAMap(buf[1:])
	assert.ErrorContains(t, err, "page aligned")
	_, err = AllocDMABuffer(0)
	assert.Error(t, err)
}

func TestMMIOMapping(t *testing.T) {
	port, err := openPortUnchecked(notADevice(t))
	require.NoError(t, err)
	defer port.Close()
	_, err = port.mmap(RegionInfo{Flags: RegionRead, Size: 4096})
	assert.ErrorContains(t, err, "cannot be mapped")
	_, err = port.mmap(RegionInfo{Flags: RegionMmap | RegionRead, Size: 0})
	assert.ErrorContains(t, err, "size 0")
	// A regular file maps like a device region would.
	b, err := port.mmap(RegionInfo{Flags: RegionMmap | RegionRead | RegionWrite, Size: 4096})
	require.NoError(t, err)
	b[0] = 0x5a
	require.NoError(t, unix.Munmap(b))
}

// The interface check comes before the PR ioctl: a mismatched GBS never
// reaches the kernel; a matching one does (ENOTTY from the regular file).
func TestPortPRChecksTheInterfaceFirst(t *testing.T) {
	p := notADevice(t)
	fme, err := openFMEUnchecked(p)
	require.NoError(t, err)
	defer fme.Close()
	region := mustGUID(t, compatHex)
	gbs, err := ParseGBS(EncodeGBS(region, mustGUID(t, afuHex), "crc32", []byte{1, 2, 3}))
	require.NoError(t, err)
	other := region
	other[0] ^= 1

	err = fme.PortPR(0, gbs, other)
	assert.ErrorIs(t, err, ErrInterfaceMismatch)
	assert.False(t, errors.Is(err, unix.ENOTTY), "refused before the ioctl")
	assert.ErrorContains(t, err, `bitstream "crc32" is built for interface f3c99413`)
	assert.ErrorContains(t, fme.PortPR(0, gbs, GUID{}), "interface id is unknown")
	assert.ErrorContains(t, fme.PortPR(0, nil, region), "no bitstream")

	err = fme.PortPR(0, gbs, region)
	assert.ErrorIs(t, err, unix.ENOTTY)
	assert.ErrorContains(t, err, "DFL_FPGA_FME_PORT_PR")
	for name, err := range map[string]error{
		"DFL_FPGA_FME_PORT_RELEASE":    fme.ReleasePort(0),
		"DFL_FPGA_FME_PORT_ASSIGN":     fme.AssignPort(0),
		"DFL_FPGA_FME_ERR_GET_IRQ_NUM": func() error { _, err := fme.ErrIRQs(); return err }(),
		"DFL_FPGA_FME_ERR_SET_IRQ":     fme.SetErrIRQ(0, []int{-1}),
	} {
		assert.ErrorIs(t, err, unix.ENOTTY, name)
		assert.ErrorContains(t, err, name)
	}
}
