package vfiouser

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/spec"
)

// TestFullJobOverVFIOUser is a guest driver's whole job, as an unmodified
// driver in a VM would do it through QEMU: guest RAM (a memfd) shared by
// DMA_MAP, an MSI-X eventfd by SET_IRQS, MSI-X and bus mastering enabled in
// config space, the command ring programmed through BAR0 writes, the
// doorbell rung, the completion interrupt received on the eventfd, and the
// result read from guest memory. The device runs under Device.Run on the
// real clock.
func TestFullJobOverVFIOUser(t *testing.T) {
	r := newTestRig(t, Options{})
	c := r.connect()

	const (
		ramIOVA  = 0x1_0000_0000 // guest-physical address of the RAM slice
		ramSize  = 64 << 10
		ringOff  = 0x0000
		ringSize = 4096
		xOff     = 0x1000
		yOff     = 0x2000
		argsOff  = 0x3000
		fenceOff = 0x4000
		n        = 256
	)
	fd, ram := memfd(t, ramSize)
	c.ok(uint16(CmdDMAMap), dmaMapPayload(DMAFlagRead|DMAFlagWrite, 0, ramIOVA, ramSize), fd)

	efd := eventfd(t)
	c.ok(uint16(CmdDeviceSetIRQs), irqSet(IRQSetDataEventfd|IRQSetActionTrigger, IRQIndexMSIX, 0, 1), efd)
	c.write(RegionConfig, cfgCommand, []byte{pciCommandMemory | pciCommandBusMaster, 0})
	c.write(RegionConfig, msixCapOffset+2, binary.LittleEndian.AppendUint16(nil, msixCtlEnable))

	// y = 2*x + y over float32.
	for i := range n {
		binary.LittleEndian.PutUint32(ram[xOff+4*i:], math.Float32bits(float32(i)))
		binary.LittleEndian.PutUint32(ram[yOff+4*i:], math.Float32bits(1))
	}
	for i, w := range []uint64{n, uint64(math.Float32bits(2)), ramIOVA + xOff, ramIOVA + yOff} {
		binary.LittleEndian.PutUint64(ram[argsOff+8*i:], w)
	}
	var cmds []uint64
	cmds = spec.Encode(cmds, spec.OpDispatch, spec.KernelSaxpy, n/spec.RefGPUWorkgroupSize, ramIOVA+argsOff)
	cmds = spec.Encode(cmds, spec.OpFence, ramIOVA+fenceOff, 7)
	for i, w := range cmds {
		binary.LittleEndian.PutUint64(ram[ringOff+8*i:], w)
	}

	// The driver's programming model (spec/refgpu.go), through BAR0.
	c.writeReg(spec.RegRingBase, 8, ramIOVA+ringOff)
	c.writeReg(spec.RegRingSize, 4, ringSize)
	c.writeReg(spec.RegRingTail, 4, uint64(8*len(cmds)))
	c.writeReg(spec.RegDoorbell, 4, 1)

	count, ok := waitEventfd(t, efd, 10*time.Second)
	require.True(t, ok, "the completion interrupt arrived on the MSI-X eventfd")
	assert.Positive(t, count)

	assert.Equal(t, uint64(7), binary.LittleEndian.Uint64(ram[fenceOff:]), "the fence value in guest memory")
	for i := range n {
		got := math.Float32frombits(binary.LittleEndian.Uint32(ram[yOff+4*i:]))
		require.Equal(t, float32(2*i+1), got, "y[%d]", i)
	}
	assert.Equal(t, uint64(7), c.readReg(spec.RegFence, 8))
	assert.Equal(t, uint64(8*len(cmds)), c.readReg(spec.RegRingHead, 4), "the ring was consumed")
	assert.NotZero(t, c.readReg(spec.RegIntStatus, 4)&spec.IntFence)
	c.writeReg(spec.RegIntStatus, 4, spec.IntFence)
	assert.Zero(t, c.readReg(spec.RegIntStatus, 4)&spec.IntFence, "write 1 to clear")
	assert.Positive(t, r.srv.Stats().Interrupts)
	r.mu.Lock()
	assert.NotEmpty(t, r.events, "OnEvents received the vcoproc's events")
	r.mu.Unlock()

	// The driver unmaps; the memory leaves the domain before the reply.
	c.ok(uint16(CmdDMAUnmap), dmaUnmapPayload(0, ramIOVA, ramSize))
	_, err := r.vc.Submit(spec.Encode(nil, spec.OpFence, ramIOVA+fenceOff, 8))
	assert.ErrorIs(t, err, errOutsideDomain())
}
