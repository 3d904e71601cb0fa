package pvwire

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/coprocd/coprocd/spec"
)

var le = binary.LittleEndian

// DecodeError is a message whose bytes do not match its layout.
type DecodeError struct {
	Type   spec.PVType
	Status uint32 // spec.PVStatusMalformed or spec.PVStatusUnsupported
	Msg    string
}

func (e *DecodeError) Error() string {
	name := fmt.Sprintf("type 0x%02x", uint8(e.Type))
	if l, ok := spec.PVLayoutOf(e.Type); ok {
		name = strings.ToUpper(l.Name)
	}
	return fmt.Sprintf("pv: %s message: %s", name, e.Msg)
}

func malformed(t spec.PVType, format string, args ...any) error {
	return &DecodeError{Type: t, Status: spec.PVStatusMalformed, Msg: fmt.Sprintf(format, args...)}
}

// fixedBytes is the fixed payload size of each ring and socket type.
var fixedBytes [256]int

func init() {
	for i := range fixedBytes {
		fixedBytes[i] = -1
	}
	for _, l := range spec.PVLayouts {
		if l.Type != 0 {
			fixedBytes[l.Type] = l.Bytes
		}
	}
}

// Request is a decoded request ring message. Only the fields of its type's
// layout are set.
type Request struct {
	Type   spec.PVType
	Tag    uint64
	Dev    uint16
	Size   uint8
	Perm   uint8
	Offset uint32
	Value  uint64
	IOVA   uint64
	Bytes  uint64
	Count  uint32
	// Words are SUBMIT's 8*Count bytes of little-endian command words,
	// aliasing the message.
	Words []byte
}

// DecodeRequest decodes a request message (header and payload, as
// Consumer.Next returns it; the consumer has validated the framing).
func DecodeRequest(msg []byte) (Request, error) {
	var r Request
	if len(msg) < spec.PVRingHeaderBytes {
		return r, malformed(0, "%d bytes are shorter than the %d-byte header", len(msg), spec.PVRingHeaderBytes)
	}
	r.Type = spec.PVType(msg[spec.PVRHType])
	r.Tag = le.Uint64(msg[spec.PVRHTag:])
	n := le.Uint32(msg[spec.PVRHLen:])
	p := msg[spec.PVRingHeaderBytes:]
	if uint64(n) != uint64(len(p)) {
		return r, malformed(r.Type, "header says %d payload bytes, %d present", n, len(p))
	}
	if msg[spec.PVRHFlags] != 0 {
		return r, malformed(r.Type, "flags 0x%02x, want 0", msg[spec.PVRHFlags])
	}
	switch r.Type {
	case spec.PVRegRead, spec.PVRegWrite, spec.PVSubmit, spec.PVSubmitIndirect, spec.PVAllocDevMem, spec.PVFreeDevMem, spec.PVPing:
	default:
		return r, &DecodeError{Type: r.Type, Status: spec.PVStatusUnsupported, Msg: fmt.Sprintf("unknown request type 0x%02x", uint8(r.Type))}
	}
	want := fixedBytes[r.Type]
	if len(p) < want || (r.Type != spec.PVSubmit && len(p) != want) {
		return r, malformed(r.Type, "payload of %d bytes, want %d", len(p), want)
	}
	switch r.Type {
	case spec.PVRegRead, spec.PVRegWrite:
		r.Dev = le.Uint16(p[spec.PVReqDev:])
		r.Size = p[spec.PVReqSize]
		r.Offset = le.Uint32(p[spec.PVReqOffset:])
		if p[3] != 0 {
			return r, malformed(r.Type, "reserved byte is 0x%02x", p[3])
		}
		switch r.Size {
		case 1, 2, 4, 8:
		default:
			return r, malformed(r.Type, "access size %d, want 1, 2, 4 or 8", r.Size)
		}
		if r.Type == spec.PVRegWrite {
			r.Value = le.Uint64(p[spec.PVReqValue:])
		}
	case spec.PVSubmit, spec.PVSubmitIndirect:
		r.Dev = le.Uint16(p[spec.PVReqDev:])
		r.Count = le.Uint32(p[spec.PVReqCount:])
		if r.Count == 0 {
			return r, malformed(r.Type, "zero command words")
		}
		if r.Type == spec.PVSubmit {
			if uint64(len(p)-want) != 8*uint64(r.Count) {
				return r, malformed(r.Type, "%d command words announced, %d bytes of them present", r.Count, len(p)-want)
			}
			r.Words = p[want:]
		} else {
			r.IOVA = le.Uint64(p[spec.PVReqIOVA:])
			if r.IOVA%8 != 0 {
				return r, malformed(r.Type, "iova 0x%x is not 8-byte aligned", r.IOVA)
			}
		}
	case spec.PVAllocDevMem:
		r.Dev = le.Uint16(p[spec.PVReqDev:])
		r.Perm = p[spec.PVReqPerm]
		r.IOVA = le.Uint64(p[spec.PVReqIOVA:])
		r.Bytes = le.Uint64(p[spec.PVReqBytes:])
		if r.Perm < spec.PVPermRead || r.Perm > spec.PVPermReadWrite {
			return r, malformed(r.Type, "permission %d, want 1 (r), 2 (w) or 3 (rw)", r.Perm)
		}
	case spec.PVFreeDevMem:
		r.Dev = le.Uint16(p[spec.PVReqDev:])
		r.IOVA = le.Uint64(p[spec.PVReqIOVA:])
	}
	return r, nil
}

// PutRequest writes a request into the ring (visible at the next Publish).
// For SUBMIT, words are the command words.
func (p *Producer) PutRequest(r *Request, words []uint64) error {
	n := fixedBytes[r.Type]
	if n < 0 {
		return fmt.Errorf("pv: cannot encode request type 0x%02x", uint8(r.Type))
	}
	if r.Type == spec.PVSubmit {
		n += 8 * len(words)
	}
	b, err := p.Put(r.Type, r.Tag, n)
	if err != nil {
		return err
	}
	clear(b[:fixedBytes[r.Type]])
	switch r.Type {
	case spec.PVRegRead, spec.PVRegWrite:
		le.PutUint16(b[spec.PVReqDev:], r.Dev)
		b[spec.PVReqSize] = r.Size
		le.PutUint32(b[spec.PVReqOffset:], r.Offset)
		if r.Type == spec.PVRegWrite {
			le.PutUint64(b[spec.PVReqValue:], r.Value)
		}
	case spec.PVSubmit:
		le.PutUint16(b[spec.PVReqDev:], r.Dev)
		le.PutUint32(b[spec.PVReqCount:], uint32(len(words)))
		w := b[8:]
		for i, v := range words {
			le.PutUint64(w[8*i:], v)
		}
	case spec.PVSubmitIndirect:
		le.PutUint16(b[spec.PVReqDev:], r.Dev)
		le.PutUint32(b[spec.PVReqCount:], r.Count)
		le.PutUint64(b[spec.PVReqIOVA:], r.IOVA)
	case spec.PVAllocDevMem:
		le.PutUint16(b[spec.PVReqDev:], r.Dev)
		b[spec.PVReqPerm] = r.Perm
		le.PutUint64(b[spec.PVReqIOVA:], r.IOVA)
		le.PutUint64(b[spec.PVReqBytes:], r.Bytes)
	case spec.PVFreeDevMem:
		le.PutUint16(b[spec.PVReqDev:], r.Dev)
		le.PutUint64(b[spec.PVReqIOVA:], r.IOVA)
	}
	return nil
}

// Response is a decoded response ring message.
type Response struct {
	Type   spec.PVType
	Tag    uint64
	Status uint32
	Value  uint64 // RESULT value; EVENT fence value
	Dev    uint16 // EVENT
	Kind   uint8  // EVENT
	Job    uint64 // EVENT
	Text   string
}

// DecodeResponse decodes a response message.
func DecodeResponse(msg []byte) (Response, error) {
	var r Response
	if len(msg) < spec.PVRingHeaderBytes {
		return r, malformed(0, "%d bytes are shorter than the %d-byte header", len(msg), spec.PVRingHeaderBytes)
	}
	r.Type = spec.PVType(msg[spec.PVRHType])
	r.Tag = le.Uint64(msg[spec.PVRHTag:])
	p := msg[spec.PVRingHeaderBytes:]
	if n := le.Uint32(msg[spec.PVRHLen:]); uint64(n) != uint64(len(p)) {
		return r, malformed(r.Type, "header says %d payload bytes, %d present", n, len(p))
	}
	if r.Type != spec.PVResult && r.Type != spec.PVEvent {
		return r, &DecodeError{Type: r.Type, Status: spec.PVStatusUnsupported, Msg: fmt.Sprintf("unknown response type 0x%02x", uint8(r.Type))}
	}
	want := fixedBytes[r.Type]
	if len(p) < want || len(p)-want > spec.PVMaxText {
		return r, malformed(r.Type, "payload of %d bytes, want %d plus at most %d of text", len(p), want, spec.PVMaxText)
	}
	if r.Type == spec.PVResult {
		r.Status = le.Uint32(p[spec.PVResStatus:])
		r.Value = le.Uint64(p[spec.PVResValue:])
	} else {
		r.Dev = le.Uint16(p[spec.PVEvDev:])
		r.Kind = p[spec.PVEvKind]
		r.Status = le.Uint32(p[spec.PVEvStatus:])
		r.Job = le.Uint64(p[spec.PVEvJob:])
		r.Value = le.Uint64(p[spec.PVEvValue:])
		if r.Kind < spec.PVEventFence || r.Kind > spec.PVEventTimeout {
			return r, malformed(r.Type, "event kind %d, want 1 to %d", r.Kind, spec.PVEventTimeout)
		}
	}
	if len(p) > want {
		r.Text = string(p[want:])
	}
	return r, nil
}

// CutText limits a text to what a message carries.
func CutText(s string) string {
	if len(s) > spec.PVMaxText {
		return s[:spec.PVMaxText]
	}
	return s
}

// PutResult writes a RESULT.
func (p *Producer) PutResult(tag uint64, status uint32, value uint64, text string) error {
	text = CutText(text)
	b, err := p.Put(spec.PVResult, tag, spec.PVResText+len(text))
	if err != nil {
		return err
	}
	le.PutUint32(b[spec.PVResStatus:], status)
	le.PutUint32(b[4:], 0)
	le.PutUint64(b[spec.PVResValue:], value)
	copy(b[spec.PVResText:], text)
	return nil
}

// PutEvent writes an EVENT.
func (p *Producer) PutEvent(dev uint16, kind uint8, status uint32, job, value uint64, text string) error {
	text = CutText(text)
	b, err := p.Put(spec.PVEvent, 0, spec.PVEvText+len(text))
	if err != nil {
		return err
	}
	le.PutUint16(b[spec.PVEvDev:], dev)
	b[spec.PVEvKind] = kind
	b[3] = 0
	le.PutUint32(b[spec.PVEvStatus:], status)
	le.PutUint64(b[spec.PVEvJob:], job)
	le.PutUint64(b[spec.PVEvValue:], value)
	copy(b[spec.PVEvText:], text)
	return nil
}

// MessageSlots is how many slots a response with text takes: what a host
// reserves room for when it queues one.
func MessageSlots(typ spec.PVType, text string) int {
	return SlotsFor(fixedBytes[typ] + len(CutText(text)))
}
