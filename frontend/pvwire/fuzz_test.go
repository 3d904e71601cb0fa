package pvwire

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/spec"
)

func ringMem(t testing.TB, slots uint32) ([]byte, Layout) {
	l, err := NewLayout(slots, slots)
	require.NoError(t, err)
	mem := make([]byte, l.Bytes)
	InitControl(mem, l)
	return mem, l
}

// FuzzDecodeRequest: no input panics; what decodes re-encodes to a message
// that decodes the same.
func FuzzDecodeRequest(f *testing.F) {
	mem, l := ringMem(f, 64)
	p := RequestProducer(mem, l)
	c := RequestConsumer(mem, l)
	for _, r := range []Request{{Type: spec.PVRegRead, Size: 4, Offset: 0x40}, {Type: spec.PVRegWrite, Size: 8, Offset: 0x80, Value: 7},
		{Type: spec.PVSubmitIndirect, Count: 3, IOVA: 0x1000}, {Type: spec.PVAllocDevMem, Perm: 3, IOVA: 0x4000, Bytes: 4096},
		{Type: spec.PVFreeDevMem, IOVA: 8}, {Type: spec.PVPing}, {Type: spec.PVSubmit}} {
		require.NoError(f, p.PutRequest(&r, []uint64{spec.Header(spec.OpNop, 0)}))
		p.Publish()
		msg, err := c.Next()
		require.NoError(f, err)
		f.Add(append([]byte(nil), msg...))
		c.Publish()
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := DecodeRequest(msg)
		if err != nil {
			var de *DecodeError
			require.True(t, errors.As(err, &de), "%T", err)
			assert.NotEmpty(t, de.Msg)
			return
		}
		var words []uint64
		for i := 0; i+8 <= len(r.Words); i += 8 {
			words = append(words, binary.LittleEndian.Uint64(r.Words[i:]))
		}
		mem, l := ringMem(t, 256)
		p, c := RequestProducer(mem, l), RequestConsumer(mem, l)
		if err := p.PutRequest(&r, words); err != nil {
			return // too large for one message of this ring
		}
		p.Publish()
		again, err := c.Next()
		require.NoError(t, err)
		r2, err := DecodeRequest(again)
		require.NoError(t, err)
		r.Words, r2.Words = nil, nil
		assert.Equal(t, r, r2)
	})
}

func FuzzDecodeResponse(f *testing.F) {
	mem, l := ringMem(f, 64)
	p := ResponseProducer(mem, l)
	c := ResponseConsumer(mem, l)
	require.NoError(f, p.PutResult(1, 0, 42, ""))
	require.NoError(f, p.PutResult(2, spec.PVStatusAccess, 0, "denied"))
	require.NoError(f, p.PutEvent(0, spec.PVEventFence, 0, 3, 9, ""))
	p.Publish()
	for {
		msg, err := c.Next()
		require.NoError(f, err)
		if msg == nil {
			break
		}
		f.Add(append([]byte(nil), msg...))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := DecodeResponse(msg)
		if err != nil {
			var de *DecodeError
			require.True(t, errors.As(err, &de), "%T", err)
			return
		}
		assert.LessOrEqual(t, len(r.Text), spec.PVMaxText)
	})
}

func FuzzDecodeSock(f *testing.F) {
	for _, m := range []Sock{{Type: spec.PVHello, Hello: Hello{Major: 1, Caps: 7}}, {Type: spec.PVMap, Map: MapRequest{IOVA: 4096, Size: 4096, Perm: 3}},
		{Type: spec.PVUnmap, IOVA: 4096}, {Type: spec.PVGoodbye, Status: 13, Text: "bye"}, {Type: spec.PVSockResult, Text: "x"},
		{Type: spec.PVWelcome, Welcome: Welcome{Major: 1, Layout: mustLayout(16, 16), Domain: "d", Devices: []DeviceInfo{{Name: "gpu0", Model: "m", Class: "gpu"}}}}} {
		b, err := EncodeSock(&m)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeSock(b)
		if err != nil {
			var de *DecodeError
			require.True(t, errors.As(err, &de), "%T", err)
			return
		}
		again, err := EncodeSock(&m)
		require.NoError(t, err)
		m2, err := DecodeSock(again)
		require.NoError(t, err)
		assert.Equal(t, m, m2)
	})
}

func mustLayout(req, rsp uint32) Layout {
	l, err := NewLayout(req, rsp)
	if err != nil {
		panic(err)
	}
	return l
}

// FuzzConsumer lets the producer's side of the ring be anything: slot
// contents and a sequence of producer indexes. The consumer must return
// messages that lie within what it was given, or a protocol error, and
// never panic or read outside the ring.
func FuzzConsumer(f *testing.F) {
	mem, l := ringMem(f, 16)
	p := RequestProducer(mem, l)
	for i := 0; i < 5; i++ {
		r := Request{Type: spec.PVSubmit}
		require.NoError(f, p.PutRequest(&r, make([]uint64, 8*i)))
	}
	p.Publish()
	f.Add(append([]byte(nil), mem[l.ReqOffset:uint64(l.ReqOffset)+16*spec.PVSlotBytes]...), []byte{byte(p.prod), 0, 0, 0, 3, 0, 0, 0, 40, 0, 0, 0})
	f.Fuzz(func(t *testing.T, slots []byte, prods []byte) {
		mem, l := ringMem(t, 16)
		copy(mem[l.ReqOffset:uint64(l.ReqOffset)+16*spec.PVSlotBytes], slots)
		c := RequestConsumer(mem, l)
		for i := 0; i+4 <= len(prods) && i < 64; i += 4 {
			*word(mem, spec.PVCtlReqProd) = binary.LittleEndian.Uint32(prods[i:])
			for n := 0; n < 64; n++ {
				msg, err := c.Next()
				if err != nil {
					require.ErrorIs(t, err, ErrProtocol)
					return
				}
				if msg == nil {
					break
				}
				require.GreaterOrEqual(t, len(msg), spec.PVRingHeaderBytes)
				require.LessOrEqual(t, len(msg), 8*spec.PVSlotBytes) // half of 16 slots
				_, _ = DecodeRequest(msg)
			}
			c.Publish()
			c.Arm()
		}
	})
}

func TestRingWrapsWithPadding(t *testing.T) {
	mem, l := ringMem(t, 16)
	p, c := RequestProducer(mem, l), RequestConsumer(mem, l)
	for round := 0; round < 50; round++ {
		words := make([]uint64, round%20)
		for i := range words {
			words[i] = uint64(round*100 + i)
		}
		r := Request{Type: spec.PVSubmit, Tag: uint64(round)}
		if len(words) == 0 {
			r = Request{Type: spec.PVPing, Tag: uint64(round)}
		}
		require.NoError(t, p.PutRequest(&r, words))
		p.Publish()
		msg, err := c.Next()
		require.NoError(t, err)
		got, err := DecodeRequest(msg)
		require.NoError(t, err)
		assert.Equal(t, uint64(round), got.Tag)
		assert.Equal(t, 8*len(words), len(got.Words))
		for i := range words {
			assert.Equal(t, words[i], binary.LittleEndian.Uint64(got.Words[8*i:]))
		}
		c.Publish()
	}
	// Full ring: ErrRingFull, then room after consumption.
	for {
		err := p.PutRequest(&Request{Type: spec.PVPing}, nil)
		if err != nil {
			require.ErrorIs(t, err, ErrRingFull)
			break
		}
	}
	p.Publish()
	room, err := p.WantSpace(1)
	require.NoError(t, err)
	assert.False(t, room)
	msg, err := c.Next()
	require.NoError(t, err)
	require.NotNil(t, msg)
	assert.True(t, c.Publish(), "the producer asked to be told about consumption")
	room, err = p.WantSpace(1)
	require.NoError(t, err)
	assert.True(t, room)
}
