// Package clock is the time source injected into coprocd's pure cores.
//
// Scheduling policies, the mediator's stepping logic and the device models
// never read the wall clock themselves: they are handed a Clock. The daemon
// hands them Real; tests and the discrete-event simulator hand them a
// Virtual clock they advance explicitly, so that the same code makes the same
// decisions at the same virtual instants on every run.
//
// Time is a time.Duration since the clock's origin: monotonic, comparable and
// cheap to add to, which is all a scheduler needs.
package clock

import (
	"sync"
	"time"
)

// Clock reports the current instant as the time elapsed since its origin.
type Clock interface {
	Now() time.Duration
}

// Real is a Clock backed by the host's monotonic clock.
type Real struct{ origin time.Time }

// NewReal returns a real clock whose origin is the moment of the call.
func NewReal() *Real { return &Real{origin: time.Now()} }

// Now returns the time elapsed since the clock was created.
func (r *Real) Now() time.Duration { return time.Since(r.origin) }

// Virtual is a Clock that moves only when told to. It is safe for concurrent
// use so that a test may read it from another goroutine.
type Virtual struct {
	mu  sync.Mutex
	now time.Duration
}

// NewVirtual returns a virtual clock standing at zero.
func NewVirtual() *Virtual { return &Virtual{} }

// Now returns the virtual instant.
func (v *Virtual) Now() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// Advance moves the clock forward by d. A negative d is ignored: virtual time
// never goes backwards.
func (v *Virtual) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	v.mu.Lock()
	v.now += d
	v.mu.Unlock()
}

// AdvanceTo moves the clock to t if t is later than the current instant.
func (v *Virtual) AdvanceTo(t time.Duration) {
	v.mu.Lock()
	if t > v.now {
		v.now = t
	}
	v.mu.Unlock()
}
