package waitplan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestEstimateFollowsRFC6298(t *testing.T) {
	var e Estimate
	e.Add(80 * time.Millisecond)
	assert.Equal(t, Estimate{warm: true}, e, "the first, cold wait is left out")
	e.Add(800 * time.Microsecond)
	assert.Equal(t, Estimate{warm: true, n: 1, mean: 800 * time.Microsecond, dev: 400 * time.Microsecond}, e)
	e.Add(1600 * time.Microsecond) // |diff| 800: dev += (800-400)/4, mean += 800/8
	assert.Equal(t, Estimate{warm: true, n: 2, mean: 900 * time.Microsecond, dev: 500 * time.Microsecond}, e)
	for range 200 {
		e.Add(time.Millisecond)
	}
	assert.Equal(t, MinSamples, e.Samples(), "n stops counting once predictions start")
	assert.InDelta(t, float64(time.Millisecond), float64(e.Mean()), float64(time.Microsecond))
	assert.Less(t, e.Dev(), time.Microsecond, "a steady wait's deviation decays")
}

func TestMake(t *testing.T) {
	const spin = 20 * time.Microsecond
	us := time.Microsecond
	steady := func(mean, dev time.Duration) Estimate {
		return Estimate{warm: true, n: MinSamples, mean: mean, dev: dev}
	}
	late := Estimate{warm: true, n: 3, mean: 100 * us, dev: 10 * us} // lateness margin 140 µs
	for _, tc := range []struct {
		name         string
		expect, late Estimate
		pollThrough  bool
		noSpin       bool // plan without a first poll, as the host does
		want         Plan
	}{
		{"too few waits seen", Estimate{warm: true, n: MinSamples - 1, mean: 5 * time.Millisecond}, late, true, false, Plan{Spin: spin}},
		{"waits vary too much", steady(1000*us, 501*us), late, true, false, Plan{Spin: spin}},
		{"long and steady: sleep, then poll",
			steady(1000*us, 50*us), late, true, false,
			Plan{Spin: spin, Wake: (1000 - 100 - 140) * us, Tail: (1000 + 200 + 20) * us}},
		{"no lateness measured yet: assume the default",
			steady(1000*us, 50*us), Estimate{}, true, false,
			Plan{Spin: spin, Wake: 900*us - DefaultLateness, Tail: 1220 * us}},
		{"due soon: poll through it",
			steady(60*us, 10*us), late, true, false,
			Plan{Spin: (60 + 40 + 20) * us}},
		{"due soon, but not to be polled through",
			steady(60*us, 10*us), late, false, false,
			Plan{Spin: spin}},
		{"due too late for a sleep to pay, too soon to poll through",
			steady(250*us, 40*us), late, true, false,
			Plan{Spin: spin + 2*140*us}},
		{"shorter than the poll anyway", steady(5*us, us), late, true, false, Plan{Spin: (5 + 4 + 20) * us}},
		{"no first poll", steady(1000*us, 50*us), late, false, true, Plan{Wake: 760 * us, Tail: 1200 * us}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := spin
			if tc.noSpin {
				first = 0
			}
			assert.Equal(t, tc.want, Make(first, tc.expect, tc.late, tc.pollThrough))
		})
	}
}
