package simulator

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSameSeedGivesTheSameTraceByteForByte(t *testing.T) {
	sc := Automotive(20 * time.Second)
	sc.RecordTrace = true
	first := run(t, roundRobin(2*ms), sc, 42)
	second := run(t, roundRobin(2*ms), sc, 42)
	a, b := traceText(t, first), traceText(t, second)
	require.Greater(t, len(a), 10000, "a trace worth comparing")
	assert.True(t, bytes.Equal(a, b), "same seed, different traces")
	assert.Equal(t, first.Events, second.Events)
	for i := range first.VCoprocs {
		assert.True(t, slices.Equal(first.VCoprocs[i].Response.Samples, second.VCoprocs[i].Response.Samples), "vcoproc %d's response times", i)
	}
	checkAccounting(t, sc, first)

	other := run(t, roundRobin(2*ms), sc, 43)
	assert.False(t, bytes.Equal(a, traceText(t, other)), "a different seed should draw different execution times")
}

func TestAVCoprocsArrivalsDoNotDependOnTheOthers(t *testing.T) {
	sc := mixed(2 * time.Second)
	sc.RecordTrace = false
	alone := sc
	alone.VCoprocs = sc.VCoprocs[:3] // drop the dsp0 tenants
	alone.Devices = sc.Devices[:1]
	for i := range alone.VCoprocs {
		a, b := run(t, roundRobin(ms), sc, 7).VCoprocs[i], run(t, roundRobin(ms), alone, 7).VCoprocs[i]
		assert.Equal(t, a.Released, b.Released, "vcoproc %q", a.Name)
		assert.Equal(t, a.Response.Samples, b.Response.Samples, "vcoproc %q", a.Name)
	}
}
