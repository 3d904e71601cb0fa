package cheader

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/spec"
)

// TestHeaderCoversTheSpec checks that every layout and every field of
// spec/pv.go, and every reference-GPU register and command, is in the
// header (gcc checks the layouts themselves in frontend's TestCProgram).
func TestHeaderCoversTheSpec(t *testing.T) {
	var a, b bytes.Buffer
	require.NoError(t, Write(&a))
	require.NoError(t, Write(&b))
	assert.Equal(t, a.String(), b.String(), "the header must be deterministic")
	h := a.String()
	for _, l := range spec.PVLayouts {
		if l.Type != 0 {
			assert.Contains(t, h, "#define PV_MSG_"+strings.ToUpper(l.Name)+" ")
		}
		for _, f := range l.Fields {
			assert.Contains(t, h, "offsetof(struct pv_"+l.Name+", "+f.Name+")")
		}
	}
	for _, r := range spec.ReferenceGPU().Registers.Registers() {
		assert.Contains(t, h, "#define REFGPU_REG_"+r.Name+" ")
	}
	for _, c := range spec.ReferenceGPU().Commands.Commands() {
		assert.Contains(t, h, "#define REFGPU_OP_"+c.Name+" ")
	}
	assert.Contains(t, h, "pv_need_event")
}
