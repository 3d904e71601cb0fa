package pvwire

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/coprocd/coprocd/spec"
)

// sharedRingMem maps a ring memfd the way both ends do. It must be a real
// mapping, not a Go slice: the race detector treats atomics on memory
// outside the Go heap differently (see storeFenced), and that is the
// memory the rings live in.
func sharedRingMem(t *testing.T, slots uint32) ([]byte, Layout) {
	t.Helper()
	l, err := NewLayout(slots, slots)
	require.NoError(t, err)
	fd, err := NewMemfd("pvwire-fence-test", l.Bytes)
	require.NoError(t, err)
	mem, err := Mmap(fd, 0, l.Bytes)
	_ = unix.Close(fd)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Munmap(mem) })
	InitControl(mem, l)
	return mem, l
}

// litmusRounds runs rounds of two functions started together on two
// goroutines (spinning on a shared round counter, so that they overlap as
// much as two threads can, each after a delay that varies from round to
// round so that either may lead) and calls check after each round with
// both done. It stops early after budget, or when check says so, and
// returns the rounds run.
func litmusRounds(t *testing.T, rounds int, budget time.Duration, a, b func(), check func(round int) bool) int {
	t.Helper()
	if runtime.GOMAXPROCS(0) < 2 {
		// Two goroutines on one thread run one after the other: the
		// reordering this looks for cannot happen, and spinning would
		// only burn the time slice.
		t.Skip("needs GOMAXPROCS >= 2 for the two sides to run at once")
	}
	var start, done atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := int64(1); r <= int64(rounds); r++ {
			for i := 0; start.Load() != r; i++ {
				if start.Load() < 0 {
					return
				}
				if i&255 == 255 {
					runtime.Gosched()
				}
			}
			_ = delay(r * 7)
			b()
			done.Store(r)
		}
	}()
	defer wg.Wait()
	deadline := time.Now().Add(budget)
	for r := 1; r <= rounds; r++ {
		start.Store(int64(r))
		_ = delay(int64(r) * 13)
		a()
		for i := 0; done.Load() != int64(r); i++ {
			if i&255 == 255 {
				runtime.Gosched()
			}
		}
		if !check(r) || time.Now().After(deadline) {
			start.Store(-1)
			return r
		}
	}
	return rounds
}

// delay burns 0 to 31 short steps, chosen by seed. It is not inlined and
// returns its sum, so that the loop stays.
//
//go:noinline
func delay(seed int64) (sum int64) {
	for i := seed % 32; i > 0; i-- {
		sum += i
	}
	return sum
}

// TestArmAndPublishNeverBothMiss is the store-buffering litmus test of the
// event-index rule on the real ring code and memory. Per round the
// consumer, with the ring empty, arms (stores its event index, loads prod)
// while the producer publishes one message (stores prod, loads the event
// index). Whatever the interleaving, at least one of them must see the
// other's store: either Arm reports the message (the consumer does not
// sleep) or Publish reports a kick. Both missing is a lost wakeup; it
// happens when a later load passes an earlier store, which sequentially
// consistent atomics forbid but the race detector's atomic store on
// memory outside the Go heap allowed (about 1 round in 10^4 on two CPUs).
func TestArmAndPublishNeverBothMiss(t *testing.T) {
	mem, l := sharedRingMem(t, 16)
	p, c := ResponseProducer(mem, l), ResponseConsumer(mem, l)
	// The message is written before each round, so that the round itself
	// is only the two store-then-load sequences.
	require.NoError(t, p.PutResult(1, spec.PVStatusOK, 0, ""))
	var armSaw, kick bool
	misses := 0
	rounds := litmusRounds(t, 200000, time.Second,
		func() { armSaw = c.Arm() },
		func() { kick = p.Publish() },
		func(round int) bool {
			if !armSaw && !kick {
				misses++
				t.Errorf("round %d: the consumer armed at %d and saw no message, and the producer published %d without a kick (event index %d): a lost wakeup",
					round, c.Position(), atomic.LoadUint32(p.r.prod), atomic.LoadUint32(p.r.prodEvent))
			}
			msg, err := c.Next()
			require.NoError(t, err)
			require.NotNil(t, msg)
			c.Publish()
			require.NoError(t, p.PutResult(1, spec.PVStatusOK, 0, ""))
			return misses < 5
		})
	t.Logf("%d rounds", rounds)
	assert.Zero(t, misses)
}

// TestWantSpaceAndConsumeNeverBothMiss is the same litmus test for the
// other direction: a producer that finds the ring full arms the consumer
// event index (WantSpace) while the consumer frees a slot (Publish of its
// index). Either WantSpace reports that it need not sleep, or Publish
// reports a kick.
func TestWantSpaceAndConsumeNeverBothMiss(t *testing.T) {
	mem, l := sharedRingMem(t, 16)
	p, c := ResponseProducer(mem, l), ResponseConsumer(mem, l)
	fillRing(t, p)
	msg, err := c.Next() // consumed, not yet published
	require.NoError(t, err)
	require.NotNil(t, msg)
	var retry, kick bool
	misses := 0
	rounds := litmusRounds(t, 200000, time.Second,
		func() {
			var err error
			retry, err = p.WantSpace(1)
			require.NoError(t, err)
		},
		func() { kick = c.Publish() },
		func(round int) bool {
			if !retry && !kick {
				misses++
				t.Errorf("round %d: the producer armed for space at %d and saw none, and the consumer published %d without a kick (event index %d): a lost wakeup",
					round, p.cons, atomic.LoadUint32(c.r.cons), atomic.LoadUint32(c.r.consEvent))
			}
			// Refill the slot just freed and consume one more, unpublished,
			// for the next round.
			fillRing(t, p)
			msg, err := c.Next()
			require.NoError(t, err)
			require.NotNil(t, msg)
			return misses < 5
		})
	t.Logf("%d rounds", rounds)
	assert.Zero(t, misses)
}
