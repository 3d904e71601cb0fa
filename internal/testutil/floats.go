package testutil

import (
	"encoding/binary"
	"math"
)

// PutFloats writes v into b, little-endian, as the reference devices
// read float32 data.
func PutFloats(b []byte, v []float32) {
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
}

// GetFloats reads len(b)/4 floats from b.
func GetFloats(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
