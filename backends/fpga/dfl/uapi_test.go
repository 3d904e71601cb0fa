package dfl

import (
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/backends/fpga/dfl/internal/uapicheck"
)

// TestUAPIMatchesTheKernelHeader compares every ioctl number and struct
// layout of uapi.go with linux/fpga-dfl.h compiled by cgo (Debian's
// linux-libc-dev ships it).
func TestUAPIMatchesTheKernelHeader(t *testing.T) {
	if !uapicheck.Available {
		msg := "cgo is disabled (CGO_ENABLED=0): linux/fpga-dfl.h cannot be compiled"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	assert.Equal(t, APIVersion, uapicheck.APIVersion)

	ours := map[string]uintptr{}
	for n, name := range ioctlNames {
		ours[name] = n
	}
	theirs := uapicheck.Ioctls()
	require.Len(t, theirs, 16)
	require.Len(t, ours, len(theirs), "every ioctl of the header is restated")
	for name, v := range theirs {
		assert.Equal(t, v, uint64(ours[name]), "%s", name)
	}

	type field struct {
		c   string
		off uintptr
	}
	layouts := map[string]struct {
		size   uintptr
		fields []field
	}{
		"dfl_fpga_port_info": {unsafe.Sizeof(portInfo{}), []field{{"argsz", unsafe.Offsetof(portInfo{}.Argsz)}, {"flags", unsafe.Offsetof(portInfo{}.Flags)}, {"num_regions", unsafe.Offsetof(portInfo{}.NumRegions)}, {"num_umsgs", unsafe.Offsetof(portInfo{}.NumUmsgs)}}},
		"dfl_fpga_port_region_info": {unsafe.Sizeof(portRegionInfo{}), []field{{"argsz", unsafe.Offsetof(portRegionInfo{}.Argsz)}, {"flags", unsafe.Offsetof(portRegionInfo{}.Flags)}, {"index", unsafe.Offsetof(portRegionInfo{}.Index)},
			{"padding", unsafe.Offsetof(portRegionInfo{}.Padding)}, {"size", unsafe.Offsetof(portRegionInfo{}.Size)}, {"offset", unsafe.Offsetof(portRegionInfo{}.Offset)}}},
		"dfl_fpga_port_dma_map": {unsafe.Sizeof(portDMAMap{}), []field{{"argsz", unsafe.Offsetof(portDMAMap{}.Argsz)}, {"flags", unsafe.Offsetof(portDMAMap{}.Flags)}, {"user_addr", unsafe.Offsetof(portDMAMap{}.UserAddr)},
			{"length", unsafe.Offsetof(portDMAMap{}.Length)}, {"iova", unsafe.Offsetof(portDMAMap{}.IOVA)}}},
		"dfl_fpga_port_dma_unmap": {unsafe.Sizeof(portDMAUnmap{}), []field{{"argsz", unsafe.Offsetof(portDMAUnmap{}.Argsz)}, {"flags", unsafe.Offsetof(portDMAUnmap{}.Flags)}, {"iova", unsafe.Offsetof(portDMAUnmap{}.IOVA)}}},
		// evtfds[] is the flexible array right after the fixed part: setIRQ
		// writes the fds at word 2.
		"dfl_fpga_irq_set": {unsafe.Sizeof(irqSet{}), []field{{"start", unsafe.Offsetof(irqSet{}.Start)}, {"count", unsafe.Offsetof(irqSet{}.Count)}, {"evtfds", unsafe.Sizeof(irqSet{})}}},
		"dfl_fpga_fme_port_pr": {unsafe.Sizeof(fmePortPR{}), []field{{"argsz", unsafe.Offsetof(fmePortPR{}.Argsz)}, {"flags", unsafe.Offsetof(fmePortPR{}.Flags)}, {"port_id", unsafe.Offsetof(fmePortPR{}.PortID)},
			{"buffer_size", unsafe.Offsetof(fmePortPR{}.BufferSize)}, {"buffer_address", unsafe.Offsetof(fmePortPR{}.BufferAddress)}}},
	}
	cs := uapicheck.Structs()
	require.Len(t, cs, len(layouts))
	for name, want := range layouts {
		c, ok := cs[name]
		require.True(t, ok, name)
		assert.Equal(t, c.Size, want.size, "sizeof(struct %s)", name)
		require.Len(t, c.Offsets, len(want.fields), "fields of struct %s", name)
		for _, f := range want.fields {
			off, ok := c.Offsets[f.c]
			if assert.True(t, ok, "%s.%s", name, f.c) {
				assert.Equal(t, off, f.off, "offsetof(struct %s, %s)", name, f.c)
			}
		}
	}
}
