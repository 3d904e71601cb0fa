package vfiouser

import (
	"encoding/binary"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/coprocd/coprocd/mediator"
	"github.com/coprocd/coprocd/spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionNegotiation(t *testing.T) {
	r := newTestRig(t, Options{MaxMsgFDs: 4})
	c := r.dial()
	// Unknown keys, inside and outside "capabilities", are tolerated; a
	// proposed migration capability is not granted.
	major, minor, reply := c.negotiate(`{"capabilities":{"max_msg_fds":8,"pgsizes":4096,"migration":{"pgsize":4096},"frobnicate":[1,2]},"vendor":"x"}`)
	assert.Equal(t, uint16(0), major)
	assert.Equal(t, uint16(0), minor, "the minor is never above the proposed one")
	caps, ok := reply["capabilities"].(map[string]any)
	require.True(t, ok, "reply has capabilities: %v", reply)
	assert.Equal(t, 4.0, caps["max_msg_fds"])
	assert.Equal(t, float64(DefaultMaxDataXferSize), caps["max_data_xfer_size"])
	assert.Equal(t, 4096.0, caps["pgsizes"])
	assert.NotContains(t, caps, "migration")
	assert.NotContains(t, caps, "twin_socket")

	// A second VERSION is refused; the connection goes on.
	p := append(binary.LittleEndian.AppendUint32(nil, 0), 0)
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdVersion), p))
	assert.Equal(t, uint32(1<<1|1<<0), binary.LittleEndian.Uint32(c.ok(uint16(CmdDeviceGetInfo), u32s(16, 0, 0, 0))[4:]))
}

func TestVersionHigherMinorIsLowered(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.dial()
	reply := c.ok(uint16(CmdVersion), []byte{0, 0, 7, 0})
	assert.Equal(t, uint16(0), binary.LittleEndian.Uint16(reply))
	assert.Equal(t, uint16(VersionMinor), binary.LittleEndian.Uint16(reply[2:]))
}

// expectClosed asserts that the server closed the connection.
func expectClosed(t *testing.T, c *client) {
	t.Helper()
	_, err := c.recv()
	assert.ErrorIs(t, err, io.EOF, "the server closes the connection")
}

func TestBadVersionIsRefusedAndClosed(t *testing.T) {
	r := newTestRig(t, Options{})
	for name, tc := range map[string]struct {
		payload []byte
		errno   syscall.Errno
	}{
		"major 1":           {[]byte{1, 0, 0, 0}, syscall.ENOTSUP},
		"bad JSON":          {append([]byte{0, 0, 0, 0}, `{"capabilities":`...), syscall.EINVAL},
		"no 4k pages":       {append([]byte{0, 0, 0, 0}, `{"capabilities":{"pgsizes":8192}}`...), syscall.ENOTSUP},
		"zero xfer size":    {append([]byte{0, 0, 0, 0}, `{"capabilities":{"max_data_xfer_size":0}}`...), syscall.EINVAL},
		"wrong JSON type":   {append([]byte{0, 0, 0, 0}, `{"capabilities":{"max_msg_fds":"many"}}`...), syscall.EINVAL},
		"truncated version": {[]byte{0, 0}, syscall.EINVAL},
	} {
		t.Run(name, func(t *testing.T) {
			c := r.dial()
			assert.Equal(t, tc.errno, c.fails(uint16(CmdVersion), tc.payload))
			if name != "truncated version" {
				expectClosed(t, c)
			}
			require.NoError(t, c.uc.Close())
			<-r.disconnected
		})
	}
}

func TestFirstMessageMustBeVersion(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.dial()
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDeviceGetInfo), u32s(16, 0, 0, 0)))
	expectClosed(t, c)
}

func TestDeviceInfo(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	p := c.ok(uint16(CmdDeviceGetInfo), u32s(16, 0, 0, 0))
	require.Len(t, p, 16)
	assert.Equal(t, u32s(16, 1<<0|1<<1, NumRegions, NumIRQs), p, "argsz, RESET|PCI, 9 regions, 5 IRQ types")
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDeviceGetInfo), u32s(8, 0, 0, 0)), "argsz below the reply size")
}

func TestRegionInfo(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	want := map[uint32]uint64{RegionBAR0: 4096, RegionBAR1: msixBARSize, RegionConfig: ConfigSpaceSize}
	for idx := uint32(0); idx < NumRegions; idx++ {
		p := c.ok(uint16(CmdDeviceGetRegion), append(u32s(32, 0, idx, 0), make([]byte, 16)...))
		require.Len(t, p, 32)
		assert.Equal(t, uint32(32), binary.LittleEndian.Uint32(p[0:]), "argsz")
		assert.Equal(t, idx, binary.LittleEndian.Uint32(p[8:]), "index")
		assert.Zero(t, binary.LittleEndian.Uint32(p[12:]), "no capabilities: nothing is mappable")
		size := binary.LittleEndian.Uint64(p[16:])
		flags := binary.LittleEndian.Uint32(p[4:])
		assert.Equal(t, want[idx], size, "region %d size", idx)
		if size != 0 {
			assert.Equal(t, uint32(regionFlagRead|regionFlagWrite), flags, "region %d: read/write, no MMAP, no CAPS", idx)
		} else {
			assert.Zero(t, flags)
		}
	}
	assert.Equal(t, uint64(r.dev.Spec().Registers.Size()), uint64(4096), "BAR0 is the refgpu's window")
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDeviceGetRegion), append(u32s(32, 0, NumRegions, 0), make([]byte, 16)...)))
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDeviceGetRegion), append(u32s(16, 0, 0, 0), make([]byte, 16)...)), "argsz too small")
}

func TestIRQInfo(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	want := map[uint32][2]uint32{
		IRQIndexINTx: {irqInfoEventfd | irqInfoMaskable | irqInfoAutomasked, 1},
		IRQIndexMSI:  {0, 0},
		IRQIndexMSIX: {irqInfoEventfd | irqInfoMaskable | irqInfoNoResize, 1},
		IRQIndexErr:  {0, 0},
		IRQIndexReq:  {0, 0},
	}
	for idx, w := range want {
		p := c.ok(uint16(CmdDeviceGetIRQInfo), u32s(16, 0, idx, 0))
		assert.Equal(t, u32s(16, w[0], idx, w[1]), p, "IRQ index %d", idx)
	}
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDeviceGetIRQInfo), u32s(16, 0, NumIRQs, 0)))
}

func TestConfigSpace(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	assert.Equal(t, uint16(0x0C0D), c.cfg16(cfgVendorID))
	assert.Equal(t, uint16(0x0001), c.cfg16(cfgDeviceID))
	assert.Equal(t, uint32(0x038000), c.cfg32(cfgRevision)>>8, "display controller, other")
	assert.NotZero(t, c.cfg16(cfgStatus)&pciStatusCapList)

	// The whole space in one read, as QEMU does at realize.
	all := c.read(RegionConfig, 0, ConfigSpaceSize)
	assert.Equal(t, []byte{0x0D, 0x0C, 0x01, 0x00}, all[:4])

	// BAR sizing: write all ones, read the size mask back, restore.
	for bar, size := range map[int]uint32{0: 4096, 1: msixBARSize, 2: 0, 5: 0} {
		off := uint64(cfgBAR0 + 4*bar)
		c.write(RegionConfig, off, u32s(0xffffffff))
		assert.Equal(t, ^(size-1)&^0xf*boolU32(size != 0), c.cfg32(off), "BAR%d sizing", bar)
		c.write(RegionConfig, off, u32s(0xfebf0000))
		if size != 0 {
			assert.Equal(t, uint32(0xfebf0000), c.cfg32(off), "BAR%d address", bar)
		} else {
			assert.Zero(t, c.cfg32(off), "BAR%d is not implemented", bar)
		}
	}

	// Command register: memory, bus master and INTx disable stick; I/O
	// space (there is no I/O BAR) does not.
	c.write(RegionConfig, cfgCommand, []byte{0x07, 0x04})
	assert.Equal(t, uint16(0x0406), c.cfg16(cfgCommand))
	// Read-only fields ignore writes, as on hardware.
	c.write(RegionConfig, cfgVendorID, []byte{0xff, 0xff})
	assert.Equal(t, uint16(0x0C0D), c.cfg16(cfgVendorID))

	// The capability list leads to MSI-X, with its table and PBA in BAR1.
	ptr := c.read(RegionConfig, cfgCapPtr, 1)[0]
	require.Equal(t, byte(msixCapOffset), ptr)
	capHdr := c.read(RegionConfig, uint64(ptr), 4)
	assert.Equal(t, byte(pciCapIDMSIX), capHdr[0])
	assert.Zero(t, capHdr[1], "the last capability")
	assert.Equal(t, uint16(MSIXVectors-1), binary.LittleEndian.Uint16(capHdr[2:])&0x7ff, "table size - 1")
	assert.Equal(t, uint32(msixTableOffset|1), c.cfg32(uint64(ptr)+4), "table in BAR1 at 0")
	assert.Equal(t, uint32(msixPBAOffset|1), c.cfg32(uint64(ptr)+8), "PBA in BAR1 at 0x800")
	c.write(RegionConfig, uint64(ptr)+2, []byte{0xff, 0xff})
	assert.Equal(t, uint16(msixCtlEnable|msixCtlFunctionMask), c.cfg16(uint64(ptr)+2), "only enable and function mask are writable")

	// Out of range.
	for _, tc := range []struct {
		off   uint64
		count uint32
	}{{256, 1}, {255, 2}, {0, 257}, {1 << 40, 4}, {^uint64(0), 4}} {
		assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdRegionRead), regionAccess(RegionConfig, tc.off, tc.count, nil)), "read %d at %#x", tc.count, tc.off)
	}
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdRegionWrite), regionAccess(RegionConfig, 254, 4, []byte{1, 2, 3, 4})))
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func TestBAR0RoutesToTheMediator(t *testing.T) {
	r := newTestRig(t, Options{MaxDataXferSize: 4096})
	c := r.connect()
	assert.Equal(t, uint64(spec.RefGPUID), c.readReg(spec.RegID, 4))
	assert.Equal(t, uint64(spec.RefGPUVersion), c.readReg(spec.RegVersion, 4))

	c.writeReg(spec.RegRingBase, 8, 0x1234_5000)
	assert.Equal(t, uint64(0x1234_5000), c.readReg(spec.RegRingBase, 8))
	got, err := r.vc.Access(spec.RegRingBase, 8, false, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x1234_5000), got, "the write reached the vcoproc")
	c.writeReg(spec.RegUser0, 8, 0xdead_beef_cafe)
	assert.Equal(t, uint64(0xdead_beef_cafe), c.readReg(spec.RegUser0, 8))

	// A 16-byte read split at register boundaries: RING_BASE, RING_SIZE,
	// RING_HEAD.
	c.writeReg(spec.RegRingSize, 4, 4096)
	b := c.read(RegionBAR0, spec.RegRingBase, 16)
	assert.Equal(t, uint64(0x1234_5000), binary.LittleEndian.Uint64(b))
	assert.Equal(t, uint32(4096), binary.LittleEndian.Uint32(b[8:]))

	before := r.vc.Stats()
	for name, tc := range map[string]struct {
		write bool
		off   uint64
		count uint32
		errno syscall.Errno
	}{
		"privileged read":          {false, spec.RegPTBase, 8, syscall.EPERM},
		"privileged write":         {true, spec.RegReset, 4, syscall.EPERM},
		"read-only write":          {true, spec.RegID, 4, syscall.EACCES},
		"wrong width":              {false, spec.RegRingBase, 4, syscall.EINVAL},
		"unaligned":                {false, spec.RegID + 1, 2, syscall.EINVAL},
		"hole":                     {false, 0x00c, 4, syscall.EINVAL},
		"split into a hole":        {false, spec.RegFence, 16, syscall.EINVAL},
		"split ends inside a reg":  {false, spec.RegID, 12, syscall.EINVAL},
		"odd count":                {false, spec.RegID, 3, syscall.EINVAL},
		"past the BAR":             {false, 4096, 4, syscall.EINVAL},
		"straddles the end":        {false, 4092, 8, syscall.EINVAL},
		"huge offset":              {false, 1 << 63, 4, syscall.EINVAL},
		"zero count":               {false, 0, 0, syscall.EINVAL},
		"count over xfer size":     {false, 0, 4097, syscall.EINVAL},
		"no such region":           {false, 0, 4, syscall.EINVAL},
		"unimplemented region BAR": {false, 0, 4, syscall.EINVAL},
	} {
		region := uint32(RegionBAR0)
		switch name {
		case "no such region":
			region = 42
		case "unimplemented region BAR":
			region = 3
		}
		var errno syscall.Errno
		if tc.write {
			errno = c.fails(uint16(CmdRegionWrite), regionAccess(region, tc.off, tc.count, make([]byte, tc.count)))
		} else {
			errno = c.fails(uint16(CmdRegionRead), regionAccess(region, tc.off, tc.count, nil))
		}
		assert.Equal(t, tc.errno, errno, name)
	}
	after := r.vc.Stats()
	assert.Equal(t, before.Denied+2, after.Denied, "privileged accesses reached the mediator and were counted")

	// A write whose data does not match its count.
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdRegionWrite), regionAccess(RegionBAR0, spec.RegUser0, 8, []byte{1, 2, 3})))
	// A split write that fails validation touches nothing: DOORBELL sits
	// inside it and must not ring.
	kicks := r.vc.Stats().Kicks
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdRegionWrite), regionAccess(RegionBAR0, spec.RegRingTail, 12, make([]byte, 12))))
	assert.Equal(t, kicks, r.vc.Stats().Kicks)
}

func TestUnknownAndUnsupportedCommands(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	assert.Equal(t, syscall.ENOSYS, c.fails(200, nil))
	assert.Equal(t, syscall.ENOSYS, c.fails(0, nil))
	assert.Equal(t, syscall.ENOTSUP, c.fails(uint16(CmdGetRegionIOFDs), u32s(16, 0, 0, 0)))
	assert.Equal(t, syscall.ENOTSUP, c.fails(uint16(CmdDeviceFeature), u32s(16, 0)))
	assert.Equal(t, syscall.ENOTSUP, c.fails(uint16(CmdMigDataRead), u32s(16, 0, 0, 0)))
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDMARead), make([]byte, 16)), "a server-to-client command")
	// The connection still works.
	assert.Equal(t, uint64(spec.RefGPUID), c.readReg(spec.RegID, 4))
}

func TestMalformedHeadersAndSizes(t *testing.T) {
	r := newTestRig(t, Options{MaxDataXferSize: 4096})
	c := r.connect()

	// Truncated: a DMA_MAP with 8 of its 32 bytes.
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDMAMap), make([]byte, 8)))
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdRegionRead), make([]byte, 12)))
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDeviceSetIRQs), make([]byte, 16)))

	// Reserved flag bits and an unknown message type.
	for _, flags := range []uint32{1 << 6, 0x7} {
		id := c.send(uint16(CmdDeviceGetInfo), flags, u32s(16, 0, 0, 0))
		m, err := c.recv()
		require.NoError(t, err)
		assert.Equal(t, id, m.id)
		assert.True(t, m.isError())
		assert.Equal(t, uint32(syscall.EINVAL), m.errno)
	}

	// Oversized: the limit is checked on the header, the payload is
	// discarded without being buffered, and the stream stays in step.
	limit := int(r.srv.maxMsg)
	big := make([]byte, limit+1-16)
	id := c.send(uint16(CmdRegionWrite), 0, big)
	m, err := c.recv()
	require.NoError(t, err)
	assert.Equal(t, id, m.id)
	assert.Equal(t, uint32(syscall.E2BIG), m.errno)
	assert.Equal(t, uint64(spec.RefGPUID), c.readReg(spec.RegID, 4), "still in step after an oversized message")

	// No_reply: the command runs, its reply is suppressed.
	c.send(uint16(CmdRegionWrite), FlagNoReply, regionAccess(RegionBAR0, spec.RegUser0+8, 8, binary.LittleEndian.AppendUint64(nil, 77)))
	assert.Equal(t, uint64(77), c.readReg(spec.RegUser0+8, 8))

	// A size below the header breaks framing: error reply, then close.
	hdr := binary.LittleEndian.AppendUint16(nil, 99)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(CmdDeviceGetInfo))
	hdr = binary.LittleEndian.AppendUint32(hdr, 8)
	hdr = append(hdr, make([]byte, 8)...)
	c.sendRaw(hdr)
	m, err = c.recv()
	require.NoError(t, err)
	assert.Equal(t, uint16(99), m.id)
	assert.Equal(t, uint32(syscall.EINVAL), m.errno)
	expectClosed(t, c)
}

func TestTooManyFDsAreRefusedAndClosed(t *testing.T) {
	r := newTestRig(t, Options{MaxMsgFDs: 2})
	c := r.connect()
	fd, _ := memfd(t, 4*PageSize)
	base := openFDs(t)
	errno := c.fails(uint16(CmdDMAMap), dmaMapPayload(DMAFlagRead|DMAFlagWrite, 0, 0x10000, PageSize), fd, fd, fd)
	assert.Equal(t, syscall.EINVAL, errno)
	// Descriptors on a command that takes none.
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDeviceGetInfo), u32s(16, 0, 0, 0), fd))
	// Two on a DMA_MAP, which takes one.
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdDMAMap), dmaMapPayload(DMAFlagRead, 0, 0x10000, PageSize), fd, fd))
	assert.Equal(t, base, openFDs(t), "the server closed every descriptor it refused")
	assert.Zero(t, r.srv.Stats().DMAMaps)
}

func TestDMAMapUnmap(t *testing.T) {
	r := newTestRig(t, Options{MaxDMAMaps: 3})
	c := r.connect()
	fd, mem := memfd(t, 16*PageSize)
	const iova = 0x10_0000
	rw := uint32(DMAFlagRead | DMAFlagWrite)
	c.ok(uint16(CmdDMAMap), dmaMapPayload(rw, 0, iova, 8*PageSize), fd)
	assert.Equal(t, uint64(1), r.srv.Stats().DMAMaps)

	// The region is in the domain's IOMMU context: a FENCE into it passes
	// the audit and runs, and the value lands in the memfd.
	_, err := r.vc.Submit(spec.Encode(nil, spec.OpFence, iova+0x100, 4242))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return binary.LittleEndian.Uint64(mem[0x100:]) == 4242 }, 5*time.Second, time.Millisecond)

	for name, tc := range map[string]struct {
		p     []byte
		errno syscall.Errno
	}{
		"overlap start":      {dmaMapPayload(rw, 0, iova, PageSize), syscall.EEXIST},
		"overlap end":        {dmaMapPayload(rw, 0, iova+7*PageSize, 2*PageSize), syscall.EEXIST},
		"overlap around":     {dmaMapPayload(rw, 0, iova-PageSize, 16*PageSize), syscall.EEXIST},
		"unaligned address":  {dmaMapPayload(rw, 0, iova+0x10_0000+1, PageSize), syscall.EINVAL},
		"unaligned size":     {dmaMapPayload(rw, 0, 0x80_0000, 100), syscall.EINVAL},
		"unaligned offset":   {dmaMapPayload(rw, 12, 0x80_0000, PageSize), syscall.EINVAL},
		"zero size":          {dmaMapPayload(rw, 0, 0x80_0000, 0), syscall.EINVAL},
		"no permission":      {dmaMapPayload(0, 0, 0x80_0000, PageSize), syscall.EINVAL},
		"unknown flags":      {dmaMapPayload(rw|4, 0, 0x80_0000, PageSize), syscall.EINVAL},
		"past 48 bits":       {dmaMapPayload(rw, 0, 1<<48-PageSize, 2*PageSize), syscall.EINVAL},
		"wraps":              {dmaMapPayload(rw, 0, ^uint64(0)&^(PageSize-1), 2*PageSize), syscall.EINVAL},
		"offset past the fd": {dmaMapPayload(rw, 1<<40, 0x80_0000, PageSize), syscall.EINVAL},
		"size past the fd":   {dmaMapPayload(rw, 0, 0x80_0000, 32*PageSize), syscall.EINVAL},
	} {
		errno := c.fails(uint16(CmdDMAMap), tc.p, fd)
		if tc.errno != 0 {
			assert.Equal(t, tc.errno, errno, name)
		} else {
			assert.NotZero(t, errno, name)
		}
	}
	assert.Equal(t, uint64(1), r.srv.Stats().DMAMaps)

	for name, tc := range map[string]struct {
		p     []byte
		errno syscall.Errno
	}{
		"never mapped":     {dmaUnmapPayload(0, 0x90_0000, PageSize), syscall.ENOENT},
		"part of a region": {dmaUnmapPayload(0, iova, PageSize), syscall.EINVAL},
		"dirty bitmap":     {dmaUnmapPayload(1, iova, 8*PageSize), syscall.ENOTSUP},
		"all with a range": {dmaUnmapPayload(DMAUnmapFlagAll, iova, 8*PageSize), syscall.EINVAL},
	} {
		assert.Equal(t, tc.errno, c.fails(uint16(CmdDMAUnmap), tc.p), name)
	}

	reply := c.ok(uint16(CmdDMAUnmap), dmaUnmapPayload(0, iova, 8*PageSize))
	assert.Equal(t, dmaUnmapPayload(0, iova, 8*PageSize), reply, "the reply echoes the request")
	assert.Zero(t, r.srv.Stats().DMAMaps)
	_, err = r.vc.Submit(spec.Encode(nil, spec.OpFence, iova+0x100, 1))
	assert.ErrorIs(t, err, errOutsideDomain(), "unmapped before the reply: the audit refuses it")
	assert.Equal(t, syscall.ENOENT, c.fails(uint16(CmdDMAUnmap), dmaUnmapPayload(0, iova, 8*PageSize)), "unmapped twice")

	// The limit on regions, and unmap-all.
	for i := range uint64(3) {
		c.ok(uint16(CmdDMAMap), dmaMapPayload(rw, i*PageSize, 0x20_0000+i*0x1_0000, PageSize), fd)
	}
	assert.Equal(t, syscall.ENOSPC, c.fails(uint16(CmdDMAMap), dmaMapPayload(rw, 0, 0x30_0000, PageSize), fd))
	c.ok(uint16(CmdDMAUnmap), dmaUnmapPayload(DMAUnmapFlagAll, 0, 0))
	assert.Zero(t, r.srv.Stats().DMAMaps)
	_, err = r.vc.Submit(spec.Encode(nil, spec.OpFence, 0x20_0000, 1))
	assert.ErrorIs(t, err, errOutsideDomain())
}

func TestDMAWithoutDescriptorUsesMessages(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	const iova = 0x40_0000
	guest := make([]byte, 2*PageSize)
	for i := range guest {
		guest[i] = byte(i * 7)
	}
	c.dmaMem[iova] = guest
	c.ok(uint16(CmdDMAMap), dmaMapPayload(DMAFlagRead|DMAFlagWrite, 0, iova, 2*PageSize))
	// Not in the IOMMU context: the mediator cannot reach it.
	_, err := r.vc.Submit(spec.Encode(nil, spec.OpFence, iova, 1))
	assert.ErrorIs(t, err, errOutsideDomain())

	done := make(chan error, 1)
	got := make([]byte, 300)
	go func() { done <- r.srv.ReadGuest(iova+100, got) }()
	c.serveOne()
	require.NoError(t, <-done)
	assert.Equal(t, guest[100:400], got)

	go func() { done <- r.srv.WriteGuest(iova+PageSize, []byte("hello, guest")) }()
	c.serveOne()
	require.NoError(t, <-done)
	assert.Equal(t, "hello, guest", string(guest[PageSize:PageSize+12]))

	// Outside any region: refused without a message.
	assert.Error(t, r.srv.ReadGuest(iova+2*PageSize-4, make([]byte, 8)))
	assert.Error(t, r.srv.ReadGuest(0x1000, make([]byte, 8)))
}

func TestSetIRQsAndINTx(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	efd := eventfd(t)
	trig := uint32(IRQSetDataEventfd | IRQSetActionTrigger)
	for name, tc := range map[string]struct {
		p     []byte
		fds   []int
		errno syscall.Errno
	}{
		"two data types":   {irqSet(IRQSetDataNone|IRQSetDataBool|IRQSetActionTrigger, IRQIndexINTx, 0, 1), nil, syscall.EINVAL},
		"two actions":      {irqSet(IRQSetDataNone|IRQSetActionMask|IRQSetActionUnmask, IRQIndexINTx, 0, 1), nil, syscall.EINVAL},
		"bad index":        {irqSet(trig, 9, 0, 1), []int{efd}, syscall.EINVAL},
		"past the count":   {irqSet(trig, IRQIndexMSIX, 0, 2), []int{efd, efd}, syscall.EINVAL},
		"MSI has none":     {irqSet(trig, IRQIndexMSI, 0, 1), []int{efd}, syscall.EINVAL},
		"fd count":         {irqSet(trig, IRQIndexINTx, 0, 1), []int{efd, efd}, syscall.EINVAL},
		"fds without data": {irqSet(IRQSetDataNone|IRQSetActionTrigger, IRQIndexINTx, 0, 1), []int{efd}, syscall.EINVAL},
		"short bool data":  {irqSet(IRQSetDataBool|IRQSetActionMask, IRQIndexINTx, 0, 1), nil, syscall.EINVAL},
		"mask eventfd":     {irqSet(IRQSetDataEventfd|IRQSetActionMask, IRQIndexINTx, 0, 1), []int{efd}, syscall.ENOTSUP},
		"count 0 not none": {irqSet(trig, IRQIndexINTx, 0, 0), nil, syscall.EINVAL},
	} {
		assert.Equal(t, tc.errno, c.fails(uint16(CmdDeviceSetIRQs), tc.p, tc.fds...), name)
	}

	c.ok(uint16(CmdDeviceSetIRQs), irqSet(trig, IRQIndexINTx, 0, 1), efd)
	// The client triggers it itself (loopback).
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(IRQSetDataNone|IRQSetActionTrigger, IRQIndexINTx, 0, 1))
	_, ok := waitEventfd(t, efd, time.Second)
	assert.True(t, ok, "INTx eventfd signalled")

	// A vcoproc interrupt arrives on INTx (no MSI-X set up); INTx then
	// automasks until the client unmasks it.
	mem := c.mapPage(t, 0x10_0000)
	_, err := r.vc.Submit(spec.Encode(nil, spec.OpFence, 0x10_0000, 1))
	require.NoError(t, err)
	_, ok = waitEventfd(t, efd, 5*time.Second)
	require.True(t, ok, "the fence's interrupt arrived on INTx")
	assert.Equal(t, uint64(1), binary.LittleEndian.Uint64(mem))
	_, err = r.vc.Submit(spec.Encode(nil, spec.OpFence, 0x10_0000, 2))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return binary.LittleEndian.Uint64(mem) == 2 }, 5*time.Second, time.Millisecond)
	_, ok = waitEventfd(t, efd, 50*time.Millisecond)
	assert.False(t, ok, "automasked")
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(IRQSetDataBool|IRQSetActionUnmask, IRQIndexINTx, 0, 1, 1))
	_, ok = waitEventfd(t, efd, time.Second)
	assert.True(t, ok, "the pending interrupt fires on unmask")

	// De-assign: no descriptors with DATA_EVENTFD; disable all: count 0.
	base := openFDs(t)
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(trig, IRQIndexINTx, 0, 1))
	assert.Equal(t, base-1, openFDs(t), "the server closed its copy")
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(trig, IRQIndexMSIX, 0, 1), efd)
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(IRQSetDataNone|IRQSetActionTrigger, IRQIndexMSIX, 0, 0))
	assert.Equal(t, base-1, openFDs(t))
}

func TestMSIXMaskingAndPBA(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	efd := eventfd(t)
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(IRQSetDataEventfd|IRQSetActionTrigger, IRQIndexMSIX, 0, 1), efd)
	c.mapPage(t, 0x10_0000)

	// The table as a forwarding client programs it: address, data, and
	// the vector control word with the mask bit set.
	for i, w := range []uint32{0xfee00000, 0, 0x41, 1} {
		c.write(RegionBAR1, uint64(4*i), u32s(w))
	}
	assert.Equal(t, u32s(0xfee00000, 0, 0x41, 1), append(c.read(RegionBAR1, 0, 8), c.read(RegionBAR1, 8, 8)...))
	_, err := r.vc.Submit(spec.Encode(nil, spec.OpFence, 0x10_0000, 1))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.read(RegionBAR1, msixPBAOffset, 8)[0] == 1 }, 5*time.Second, time.Millisecond, "pending in the PBA")
	_, ok := waitEventfd(t, efd, 20*time.Millisecond)
	assert.False(t, ok, "masked")
	c.write(RegionBAR1, 12, u32s(0))
	_, ok = waitEventfd(t, efd, time.Second)
	assert.True(t, ok, "fires when unmasked")
	assert.Equal(t, byte(0), c.read(RegionBAR1, msixPBAOffset, 8)[0])

	// SET_IRQS masking, as QEMU does it.
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(IRQSetDataNone|IRQSetActionMask, IRQIndexMSIX, 0, 1))
	_, err = r.vc.Submit(spec.Encode(nil, spec.OpFence, 0x10_0000, 2))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.read(RegionBAR1, msixPBAOffset, 8)[0] == 1 }, 5*time.Second, time.Millisecond)
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(IRQSetDataNone|IRQSetActionUnmask, IRQIndexMSIX, 0, 1))
	_, ok = waitEventfd(t, efd, time.Second)
	assert.True(t, ok)

	// Bad table accesses.
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdRegionWrite), regionAccess(RegionBAR1, msixPBAOffset, 4, make([]byte, 4))), "PBA is read-only")
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdRegionRead), regionAccess(RegionBAR1, 2, 4, nil)), "unaligned")
	assert.Equal(t, syscall.EINVAL, c.fails(uint16(CmdRegionRead), regionAccess(RegionBAR1, 0x100, 4, nil)), "past the table")
}

func TestDeviceReset(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	c.write(RegionConfig, cfgCommand, []byte{0x06, 0})
	c.write(RegionConfig, cfgBAR0, u32s(0xfebf0000))
	c.ok(uint16(CmdDeviceReset), nil)
	assert.Zero(t, c.cfg16(cfgCommand), "command register reset")
	assert.Zero(t, c.cfg32(cfgBAR0), "BAR reset")
	r.mu.Lock()
	assert.Equal(t, 1, r.resets, "OnReset ran")
	r.mu.Unlock()
}

func TestResetFailureIsReported(t *testing.T) {
	r := newTestRig(t, Options{OnReset: func() error { return syscall.EBUSY }})
	c := r.connect()
	assert.Equal(t, syscall.EIO, c.fails(uint16(CmdDeviceReset), nil))
}

func TestDisconnectDropsMappingsAndInterrupts(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	fd, _ := memfd(t, 4*PageSize)
	efd := eventfd(t)
	base := openFDs(t) - 2 // without the two ends of the connection
	c.ok(uint16(CmdDMAMap), dmaMapPayload(DMAFlagRead|DMAFlagWrite, 0, 0x10_0000, 4*PageSize), fd)
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(IRQSetDataEventfd|IRQSetActionTrigger, IRQIndexMSIX, 0, 1), efd)
	c.write(RegionConfig, cfgCommand, []byte{0x06, 0})
	assert.Equal(t, base+3, openFDs(t), "the server holds the eventfd")
	require.NoError(t, c.uc.Close())
	select {
	case <-r.disconnected:
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect")
	}
	assert.Zero(t, r.srv.Stats().DMAMaps)
	_, err := r.vc.Submit(spec.Encode(nil, spec.OpFence, 0x10_0000, 1))
	assert.ErrorIs(t, err, errOutsideDomain(), "the mapping left the IOMMU context")
	assert.Equal(t, base, openFDs(t), "the eventfd was closed")

	// A new client finds the device state kept and can map again.
	c2 := r.connect()
	assert.Equal(t, uint16(0x06), c2.cfg16(cfgCommand))
	c2.ok(uint16(CmdDMAMap), dmaMapPayload(DMAFlagRead|DMAFlagWrite, 0, 0x10_0000, 4*PageSize), fd)
}

func TestSecondClientIsRefused(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()
	c2 := r.dial()
	_, err := c2.recv()
	assert.ErrorIs(t, err, io.EOF, "the second client is closed at once")
	assert.Equal(t, uint64(spec.RefGPUID), c.readReg(spec.RegID, 4), "the first is undisturbed")
}

func TestNewServerValidates(t *testing.T) {
	r := newTestRig(t, Options{})
	_, err := NewServer(Target{}, Options{})
	assert.Error(t, err)
	other, err := r.m.CreateDomain("other")
	require.NoError(t, err)
	_, err = NewServer(Target{Domain: other, VCoproc: r.vc, Spec: r.dev.Spec()}, Options{})
	assert.ErrorContains(t, err, `belongs to domain "vm", not "other"`)
	_, err = NewServer(Target{Domain: r.dom, VCoproc: r.vc, Spec: r.dev.Spec()}, Options{MaxMsgFDs: 1000})
	assert.ErrorContains(t, err, "MaxMsgFDs 1000")
}

func errOutsideDomain() error { return mediator.ErrOutsideDomain }
