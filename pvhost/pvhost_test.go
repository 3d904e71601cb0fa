package pvhost_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/pvhost/pvtest"
	"github.com/coprocd/coprocd/spec"
)

func TestMain(m *testing.M) {
	pvtest.RunGuestHelper(guestHelpers)
	os.Exit(m.Run())
}

var guestHelpers = pvtest.Helpers{
	// workload runs pvtest.Workload with the seed in argument 1.
	"workload": func(socket string) error {
		seed, _ := strconv.Atoi(os.Getenv("PV_SEED"))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := frontend.Dial(socket, frontend.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := pvtest.Workload(ctx, c, uint32(seed)); err != nil {
			return err
		}
		return c.Close()
	},
	// hang starts a job that never ends (a WAIT on memory nobody writes),
	// says so, and waits to be killed.
	"hang": func(socket string) error {
		ctx := context.Background()
		c, err := frontend.Dial(socket, frontend.Options{})
		if err != nil {
			return err
		}
		gpu := c.Devices()[0]
		buf, err := c.Alloc(ctx, 1<<20, spec.PVPermReadWrite)
		if err != nil {
			return err
		}
		if err := gpu.AllocDeviceMemory(ctx, 0x4000_0000, 256<<10, spec.PVPermReadWrite); err != nil {
			return err
		}
		// Leave a secret in device memory, then block the queue.
		if _, err := gpu.Submit(ctx, spec.Encode(spec.Encode(nil, spec.OpFill, 0x4000_0000, 64<<10, 0x5ec7e7), spec.OpFence, buf.IOVA+8, 1)); err != nil {
			return err
		}
		if err := gpu.WaitFence(ctx, 1); err != nil {
			return err
		}
		if _, err := gpu.Submit(ctx, spec.Encode(nil, spec.OpWait, buf.IOVA, 1)); err != nil {
			return err
		}
		fmt.Println("hanging")
		time.Sleep(time.Minute)
		return nil
	},
}

func connect(t *testing.T, h *pvtest.Host, opts frontend.Options) *frontend.Conn {
	t.Helper()
	c, err := frontend.Dial(h.Path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestWorkloadInProcess(t *testing.T) {
	h := pvtest.NewHost(t, pvtest.Options{})
	h.SetSelf(pvtest.Domain("self", "gpu0", 1<<20))
	c := connect(t, h, frontend.Options{})
	assert.Equal(t, "self", c.Domain())
	major, _ := c.Version()
	assert.Equal(t, uint16(spec.PVVersionMajor), major)
	assert.Equal(t, spec.PVCapsAll, c.Caps())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, pvtest.Workload(ctx, c, 3))
	require.NoError(t, c.Close())
	require.NoError(t, pvtest.WaitFor(5*time.Second, func() bool { _, ok := h.M.Domain("self"); return !ok }), "the domain outlived its session")
}

// TestGuestsAsProcesses runs several guests as separate processes at once,
// each on its own domain, all sharing one reference GPU (and some a
// second), each checking its results.
func TestGuestsAsProcesses(t *testing.T) {
	h := pvtest.NewHost(t, pvtest.Options{Devices: []string{"gpu0", "gpu1"}})
	var guests []*pvtest.Guest
	for i := 0; i < 4; i++ {
		dev := "gpu0"
		if i == 3 {
			dev = "gpu1"
		}
		d := pvtest.Domain(fmt.Sprintf("guest%d", i), dev, 1<<20)
		t.Setenv("PV_SEED", strconv.Itoa(i+1))
		guests = append(guests, h.StartGuest(t, "workload", d))
	}
	for _, g := range guests {
		out, err := g.Wait(60 * time.Second)
		assert.NoError(t, err, "guest %s:\n%s", g.Domain, out)
		assert.Contains(t, out, "guest workload: ok", g.Domain)
	}
	require.NoError(t, pvtest.WaitFor(5*time.Second, func() bool { return len(h.Server.Sessions()) == 0 }))
	for _, g := range guests {
		_, ok := h.M.Domain(g.Domain)
		assert.False(t, ok, "domain %s outlived its guest", g.Domain)
	}
}

// TestGuestDiesMidJob kills a guest while its job blocks the device queue,
// and checks that its job, buffers, device memory and domain are gone and
// that another guest's jobs run to the right results meanwhile and after.
func TestGuestDiesMidJob(t *testing.T) {
	h := pvtest.NewHost(t, pvtest.Options{})
	victim := h.StartGuest(t, "hang", pvtest.Domain("victim", "gpu0", 1<<20))
	require.NoError(t, pvtest.WaitFor(30*time.Second, func() bool { return len(victimOutput(victim)) > 0 }), "victim never started its job")
	require.Len(t, h.Server.Sessions(), 1)
	assert.Equal(t, 1, h.Server.Sessions()[0].Buffers)

	t.Setenv("PV_SEED", "9")
	survivor := h.StartGuest(t, "workload", pvtest.Domain("survivor", "gpu0", 1<<20))
	require.NoError(t, victim.Cmd.Process.Kill())
	out, err := survivor.Wait(60 * time.Second)
	assert.NoError(t, err, out)

	require.NoError(t, pvtest.WaitFor(5*time.Second, func() bool { _, ok := h.M.Domain("victim"); return !ok }), "the dead guest's domain remains")
	require.NoError(t, pvtest.WaitFor(5*time.Second, func() bool { return len(h.Server.Sessions()) == 0 }))
	// Sessions() ordered us after both teardowns; nothing else touches VRAM.
	vram := h.GPUs["gpu0"].DeviceMemory()
	assert.Zero(t, vram.Used("victim"), "the dead guest's device memory was not freed")
	assert.Equal(t, vram.Size(), vram.FreeBytes(), "device memory leaked")

	// A new domain gets all of the device memory, and none of the secret.
	h.SetSelf(pvtest.Domain("next", "gpu0", vram.Size()))
	c := connect(t, h, frontend.Options{})
	ctx := context.Background()
	gpu := c.Devices()[0]
	require.NoError(t, gpu.AllocDeviceMemory(ctx, 0x4000_0000, vram.Size(), spec.PVPermReadWrite))
	out2, err := c.Alloc(ctx, vram.Size(), spec.PVPermWrite)
	require.NoError(t, err)
	job, err := gpu.Submit(ctx, spec.Encode(nil, spec.OpCopy, out2.IOVA, 0x4000_0000, vram.Size()))
	require.NoError(t, err)
	require.NoError(t, gpu.WaitJob(ctx, job))
	assert.True(t, bytes.Equal(out2.Bytes, make([]byte, vram.Size())), "device memory was not scrubbed")
}

func victimOutput(g *pvtest.Guest) string {
	out := g.Output()
	if len(out) > 0 && out[:7] != "hanging" {
		return "" // an error; the WaitFor fails and the test shows it below
	}
	return out
}
