package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWireNames pins the JSON field names: they are the API's contract
// with scripts, and a rename must be deliberate.
func TestWireNames(t *testing.T) {
	b, err := json.Marshal(VCoprocRequest{Device: "gpu0", Weight: 2, Memory: 4096})
	require.NoError(t, err)
	assert.JSONEq(t, `{"device":"gpu0","weight":2,"memory_bytes":4096}`, string(b))
	b, err = json.Marshal(Policy{Name: "rrobin", SliceNs: 1000})
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"rrobin","slice_ns":1000}`, string(b))
	b, err = json.Marshal(Profile{Name: "p", Available: 1})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"available_instances":1`)
}

func TestDefaultPaths(t *testing.T) {
	assert.True(t, strings.HasSuffix(DefaultControlSocket(), "/control.sock"))
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	assert.NotEmpty(t, DefaultRuntimeDir())
}
