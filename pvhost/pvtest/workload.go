package pvtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/spec"
)

// Workload runs real jobs on the session's first device through every door
// the protocol has, and checks each result against the CPU's:
//
//   - saxpy with inline SUBMIT, waited for with WaitJob, then a FENCE
//     waited for with WaitFence;
//   - FILL through the device's own command ring (REG_WRITEs of the ring
//     registers, the commands in a mapped buffer, a doorbell write);
//   - COPY through SUBMIT_INDIRECT.
//
// seed makes each guest's data its own.
func Workload(ctx context.Context, c *frontend.Conn, seed uint32) error {
	gpu := c.Devices()[0]
	if m := gpu.Info().Model; m != spec.ReferenceGPU().Model {
		return fmt.Errorf("device model %q, want %q", m, spec.ReferenceGPU().Model)
	}
	id, err := gpu.ReadReg(ctx, spec.RegID, 4)
	if err != nil {
		return err
	}
	if id != spec.RefGPUID {
		return fmt.Errorf("ID register 0x%x, want 0x%x", id, spec.RefGPUID)
	}

	// saxpy, inline.
	const n = 4096
	x, err := c.Alloc(ctx, 4*n, spec.PVPermRead)
	if err != nil {
		return err
	}
	y, err := c.Alloc(ctx, 4*n, spec.PVPermReadWrite)
	if err != nil {
		return err
	}
	args, err := c.Alloc(ctx, 4096, spec.PVPermReadWrite)
	if err != nil {
		return err
	}
	alpha := float32(seed%7) + 0.5
	want := make([]float32, n)
	for i := 0; i < n; i++ {
		xi, yi := float32(i%97)+float32(seed), float32(i%13)
		binary.LittleEndian.PutUint32(x.Bytes[4*i:], math.Float32bits(xi))
		binary.LittleEndian.PutUint32(y.Bytes[4*i:], math.Float32bits(yi))
		want[i] = alpha*xi + yi
	}
	for i, w := range []uint64{n, uint64(math.Float32bits(alpha)), x.IOVA, y.IOVA} {
		binary.LittleEndian.PutUint64(args.Bytes[8*i:], w)
	}
	fenceAddr := args.IOVA + 1024
	cmds := spec.Encode(nil, spec.OpDispatch, spec.KernelSaxpy, n/spec.RefGPUWorkgroupSize, args.IOVA)
	job, err := gpu.Submit(ctx, cmds)
	if err != nil {
		return err
	}
	if err := gpu.WaitJob(ctx, job); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(y.Bytes[4*i:])); got != want[i] {
			return fmt.Errorf("saxpy: y[%d] = %v, want %v", i, got, want[i])
		}
	}
	fence := uint64(seed)<<8 | 1
	if _, err := gpu.Submit(ctx, spec.Encode(nil, spec.OpFence, fenceAddr, fence)); err != nil {
		return err
	}
	if err := gpu.WaitFence(ctx, fence); err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint64(args.Bytes[1024:]); got != fence {
		return fmt.Errorf("fence memory holds %d, want %d", got, fence)
	}

	// FILL through the device's own ring and doorbell.
	ring, err := c.Alloc(ctx, 4096, spec.PVPermRead)
	if err != nil {
		return err
	}
	dst, err := c.Alloc(ctx, 4*n, spec.PVPermWrite)
	if err != nil {
		return err
	}
	pattern := 0xC0DE0000 | uint64(seed&0xffff)
	fence++
	words := spec.Encode(nil, spec.OpFill, dst.IOVA, 2048, pattern)
	words = spec.Encode(words, spec.OpFence, fenceAddr, fence)
	for i, w := range words {
		binary.LittleEndian.PutUint64(ring.Bytes[8*i:], w)
	}
	for _, w := range []struct {
		off  uint32
		size uint8
		v    uint64
	}{{spec.RegRingBase, 8, ring.IOVA}, {spec.RegRingSize, 4, 4096}, {spec.RegRingTail, 4, uint64(8 * len(words))}, {spec.RegDoorbell, 4, 1}} {
		if err := gpu.WriteReg(ctx, w.off, w.size, w.v); err != nil {
			return err
		}
	}
	if err := gpu.WaitFence(ctx, fence); err != nil {
		return err
	}
	for i := 0; i < 2048; i++ {
		if got := binary.LittleEndian.Uint32(dst.Bytes[4*i:]); uint64(got) != pattern {
			return fmt.Errorf("ring FILL: word %d = 0x%x, want 0x%x", i, got, pattern)
		}
	}
	if head, err := gpu.ReadReg(ctx, spec.RegRingHead, 4); err != nil || head != uint64(8*len(words)) {
		return fmt.Errorf("RING_HEAD = %d (%v), want %d", head, err, 8*len(words))
	}

	// COPY through SUBMIT_INDIRECT: y (the saxpy result) into dst.
	words = spec.Encode(nil, spec.OpCopy, dst.IOVA, y.IOVA, 4*n)
	for i, w := range words {
		binary.LittleEndian.PutUint64(args.Bytes[2048+8*i:], w)
	}
	job, err = gpu.SubmitIndirect(ctx, args, 2048, len(words))
	if err != nil {
		return err
	}
	if err := gpu.WaitJob(ctx, job); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(dst.Bytes[4*i:])); got != want[i] {
			return fmt.Errorf("indirect COPY: dst[%d] = %v, want %v", i, got, want[i])
		}
	}
	for _, b := range []*frontend.Buffer{x, y, args, ring, dst} {
		if err := b.Release(ctx); err != nil {
			return err
		}
	}
	return nil
}
