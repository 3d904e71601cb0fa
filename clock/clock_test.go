package clock

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestVirtualMovesOnlyForward(t *testing.T) {
	v := NewVirtual()
	assert.Equal(t, time.Duration(0), v.Now())
	v.Advance(5 * time.Millisecond)
	v.Advance(-time.Second)
	assert.Equal(t, 5*time.Millisecond, v.Now())
	v.AdvanceTo(3 * time.Millisecond)
	assert.Equal(t, 5*time.Millisecond, v.Now(), "AdvanceTo the past is ignored")
	v.AdvanceTo(7 * time.Millisecond)
	assert.Equal(t, 7*time.Millisecond, v.Now())
}

func TestVirtualIsSafeForConcurrentUse(t *testing.T) {
	v := NewVirtual()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				v.Advance(time.Nanosecond)
				_ = v.Now()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 4000*time.Nanosecond, v.Now())
}

func TestRealIsMonotonic(t *testing.T) {
	var c Clock = NewReal()
	a := c.Now()
	time.Sleep(time.Millisecond)
	b := c.Now()
	assert.GreaterOrEqual(t, a, time.Duration(0))
	assert.GreaterOrEqual(t, b-a, time.Millisecond)
}
