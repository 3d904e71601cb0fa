package dspref

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDefinitionsOnSmallCases(t *testing.T) {
	assert.Equal(t, []float32{1, 2.5, 4, 5.5}, FIR([]float32{1, 0.5}, []float32{1, 2, 3, 4}))
	// DFT of an impulse: all ones; its inverse gives the impulse back.
	x := []float32{1, 0, 0, 0, 0, 0, 0, 0}
	assert.Equal(t, []float64{1, 0, 1, 0, 1, 0, 1, 0}, DFT(x, false))
	back := DFT([]float32{1, 0, 1, 0, 1, 0, 1, 0}, true)
	assert.InDeltaSlice(t, []float64{1, 0, 0, 0, 0, 0, 0, 0}, back, 1e-12)
	assert.Equal(t, []float32{0.75, 1, -1}, Mix([]float32{0.5, 0.5}, []float32{1, 0.5, 2, 2, -3, -1}), "clamped to [-1, 1]")
	v := Samples(1, 1000)
	assert.Equal(t, v, Samples(1, 1000), "deterministic")
	for _, s := range v {
		assert.True(t, s >= -1 && s < 1, "%v in [-1, 1)", s)
	}
	assert.Equal(t, 0.5, MaxAbsDiff([]float32{1, 2}, []float64{1.5, 2}))
}
