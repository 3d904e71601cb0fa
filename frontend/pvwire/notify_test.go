package pvwire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/spec"
)

// fillRing puts one-slot RESULTs until the ring is full and publishes them.
func fillRing(t *testing.T, p *Producer) {
	t.Helper()
	for {
		err := p.PutResult(1, spec.PVStatusOK, 0, "")
		if err != nil {
			require.ErrorIs(t, err, ErrRingFull)
			break
		}
	}
	p.Publish()
}

// consumeOne consumes one message and publishes the consumer index,
// reporting whether the producer asked for a kick.
func consumeOne(t *testing.T, c *Consumer) bool {
	t.Helper()
	msg, err := c.Next()
	require.NoError(t, err)
	require.NotNil(t, msg)
	return c.Publish()
}

// TestWantSpaceArmsAtTheFreshIndex: a producer waits for room for a
// message of several slots after the consumer has already moved a little
// (so there is some room, not enough). When WantSpace says "sleep", the
// consumer's next move must kick; an event index left at the consumer
// index seen before the move would let that move, and every later one,
// pass unannounced.
func TestWantSpaceArmsAtTheFreshIndex(t *testing.T) {
	mem, l := ringMem(t, 16)
	p, c := ResponseProducer(mem, l), ResponseConsumer(mem, l)
	fillRing(t, p)
	consumeOne(t, c) // (kicks or not: the event index starts at 0)
	const slots = 4  // a RESULT with text
	retry, err := p.WantSpace(slots)
	require.NoError(t, err)
	require.False(t, retry, "one slot is free, %d are needed", slots)
	assert.True(t, consumeOne(t, c), "the first move after WantSpace must kick the producer")
	assert.False(t, consumeOne(t, c), "one kick per arming")
}

// TestWantSpaceRetriesWhenTheConsumerMoves: room for the message, or any
// movement of the consumer, means "retry", not "sleep".
func TestWantSpaceRetriesWhenTheConsumerMoves(t *testing.T) {
	mem, l := ringMem(t, 16)
	p, c := ResponseProducer(mem, l), ResponseConsumer(mem, l)
	fillRing(t, p)
	retry, err := p.WantSpace(1)
	require.NoError(t, err)
	require.False(t, retry, "the ring is full")
	consumeOne(t, c)
	retry, err = p.WantSpace(1)
	require.NoError(t, err)
	assert.True(t, retry, "a slot is free")
}

// TestArmAndPublishKick: the event-index rule in one thread: a consumer
// that armed is kicked by the next publish, once; one that did not arm
// (a poller) is not.
func TestArmAndPublishKick(t *testing.T) {
	mem, l := ringMem(t, 16)
	p, c := RequestProducer(mem, l), RequestConsumer(mem, l)
	require.False(t, c.Arm(), "the ring is empty")
	require.NoError(t, p.PutRequest(&Request{Type: spec.PVPing}, nil))
	assert.True(t, p.Publish(), "the consumer armed: kick")
	require.NoError(t, p.PutRequest(&Request{Type: spec.PVPing}, nil))
	assert.False(t, p.Publish(), "already kicked for the first")
	assert.True(t, c.Arm(), "two requests wait: do not sleep")
	for i := 0; i < 2; i++ {
		msg, err := c.Next()
		require.NoError(t, err)
		require.NotNil(t, msg)
	}
	c.Publish()
	require.NoError(t, p.PutRequest(&Request{Type: spec.PVPing}, nil))
	assert.False(t, p.Publish(), "a consumer that polls (did not arm again) is not kicked")
}

func TestReadIndexes(t *testing.T) {
	mem, l := ringMem(t, 16)
	p, c := RequestProducer(mem, l), RequestConsumer(mem, l)
	require.NoError(t, p.PutRequest(&Request{Type: spec.PVPing}, nil))
	p.Publish()
	c.Arm()
	x := ReadIndexes(mem)
	assert.Equal(t, Indexes{ReqProd: 1, ReqProdEvent: 0}, x)
	_, err := c.Next()
	require.NoError(t, err)
	c.Publish()
	c.Arm()
	x = ReadIndexes(mem)
	assert.Equal(t, Indexes{ReqProd: 1, ReqCons: 1, ReqProdEvent: 1}, x)
	assert.Contains(t, x.String(), "request ring prod 1 cons 1 prod_event 1")
}

func TestEventfdCount(t *testing.T) {
	fd, err := NewEventfd()
	require.NoError(t, err)
	defer unix.Close(fd)
	n, err := EventfdCount(fd)
	require.NoError(t, err)
	assert.Zero(t, n)
	for i := 0; i < 17; i++ {
		require.NoError(t, Kick(fd))
	}
	n, err = EventfdCount(fd)
	require.NoError(t, err)
	assert.Equal(t, uint64(17), n, "17 kicks, and reading the count must not consume them")
	assert.Equal(t, "17", EventfdState(fd))
	Drain(fd)
	assert.Equal(t, "0", EventfdState(fd))

	var pipe [2]int
	require.NoError(t, unix.Pipe(pipe[:]))
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	_, err = EventfdCount(pipe[0])
	assert.ErrorContains(t, err, "not an eventfd")
	_, err = EventfdCount(-1)
	assert.ErrorContains(t, err, "reading the counter of eventfd -1")
}
