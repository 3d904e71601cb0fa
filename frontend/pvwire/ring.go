package pvwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/coprocd/coprocd/spec"
)

// Layout is where the two rings lie in the ring memfd.
type Layout struct {
	ReqSlots, RspSlots   uint32
	ReqOffset, RspOffset uint32
	Bytes                uint64
}

// NewLayout places the request slots after the control page and the
// response slots after them.
func NewLayout(reqSlots, rspSlots uint32) (Layout, error) {
	l := Layout{ReqSlots: reqSlots, RspSlots: rspSlots, ReqOffset: spec.PVRingControlBytes,
		RspOffset: spec.PVRingControlBytes + reqSlots*spec.PVSlotBytes, Bytes: spec.PVRingBytes(reqSlots, rspSlots)}
	return l, l.Validate()
}

// Validate checks a layout (as received in WELCOME) against the protocol's
// limits, so that a peer cannot make the other side index outside the
// memory it mapped.
func (l Layout) Validate() error {
	if !spec.PVValidRingSlots(l.ReqSlots) || !spec.PVValidRingSlots(l.RspSlots) {
		return fmt.Errorf("pv: ring sizes %d and %d slots: each must be a power of two from %d to %d",
			l.ReqSlots, l.RspSlots, spec.PVMinRingSlots, spec.PVMaxRingSlots)
	}
	if l.Bytes != spec.PVRingBytes(l.ReqSlots, l.RspSlots) {
		return fmt.Errorf("pv: ring memfd of %d bytes, want %d for %d+%d slots", l.Bytes, spec.PVRingBytes(l.ReqSlots, l.RspSlots), l.ReqSlots, l.RspSlots)
	}
	reqEnd := uint64(l.ReqOffset) + uint64(l.ReqSlots)*spec.PVSlotBytes
	rspEnd := uint64(l.RspOffset) + uint64(l.RspSlots)*spec.PVSlotBytes
	if l.ReqOffset < spec.PVRingControlBytes || l.RspOffset < spec.PVRingControlBytes || reqEnd > l.Bytes || rspEnd > l.Bytes ||
		(uint64(l.ReqOffset) < rspEnd && uint64(l.RspOffset) < reqEnd) || l.ReqOffset%spec.PVSlotBytes != 0 || l.RspOffset%spec.PVSlotBytes != 0 {
		return fmt.Errorf("pv: request slots at %d and response slots at %d overlap, are misaligned or lie outside the %d-byte memfd",
			l.ReqOffset, l.RspOffset, l.Bytes)
	}
	return nil
}

// InitControl writes the control page of a fresh (zeroed) ring memfd.
func InitControl(mem []byte, l Layout) {
	binary.LittleEndian.PutUint32(mem[spec.PVCtlMagic:], spec.PVRingMagic)
	binary.LittleEndian.PutUint32(mem[spec.PVCtlVersion:], spec.PVVersionMajor<<16|spec.PVVersionMinor)
	binary.LittleEndian.PutUint32(mem[spec.PVCtlReqSlots:], l.ReqSlots)
	binary.LittleEndian.PutUint32(mem[spec.PVCtlRspSlots:], l.RspSlots)
}

// CheckControl checks the control page a guest received.
func CheckControl(mem []byte, l Layout) error {
	if uint64(len(mem)) < l.Bytes {
		return fmt.Errorf("pv: ring mapping of %d bytes is smaller than the layout's %d", len(mem), l.Bytes)
	}
	if m := binary.LittleEndian.Uint32(mem[spec.PVCtlMagic:]); m != spec.PVRingMagic {
		return fmt.Errorf("pv: ring memfd magic 0x%08x, want 0x%08x", m, spec.PVRingMagic)
	}
	return nil
}

// ring is one ring's view of the shared memory.
type ring struct {
	name  string
	slots []byte
	n     uint32
	mask  uint32
	// the four shared words of this ring
	prod, cons, prodEvent, consEvent *uint32
}

func word(mem []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

func newRing(mem []byte, name string, offset, n uint32, ctlBase int) ring {
	return ring{name: name, slots: mem[offset : uint64(offset)+uint64(n)*spec.PVSlotBytes], n: n, mask: n - 1,
		prod: word(mem, ctlBase), cons: word(mem, ctlBase+0x40), prodEvent: word(mem, ctlBase+0x80), consEvent: word(mem, ctlBase+0xC0)}
}

func requestRing(mem []byte, l Layout) ring {
	return newRing(mem, "request", l.ReqOffset, l.ReqSlots, spec.PVCtlReqProd)
}

func responseRing(mem []byte, l Layout) ring {
	return newRing(mem, "response", l.RspOffset, l.RspSlots, spec.PVCtlRspProd)
}

// storeFenced stores v to a shared control word such that no later load
// by this thread can be satisfied before the store is visible to the peer:
// the store-then-load order on which the event-index rule rests (a side
// that publishes its index and then reads the peer's, while the peer does
// the same with the two words the other way round, must not both read the
// old value, or each thinks the other will act and a kick is lost).
//
// It is an atomic exchange, not atomic.StoreUint32. In a normal build the
// two are the same instruction on amd64 (XCHG) and both sequentially
// consistent everywhere. Under the race detector they are not: sync/atomic
// goes through ThreadSanitizer, and there a Store to memory outside the Go
// heap (these rings are an mmap) does not keep a later load from passing
// it. The store-buffering outcome above then happened, about once in 10^4
// tries on two CPUs, and frontend's TestConcurrentCalls lost an interrupt
// in a few runs out of a hundred under -race. An exchange is a locked
// read-modify-write, a full fence in both builds.
// TestArmAndPublishNeverBothMiss and TestWantSpaceAndConsumeNeverBothMiss
// check the order on a real mapping.
func storeFenced(p *uint32, v uint32) { atomic.SwapUint32(p, v) }

// ErrProtocol marks an error after which the ring cannot be trusted: the
// session must end.
var ErrProtocol = errors.New("protocol violation")

// ErrRingFull is returned by Producer.Put when the message does not fit
// now; the producer arms with WantSpace and waits for the consumer.
var ErrRingFull = errors.New("ring is full")

// Producer is the producing side of one ring. It is not safe for
// concurrent use.
type Producer struct {
	r         ring
	prod      uint32 // private: slots written
	published uint32 // the value last stored to the shared prod
	cons      uint32 // the last valid consumer index seen
}

// RequestProducer is the guest's side of the request ring.
func RequestProducer(mem []byte, l Layout) *Producer { return &Producer{r: requestRing(mem, l)} }

// ResponseProducer is the host's side of the response ring.
func ResponseProducer(mem []byte, l Layout) *Producer { return &Producer{r: responseRing(mem, l)} }

// refreshCons reads and validates the consumer's index: it may only move
// forward, and never past what was produced.
func (p *Producer) refreshCons() error {
	c := atomic.LoadUint32(p.r.cons)
	if c-p.cons > p.prod-p.cons {
		return fmt.Errorf("pv: %s ring: consumer index %d is impossible (it was %d, producer is at %d, %d slots): %w",
			p.r.name, c, p.cons, p.prod, p.r.n, ErrProtocol)
	}
	p.cons = c
	return nil
}

// Free returns the number of free slots.
func (p *Producer) Free() (uint32, error) {
	if err := p.refreshCons(); err != nil {
		return 0, err
	}
	return p.r.n - (p.prod - p.cons), nil
}

// SlotsFor is the number of slots a message with payload bytes occupies.
func SlotsFor(payload int) int {
	return (spec.PVRingHeaderBytes + payload + spec.PVSlotBytes - 1) / spec.PVSlotBytes
}

// MaxSlots is the largest message in slots that this ring accepts.
func (p *Producer) MaxSlots() int { return int(min(spec.PVMaxMessageSlots, p.r.n/2)) }

// Put writes a message header and returns the payload bytes to fill. The
// message becomes visible to the consumer at the next Publish. It returns
// ErrRingFull when there is no room now, or an error wrapping ErrProtocol
// when the consumer's index is impossible.
func (p *Producer) Put(typ spec.PVType, tag uint64, payload int) ([]byte, error) {
	k := SlotsFor(payload)
	if payload < 0 || k > p.MaxSlots() {
		return nil, fmt.Errorf("pv: %s ring: a %d-byte payload needs %d slots, at most %d fit", p.r.name, payload, k, p.MaxSlots())
	}
	need, toEnd := p.need(k)
	if p.r.n-(p.prod-p.cons) < need {
		if err := p.refreshCons(); err != nil {
			return nil, err
		}
		if p.r.n-(p.prod-p.cons) < need {
			return nil, ErrRingFull
		}
	}
	if uint32(k) > toEnd {
		h := p.r.slots[(p.prod&p.r.mask)*spec.PVSlotBytes:]
		putHeader(h, spec.PVPad, uint16(toEnd), 0, 0)
		p.prod += toEnd
	}
	pos := p.prod & p.r.mask
	b := p.r.slots[pos*spec.PVSlotBytes : int(pos)*spec.PVSlotBytes+k*spec.PVSlotBytes]
	putHeader(b, typ, uint16(k), uint32(payload), tag)
	p.prod += uint32(k)
	return b[spec.PVRingHeaderBytes : spec.PVRingHeaderBytes+payload], nil
}

// need is the slots a k-slot message takes at the current position,
// padding included, and the slots left before the ring's end.
func (p *Producer) need(k int) (need, toEnd uint32) {
	toEnd = p.r.n - p.prod&p.r.mask
	need = uint32(k)
	if need > toEnd {
		need += toEnd
	}
	return need, toEnd
}

func putHeader(b []byte, typ spec.PVType, slots uint16, n uint32, tag uint64) {
	b[spec.PVRHType] = byte(typ)
	b[spec.PVRHFlags] = 0
	binary.LittleEndian.PutUint16(b[spec.PVRHSlots:], slots)
	binary.LittleEndian.PutUint32(b[spec.PVRHLen:], n)
	binary.LittleEndian.PutUint64(b[spec.PVRHTag:], tag)
}

// Publish makes the messages Put since the last Publish visible and
// reports whether the consumer asked to be kicked for them.
func (p *Producer) Publish() bool {
	if p.prod == p.published {
		return false
	}
	old := p.published
	storeFenced(p.r.prod, p.prod)
	p.published = p.prod
	return spec.PVNeedEvent(atomic.LoadUint32(p.r.prodEvent), p.prod, old)
}

// WantSpace is called when a message of slots does not fit: it asks the
// consumer to kick when it next consumes, and reports whether the caller
// should retry instead of sleeping, because room appeared or the consumer
// moved meanwhile.
//
// The event index is the consumer index read just before it, and any
// movement after the store means "retry", not only enough room: a
// consumer that moved from c0 to c1 between the two reads was not asked
// for a kick (its event index was still behind), and neither would be its
// next move from c1, so a producer that slept now would sleep through it.
// The retry arms again at c1.
func (p *Producer) WantSpace(slots int) (bool, error) {
	if err := p.refreshCons(); err != nil {
		return false, err
	}
	need, _ := p.need(slots)
	if p.r.n-(p.prod-p.cons) >= need {
		return true, nil
	}
	armed := p.cons
	storeFenced(p.r.consEvent, armed)
	if err := p.refreshCons(); err != nil {
		return false, err
	}
	return p.cons != armed, nil
}

// ConsumerSeen is the consumer index this producer last read: after a
// WantSpace that said "sleep", the event index it set.
func (p *Producer) ConsumerSeen() uint32 { return p.cons }

// ConsumerMoved reports whether the consumer has published past pos. Like
// Consumer.Moved it reads only the shared index and validates nothing.
func (p *Producer) ConsumerMoved(pos uint32) bool { return atomic.LoadUint32(p.r.cons) != pos }

// Consumer is the consuming side of one ring. It is not safe for
// concurrent use.
type Consumer struct {
	r         ring
	cons      uint32 // private: slots consumed
	published uint32 // the value last stored to the shared cons
	prod      uint32 // the last valid producer index seen
	buf       []byte // the copy of the current message
	maxSlots  uint32
}

// RequestConsumer is the host's side of the request ring.
func RequestConsumer(mem []byte, l Layout) *Consumer { return newConsumer(requestRing(mem, l)) }

// ResponseConsumer is the guest's side of the response ring.
func ResponseConsumer(mem []byte, l Layout) *Consumer { return newConsumer(responseRing(mem, l)) }

func newConsumer(r ring) *Consumer {
	m := min(spec.PVMaxMessageSlots, r.n/2)
	return &Consumer{r: r, maxSlots: m, buf: make([]byte, m*spec.PVSlotBytes)}
}

// Pending reports, without validation, whether the producer has published
// past the consumer: the cheap check of a polling loop.
func (c *Consumer) Pending() bool { return atomic.LoadUint32(c.r.prod) != c.cons }

// Next returns a copy of the next message (header and payload; valid until
// the next call), or nil when the ring is empty. An error wraps
// ErrProtocol: the producer's index or a message's framing is impossible.
func (c *Consumer) Next() ([]byte, error) {
	for {
		if c.prod == c.cons {
			c.touchSlot(c.cons) // a poller's probe: see touchSlot
			p := atomic.LoadUint32(c.r.prod)
			if p-c.cons > c.r.n {
				if c.prod-p < c.r.n && p != c.prod {
					return nil, fmt.Errorf("pv: %s ring: producer index went backwards from %d to %d: %w", c.r.name, c.prod, p, ErrProtocol)
				}
				return nil, fmt.Errorf("pv: %s ring: producer index %d is %d slots past the consumer at %d, the ring has %d: %w",
					c.r.name, p, p-c.cons, c.cons, c.r.n, ErrProtocol)
			}
			c.prod = p
			if p == c.cons {
				return nil, nil
			}
		}
		avail := c.prod - c.cons
		pos := c.cons & c.r.mask
		toEnd := c.r.n - pos
		at := int(pos) * spec.PVSlotBytes
		var h [spec.PVRingHeaderBytes]byte
		copy(h[:], c.r.slots[at:])
		typ := spec.PVType(h[spec.PVRHType])
		slots := uint32(binary.LittleEndian.Uint16(h[spec.PVRHSlots:]))
		n := binary.LittleEndian.Uint32(h[spec.PVRHLen:])
		switch {
		case typ == 0:
			return nil, fmt.Errorf("pv: %s ring: slot index %d holds message type 0: %w", c.r.name, c.cons, ErrProtocol)
		case slots == 0 || slots > avail || slots > toEnd:
			return nil, fmt.Errorf("pv: %s ring: message at slot index %d (type 0x%02x) claims %d slots; %d are published and %d remain before the ring's end: %w",
				c.r.name, c.cons, typ, slots, avail, toEnd, ErrProtocol)
		case typ == spec.PVPad:
			c.cons += slots
			continue
		case slots > c.maxSlots:
			return nil, fmt.Errorf("pv: %s ring: message at slot index %d (type 0x%02x) claims %d slots, at most %d allowed: %w",
				c.r.name, c.cons, typ, slots, c.maxSlots, ErrProtocol)
		case uint64(n) > uint64(slots)*spec.PVSlotBytes-spec.PVRingHeaderBytes:
			return nil, fmt.Errorf("pv: %s ring: message at slot index %d (type 0x%02x) has a %d-byte payload in %d slots: %w",
				c.r.name, c.cons, typ, n, slots, ErrProtocol)
		}
		msg := c.buf[:spec.PVRingHeaderBytes+int(n)]
		copy(msg[spec.PVRingHeaderBytes:], c.r.slots[at+spec.PVRingHeaderBytes:])
		copy(msg, h[:]) // the validated header, not a second read of the ring
		c.cons += slots
		return msg, nil
	}
}

// Publish stores the consumer index and reports whether the producer asked
// to be kicked when space frees up.
func (c *Consumer) Publish() bool {
	if c.cons == c.published {
		return false
	}
	old := c.published
	storeFenced(c.r.cons, c.cons)
	c.published = c.cons
	return spec.PVNeedEvent(atomic.LoadUint32(c.r.consEvent), c.cons, old)
}

// Arm asks the producer to kick for the next message and reports whether
// one arrived meanwhile (then the caller must not sleep).
func (c *Consumer) Arm() bool {
	storeFenced(c.r.prodEvent, c.cons)
	return atomic.LoadUint32(c.r.prod) != c.cons
}

// Position is the consumer's private index, for Moved.
func (c *Consumer) Position() uint32 { return c.cons }

// Moved reports whether the producer has published past pos. It reads only
// shared memory (the index, and the slot at pos: see touchSlot), so a
// poller may call it without the consumer's lock.
func (c *Consumer) Moved(pos uint32) bool {
	c.touchSlot(pos)
	return atomic.LoadUint32(c.r.prod) != pos
}

// touchSlot loads the first word of the slot at index pos, where the next
// message will begin, and discards it.
//
// It is for polling loops, and it is what makes a polled round trip cost
// one cache-line transfer per direction instead of two. A consumer that
// polls only the producer index learns of a message when the index's line
// arrives, and only then reads the slot, which the producer wrote just
// before: a second miss, in series with the first. Loading the slot in the
// same probe as the index puts both misses in flight together, so by the
// time the index says "published" the message's first line is (nearly
// always) already here; the producer's ordering (slot, then index) and
// the acquire of the index keep what is read correct, the touch only
// warms the cache. BenchmarkRegisterReadPolling (package frontend): 1.59–
// 1.68× a spin ping-pong without it, 1.24–1.31× with it, on a 2-vCPU VM.
func (c *Consumer) touchSlot(pos uint32) {
	_ = atomic.LoadUint32(word(c.r.slots, int(pos&c.r.mask)*spec.PVSlotBytes))
}
