package frontend

import (
	"context"
	"fmt"

	"github.com/coprocd/coprocd/frontend/pvwire"
	"github.com/coprocd/coprocd/spec"
)

// EventKind is what an Event reports.
type EventKind uint8

// Event kinds (spec.PVEvent*).
const (
	EventFence     EventKind = spec.PVEventFence
	EventJobDone   EventKind = spec.PVEventJobDone
	EventJobFailed EventKind = spec.PVEventJobFailed
	EventRefused   EventKind = spec.PVEventRefused
	EventTimeout   EventKind = spec.PVEventTimeout
)

func (k EventKind) String() string {
	switch k {
	case EventFence:
		return "fence"
	case EventJobDone:
		return "job-done"
	case EventJobFailed:
		return "job-failed"
	case EventRefused:
		return "refused"
	case EventTimeout:
		return "timeout"
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// Event is something that happened on one of the session's devices.
type Event struct {
	Device string
	Kind   EventKind
	Job    uint64
	Value  uint64 // the fence value of EventFence
	Status uint32
	Text   string // why, for failures
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s job=%d value=%d", e.Device, e.Kind, e.Job, e.Value)
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// maxFailedJobs bounds the failure texts a device remembers for WaitJob.
const maxFailedJobs = 256

// Device is one vcoproc of the session.
type Device struct {
	c     *Conn
	index uint16
	info  pvwire.DeviceInfo

	// under c.mu
	fence    uint64            // highest fence value seen
	finished uint64            // highest job id that ended (jobs of one vcoproc end in order)
	failed   map[uint64]string // job → why, for jobs that failed
	failures uint64            // failure events seen
	lastFail string
}

// Name is the device's name in the daemon.
func (d *Device) Name() string { return d.info.Name }

// Info describes the device (model, class, register window, limits).
func (d *Device) Info() pvwire.DeviceInfo { return d.info }

// deliver records an event. The caller holds c.mu.
func (c *Conn) deliver(r pvwire.Response) {
	if int(r.Dev) >= len(c.devices) {
		return
	}
	d := c.devices[r.Dev]
	e := Event{Device: d.info.Name, Kind: EventKind(r.Kind), Job: r.Job, Value: r.Value, Status: r.Status, Text: r.Text}
	switch e.Kind {
	case EventFence:
		d.fence = max(d.fence, e.Value)
	case EventJobDone:
		d.finished = max(d.finished, e.Job)
	case EventJobFailed, EventTimeout:
		d.finished = max(d.finished, e.Job)
		d.failures++
		d.lastFail = fmt.Sprintf("job %d %s: %s", e.Job, e.Kind, e.Text)
		if len(d.failed) >= maxFailedJobs {
			for j := range d.failed {
				delete(d.failed, j)
				break
			}
		}
		d.failed[e.Job] = e.Text
	}
	if len(c.events) >= c.opts.EventQueue {
		copy(c.events, c.events[1:])
		c.events = c.events[:len(c.events)-1]
		c.dropped++
	}
	c.events = append(c.events, e)
}

// ReadReg reads a size-byte register at offset of the device's window.
func (d *Device) ReadReg(ctx context.Context, offset uint32, size uint8) (uint64, error) {
	return d.c.call(ctx, "REG_READ", &pvwire.Request{Type: spec.PVRegRead, Dev: d.index, Offset: offset, Size: size}, nil)
}

// WriteReg writes a size-byte register.
func (d *Device) WriteReg(ctx context.Context, offset uint32, size uint8, value uint64) error {
	_, err := d.c.call(ctx, "REG_WRITE", &pvwire.Request{Type: spec.PVRegWrite, Dev: d.index, Offset: offset, Size: size, Value: value}, nil)
	return err
}

// Submit sends a command buffer (spec.Encode's format) inline and returns
// its job id once the mediator has audited and queued it.
func (d *Device) Submit(ctx context.Context, words []uint64) (uint64, error) {
	if max := spec.PVMaxInlineWords(d.c.welcome.Layout.ReqSlots); len(words) > max {
		return 0, fmt.Errorf("frontend: %d command words do not fit one inline SUBMIT (at most %d with this ring); use SubmitIndirect", len(words), max)
	}
	return d.c.call(ctx, "SUBMIT", &pvwire.Request{Type: spec.PVSubmit, Dev: d.index}, words)
}

// SubmitIndirect submits words command words that the guest wrote at
// offset of buf.
func (d *Device) SubmitIndirect(ctx context.Context, buf *Buffer, offset uint64, words int) (uint64, error) {
	return d.c.call(ctx, "SUBMIT_INDIRECT", &pvwire.Request{Type: spec.PVSubmitIndirect, Dev: d.index, IOVA: buf.IOVA + offset, Count: uint32(words)}, nil)
}

// AllocDeviceMemory allocates size bytes of device memory, mapped at iova
// in the domain's address space with perm (spec.PVPerm*).
func (d *Device) AllocDeviceMemory(ctx context.Context, iova, size uint64, perm uint8) error {
	_, err := d.c.call(ctx, "ALLOC_DEVMEM", &pvwire.Request{Type: spec.PVAllocDevMem, Dev: d.index, IOVA: iova, Bytes: size, Perm: perm}, nil)
	return err
}

// FreeDeviceMemory frees the device memory at iova; the host scrubs it.
func (d *Device) FreeDeviceMemory(ctx context.Context, iova uint64) error {
	_, err := d.c.call(ctx, "FREE_DEVMEM", &pvwire.Request{Type: spec.PVFreeDevMem, Dev: d.index, IOVA: iova}, nil)
	return err
}

// Fence is the highest fence value the device has reported.
func (d *Device) Fence() uint64 {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	_ = d.c.pump()
	return d.fence
}

// WaitFence waits until the device reports a fence of at least value. A
// job of the device failing meanwhile ends the wait with its reason (its
// fence would never come).
func (d *Device) WaitFence(ctx context.Context, value uint64) error {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter(); err != nil {
		return err
	}
	defer c.calls.Done()
	failures := d.failures
	var failed bool
	err := c.wait(ctx, waitKind{"WAIT_FENCE", d.index}, func() bool {
		failed = d.failures != failures
		return d.fence >= value || failed
	})
	if err != nil {
		return err
	}
	if d.fence < value && failed {
		return fmt.Errorf("frontend: waiting for fence %d on %s: %s", value, d.info.Name, d.lastFail)
	}
	return nil
}

// WaitJob waits until job has ended, and returns its failure if it failed.
func (d *Device) WaitJob(ctx context.Context, job uint64) error {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter(); err != nil {
		return err
	}
	defer c.calls.Done()
	if err := c.wait(ctx, waitKind{"WAIT_JOB", d.index}, func() bool { return d.finished >= job }); err != nil {
		return err
	}
	if why, ok := d.failed[job]; ok {
		delete(d.failed, job)
		return fmt.Errorf("frontend: job %d on %s failed: %s", job, d.info.Name, why)
	}
	return nil
}

// Events returns and forgets the events received so far, oldest first.
func (c *Conn) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.pump()
	out := c.events
	c.events = nil
	return out
}

// DroppedEvents counts events lost because the queue was full.
func (c *Conn) DroppedEvents() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// NextEvent waits for the next event and returns it.
func (c *Conn) NextEvent(ctx context.Context) (Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter(); err != nil {
		return Event{}, err
	}
	defer c.calls.Done()
	if err := c.wait(ctx, waitKind{"NEXT_EVENT", 0}, func() bool { return len(c.events) > 0 }); err != nil {
		return Event{}, err
	}
	e := c.events[0]
	c.events = c.events[1:]
	return e, nil
}
