package pvwire

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func newTestSleeper(t *testing.T) (int, *Sleeper) {
	t.Helper()
	fd, err := NewEventfd()
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fd) })
	s, err := NewSleeper(fd)
	require.NoError(t, err)
	return fd, s
}

// TestSleeperWakesAndTimesOut: a Sleeper keeps Wait's contract in both of
// its phases — in ppoll (a wait up to sleeperRawPhase, and the first part
// of a longer one) and parked on the runtime's poller (the rest).
func TestSleeperWakesAndTimesOut(t *testing.T) {
	fd, s := newTestSleeper(t)
	kickAfter := func(d time.Duration) {
		time.AfterFunc(d, func() { _ = Kick(fd) })
	}

	t.Run("kicked before", func(t *testing.T) {
		require.NoError(t, Kick(fd))
		kicked, err := s.Wait(time.Second)
		require.NoError(t, err)
		assert.True(t, kicked)
		kicked, err = s.Wait(0)
		require.NoError(t, err)
		assert.False(t, kicked, "the wait reset the counter")
	})
	t.Run("short timeout", func(t *testing.T) {
		start := time.Now()
		kicked, err := s.Wait(time.Millisecond)
		require.NoError(t, err)
		assert.False(t, kicked)
		assert.GreaterOrEqual(t, time.Since(start), time.Millisecond)
	})
	t.Run("long timeout", func(t *testing.T) {
		start := time.Now()
		kicked, err := s.Wait(4 * sleeperRawPhase)
		require.NoError(t, err)
		assert.False(t, kicked)
		assert.GreaterOrEqual(t, time.Since(start), 4*sleeperRawPhase, "the parked phase keeps the deadline")
	})
	t.Run("kicked in ppoll", func(t *testing.T) {
		kickAfter(sleeperRawPhase / 4)
		kicked, err := s.Wait(time.Minute)
		require.NoError(t, err)
		assert.True(t, kicked)
	})
	t.Run("kicked while parked", func(t *testing.T) {
		kickAfter(3 * sleeperRawPhase)
		start := time.Now()
		kicked, err := s.Wait(time.Minute)
		require.NoError(t, err)
		assert.True(t, kicked)
		assert.Less(t, time.Since(start), 30*time.Second)
		kicked, err = s.Wait(0)
		require.NoError(t, err)
		assert.False(t, kicked, "the parked read reset the counter")
	})
	t.Run("for ever", func(t *testing.T) {
		kickAfter(3 * sleeperRawPhase)
		kicked, err := s.Wait(-1)
		require.NoError(t, err)
		assert.True(t, kicked)
	})
	t.Run("park", func(t *testing.T) {
		start := time.Now()
		kicked, err := s.Park(sleeperRawPhase / 2)
		require.NoError(t, err)
		assert.False(t, kicked)
		assert.GreaterOrEqual(t, time.Since(start), sleeperRawPhase/2)
		kickAfter(sleeperRawPhase / 4)
		kicked, err = s.Park(time.Minute)
		require.NoError(t, err)
		assert.True(t, kicked, "a kick ends a park")
		require.NoError(t, Kick(fd))
		kicked, err = s.Park(0)
		require.NoError(t, err)
		assert.True(t, kicked, "Park(0) takes a counted kick")
	})
	t.Run("drain", func(t *testing.T) {
		require.NoError(t, Kick(fd))
		require.NoError(t, Kick(fd))
		s.Drain()
		kicked, err := s.Wait(0)
		require.NoError(t, err)
		assert.False(t, kicked)
	})
}

// TestSleeperLeavesTheFileToItsOwner: the parked phase works on a
// duplicate; the caller's descriptor stays open and usable.
func TestSleeperLeavesTheFileToItsOwner(t *testing.T) {
	fd, s := newTestSleeper(t)
	_, err := s.Wait(2 * sleeperRawPhase) // parks, and closes its duplicate
	require.NoError(t, err)
	require.NoError(t, Kick(fd))
	kicked, err := Wait(fd, time.Second)
	require.NoError(t, err)
	assert.True(t, kicked, "the caller's eventfd still works")
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	require.NoError(t, err)
	assert.NotZero(t, flags&unix.O_NONBLOCK, "the file is non-blocking, for the poller")
}
