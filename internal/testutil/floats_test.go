package testutil

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFloatsRoundTrip(t *testing.T) {
	v := []float32{0, 1, -2.5, float32(math.Inf(1)), math.SmallestNonzeroFloat32}
	b := make([]byte, 4*len(v))
	PutFloats(b, v)
	assert.Equal(t, []byte{0, 0, 0x80, 0x3f}, b[4:8], "little-endian IEEE 754")
	assert.Equal(t, v, GetFloats(b))
}
