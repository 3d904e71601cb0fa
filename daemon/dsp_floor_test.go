package daemon

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// The floor of a remote call on this machine: the least any process that
// hands a call to another one pays. The guest's buffers lie in one shared
// memfd; the guest kicks an eventfd; a process of its own, blocked on
// that eventfd, runs the job on a bare reference DSP (the same admission,
// DMA through its IOMMU unit from the shared pages, service) and kicks
// another eventfd back, on which the guest blocks. No rings, no audit, no
// scheduler, no spinning: two wake-ups of a sleeping process and the call.
// BenchmarkDSPCallThroughDaemon times it in the same iteration as the call
// through the daemon, so that what the daemon adds can be split into what
// any second process costs here (the wake-ups, which on a virtual machine
// whose CPU went idle are tens of microseconds each) and what is its own.

const dspFloorEnv = "COPROCD_TEST_DSP_FLOOR" // the floor process's job, JSON (floorJob)

// floorRegion is one of the call's buffers in the shared memfd.
type floorRegion struct {
	IOVA, Offset, Size uint64
	Perm               iommu.Perm
}

// floorJob is what the floor process runs: the call's command words and
// where its buffers lie. The memfd is its file descriptor 3, the eventfd
// it waits on 4, the one it kicks 5.
type floorJob struct {
	Words   []uint64
	Regions []floorRegion
	MemSize uint64
}

// TestDSPFloorHelperProcess is not a test: it is the floor process that
// startDSPFloor runs, and it skips unless asked to be that. It serves until
// it is killed.
func TestDSPFloorHelperProcess(t *testing.T) {
	desc := os.Getenv(dspFloorEnv)
	if desc == "" {
		t.Skip("the floor process of BenchmarkDSPCallThroughDaemon; runs only when re-executed by it")
	}
	var job floorJob
	require.NoError(t, json.Unmarshal([]byte(desc), &job))
	mem, err := unix.Mmap(3, 0, int(job.MemSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, err)
	bare := newBareDSP(t)
	for _, r := range job.Regions {
		require.NoError(t, bare.io.Map(r.IOVA, mem[r.Offset:r.Offset+r.Size:r.Offset+r.Size], r.Perm))
	}
	bj := bare.scan(job.Words)
	for {
		if _, err := pvwire.Wait(4, -1); err != nil {
			t.Fatalf("floor process: waiting for a call: %v", err)
		}
		if _, err := bare.run(bj); err != nil {
			t.Fatalf("floor process: the call: %v", err)
		}
		if err := pvwire.Kick(5); err != nil {
			t.Fatalf("floor process: answering: %v", err)
		}
	}
}

// dspFloor is the guest's end of a floor process carrying one call.
type dspFloor struct {
	call, answer int    // eventfds
	out          []byte // the call's out buffer in the shared memfd
}

// startDSPFloor starts a floor process for c, its buffers copied into a
// shared memfd at their IOVAs' page offsets; it is killed when the test
// ends.
func startDSPFloor(tb testing.TB, g *dspGuest, c *dspCall) *dspFloor {
	tb.Helper()
	bufs := append(append([]*floorBuffer{}, floorBuffers(c.reads, iommu.Read)...),
		&floorBuffer{c.out.IOVA, len(c.out.Bytes), nil, iommu.ReadWrite},
		&floorBuffer{g.fence.IOVA, len(g.fence.Bytes), nil, iommu.ReadWrite})
	job := floorJob{Words: c.words}
	for _, b := range bufs {
		job.Regions = append(job.Regions, floorRegion{IOVA: b.iova, Offset: job.MemSize, Size: uint64(b.size), Perm: b.perm})
		job.MemSize += (uint64(b.size) + spec.PVPageBytes - 1) &^ (spec.PVPageBytes - 1)
	}
	memfd, err := unix.MemfdCreate("coprocd-dsp-floor", unix.MFD_CLOEXEC)
	require.NoError(tb, err)
	require.NoError(tb, unix.Ftruncate(memfd, int64(job.MemSize)))
	mem, err := unix.Mmap(memfd, 0, int(job.MemSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = unix.Munmap(mem) })
	for i, b := range bufs {
		copy(mem[job.Regions[i].Offset:], b.data)
	}
	call, err := pvwire.NewEventfd()
	require.NoError(tb, err)
	answer, err := pvwire.NewEventfd()
	require.NoError(tb, err)
	desc, err := json.Marshal(job)
	require.NoError(tb, err)

	files := []*os.File{os.NewFile(uintptr(memfd), "memfd"), os.NewFile(uintptr(call), "call"), os.NewFile(uintptr(answer), "answer")}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDSPFloorHelperProcess$")
	cmd.Env = append(os.Environ(), dspFloorEnv+"="+string(desc))
	cmd.ExtraFiles = files
	out, err := os.CreateTemp(tb.TempDir(), "floor-output")
	require.NoError(tb, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(tb, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		for _, f := range files {
			_ = f.Close()
		}
	})
	f := &dspFloor{call: call, answer: answer}
	outRegion := job.Regions[len(bufs)-2]
	f.out = mem[outRegion.Offset : outRegion.Offset+uint64(c.outLen)]
	// The first call also waits for the process to start.
	if err := f.roundTrip(10 * time.Second); err != nil {
		msg, _ := os.ReadFile(out.Name())
		tb.Fatalf("the floor process: %v\n%s", err, msg)
	}
	return f
}

// roundTrip carries the call once: a kick, and a sleep until the answer.
func (f *dspFloor) roundTrip(timeout time.Duration) error {
	if err := pvwire.Kick(f.call); err != nil {
		return err
	}
	answered, err := pvwire.Wait(f.answer, timeout)
	if err == nil && !answered {
		return os.ErrDeadlineExceeded
	}
	return err
}

// floorBuffer is a guest buffer to lay out in the floor's memfd.
type floorBuffer struct {
	iova uint64
	size int
	data []byte // what it holds; nil: zeroes
	perm iommu.Perm
}

func floorBuffers(bufs []*frontend.Buffer, perm iommu.Perm) []*floorBuffer {
	var fb []*floorBuffer
	for _, b := range bufs {
		fb = append(fb, &floorBuffer{b.IOVA, len(b.Bytes), b.Bytes, perm})
	}
	return fb
}
