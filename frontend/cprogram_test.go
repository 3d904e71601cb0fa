package frontend_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/frontend/cheader"
	"github.com/coprocd/coprocd/pvhost/pvtest"
)

// TestCProgram generates the C header, builds frontend/c with gcc against
// it, and runs the program against a live host: it must negotiate, map a
// buffer, run FILL and FENCE on the reference GPU and find the result.
func TestCProgram(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("gcc is needed to build the C example: %v", err)
		}
		t.Skipf("gcc is needed to build the C example: %v", err)
	}
	dir := t.TempDir()
	var hdr bytes.Buffer
	require.NoError(t, cheader.Write(&hdr))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "coprocd_pv.h"), hdr.Bytes(), 0o644))
	sources, err := filepath.Glob("c/*.c")
	require.NoError(t, err)
	require.NotEmpty(t, sources)
	bin := filepath.Join(dir, "pvexample")
	args := append([]string{"-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I", dir, "-o", bin}, sources...)
	out, err := exec.Command(gcc, args...).CombinedOutput()
	require.NoError(t, err, "gcc: %s", out)

	h := pvtest.NewHost(t, pvtest.Options{})
	g := h.StartProgram(t, pvtest.Domain("c-guest", "gpu0", 0), bin, h.Path, "0xC0FFEE")
	text, err := g.Wait(30 * time.Second)
	require.NoError(t, err, text)
	assert.Contains(t, text, "pvexample: domain c-guest, device gpu0 (coprocd-refgpu), protocol 1.0")
	assert.Contains(t, text, "pvexample: ok: 3072 words filled with 0xc0ffee, fence 42")
	require.NoError(t, pvtest.WaitFor(5*time.Second, func() bool { return len(h.Server.Sessions()) == 0 }))
	_, ok := h.M.Domain("c-guest")
	assert.False(t, ok, "the C guest's domain outlived its session")
}
