package frontend

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDurationEstimateFollowsRFC6298(t *testing.T) {
	var e durationEstimate
	e.add(80 * time.Millisecond)
	assert.Equal(t, durationEstimate{warm: true}, e, "the first, cold wait is left out")
	e.add(800 * time.Microsecond)
	assert.Equal(t, durationEstimate{warm: true, n: 1, mean: 800 * time.Microsecond, dev: 400 * time.Microsecond}, e)
	e.add(1600 * time.Microsecond) // |diff| 800: dev += (800-400)/4, mean += 800/8
	assert.Equal(t, durationEstimate{warm: true, n: 2, mean: 900 * time.Microsecond, dev: 500 * time.Microsecond}, e)
	for range 200 {
		e.add(time.Millisecond)
	}
	assert.Equal(t, minWaitSamples, e.n, "n stops counting once predictions start")
	assert.InDelta(t, float64(time.Millisecond), float64(e.mean), float64(time.Microsecond))
	assert.Less(t, e.dev, time.Microsecond, "a steady wait's deviation decays")
}

func TestPlanWait(t *testing.T) {
	const spin = 20 * time.Microsecond
	us := time.Microsecond
	steady := func(mean, dev time.Duration) durationEstimate {
		return durationEstimate{warm: true, n: minWaitSamples, mean: mean, dev: dev}
	}
	late := durationEstimate{warm: true, n: 3, mean: 100 * us, dev: 10 * us} // lateness margin 140 µs
	for _, tc := range []struct {
		name         string
		expect, late durationEstimate
		want         waitPlan
	}{
		{"too few waits seen", durationEstimate{warm: true, n: minWaitSamples - 1, mean: 5 * time.Millisecond}, late, waitPlan{spin: spin}},
		{"waits vary too much", steady(1000*us, 501*us), late, waitPlan{spin: spin}},
		{"long and steady: sleep, then poll",
			steady(1000*us, 50*us), late,
			waitPlan{spin: spin, wake: (1000 - 100 - 140) * us, tail: (1000 + 200 + 20) * us}},
		{"no lateness measured yet: assume the default",
			steady(1000*us, 50*us), durationEstimate{},
			waitPlan{spin: spin, wake: 900*us - defaultSleepLateness, tail: 1220 * us}},
		{"due soon: poll through it",
			steady(60*us, 10*us), late,
			waitPlan{spin: (60 + 40 + 20) * us}},
		{"due too late for a sleep to pay, too soon to poll through",
			steady(250*us, 40*us), late,
			waitPlan{spin: spin + 2*140*us}},
		{"shorter than the poll anyway", steady(5*us, us), late, waitPlan{spin: (5 + 4 + 20) * us}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, planWait(spin, tc.expect, tc.late))
		})
	}
}
