package demo

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemoComputesCorrectlyAndSwitches(t *testing.T) {
	res, err := Run(Options{})
	require.NoError(t, err)
	require.Len(t, res.Domains, 3)
	for _, d := range res.Domains {
		assert.True(t, d.OK, "%s: %s", d.Name, d.Detail)
		assert.Greater(t, d.Stats.SwitchesIn, uint64(1), d.Name)
		assert.Equal(t, uint64(1), d.Stats.JobsDone, d.Name)
	}
	assert.True(t, res.AllCorrect())
	assert.Equal(t, uint64(len(res.Trace)), res.Device.Switches)

	var out bytes.Buffer
	res.Print(&out, 5)
	for _, s := range []string{"cluster", "ivi", "adas", "correct", "switch trace (first 5 of", "-> ivi/gpu0"} {
		assert.Contains(t, out.String(), s)
	}
	assert.NotContains(t, out.String(), "WRONG")
}

func TestDemoIsDeterministic(t *testing.T) {
	a, err := Run(Options{Slice: 30 * time.Microsecond})
	require.NoError(t, err)
	b, err := Run(Options{Slice: 30 * time.Microsecond})
	require.NoError(t, err)
	assert.Equal(t, a.Trace, b.Trace)
	assert.Equal(t, a.VirtualTime, b.VirtualTime)
}
