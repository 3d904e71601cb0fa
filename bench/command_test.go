package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/internal/testutil"
)

func runCommand(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewCommand()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return stdout.String(), stderr.String(), err
}

func TestCommandRunsAShippedScenarioAndWritesTheReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "{scenario}")
	stdout, stderr, err := runCommand(t, "automotive", "--horizon", "2s", "--policies", "edf+wfair,rrobin", "--out", out, "--seed", "3")
	require.NoError(t, err, stderr)
	assert.Equal(t, "bench", NewCommand().Name())
	assert.Contains(t, stdout, "scenario automotive (embedded:automotive.yaml), mode sim, seed 3, horizon 2s")
	assert.Contains(t, stdout, "Deadline misses")
	assert.Contains(t, stdout, "edf+wfair")
	assert.Contains(t, stdout, "report: ")
	assert.Contains(t, stderr, "2 policies × 2s of virtual time in", "the timing line goes to stderr")
	assert.NotContains(t, stderr, "█", "no progress bar when stderr is not a terminal")
	dir := filepath.Join(filepath.Dir(out), "automotive")
	for _, f := range []string{MarkdownFile, JSONFile, DomainsCSVFile, DevicesCSVFile, "timeline-rrobin.svg"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		assert.Positive(t, st.Size(), f)
	}
}

func TestCommandReadsAScenarioFileAndHonoursQuiet(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tiny.yaml")
	require.NoError(t, os.WriteFile(p, []byte(minimal), 0o644))
	stdout, stderr, err := runCommand(t, "--scenario", p, "--policies", "wfair", "--out", "", "--quiet", "--detail", "--format", "none")
	require.NoError(t, err)
	assert.Empty(t, stderr)
	assert.Contains(t, stdout, "scenario x ("+p+")")
	assert.Contains(t, stdout, "Domains")
	assert.NotContains(t, stdout, "report: ")
}

func TestCommandRefusesBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "which scenario?"},
		{[]string{"automotive", "--scenario", "x.yaml"}, "not both"},
		{[]string{"automotive", "--policies", "lottery"}, `unknown policy "lottery"`},
		{[]string{"automotive", "--mode", "real"}, `--mode "real"`},
		{[]string{"automotive", "--format", "gif"}, `--format "gif"`},
		{[]string{"automotive", "--horizon", "-1s"}, "--horizon -1s"},
		{[]string{"nowhere"}, `no shipped scenario "nowhere"`},
		{[]string{"fpga", "--mode", "live"}, "device fpga0 is an FPGA, and live mode drives the reference GPU only"},
	} {
		_, _, err := runCommand(t, tc.args...)
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want, "%v", tc.args)
	}
	_, _, err := runCommand(t, "dsp", "--mode", "live")
	assert.ErrorIs(t, err, ErrLiveUnavailable)
}

// TestCommandRunsLive: --mode live starts its guests from its own
// executable ("bench guest", which TestMain serves in a test) and writes
// the same report as sim mode.
func TestCommandRunsLive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tiny.yaml")
	require.NoError(t, os.WriteFile(p, []byte(minimal), 0o644))
	out := filepath.Join(t.TempDir(), "report")
	stdout, stderr, err := runCommand(t, "--scenario", p, "--mode", "live", "--horizon", "300ms", "--policies", "wfair", "--out", out)
	require.NoError(t, err)
	assert.Contains(t, stdout, "mode live, seed 0, horizon 300ms of real time per policy")
	assert.Contains(t, stdout, "report: ")
	assert.Contains(t, stderr, "1 policies × 300ms of real time per policy in")
	for _, f := range []string{MarkdownFile, JSONFile, DomainsCSVFile, DevicesCSVFile, "timeline-wfair.svg", "latency-cdf-a.svg"} {
		_, err := os.Stat(filepath.Join(out, f))
		assert.NoError(t, err, f)
	}
}

func TestListCommand(t *testing.T) {
	stdout, _, err := runCommand(t, "list")
	require.NoError(t, err)
	for _, want := range []string{"automotive", "cloud", "fpga", "dsp", "edf+wfair", "gvt-g", "nvidia-fixed-share", "amd-gim", "anchor"} {
		assert.Contains(t, stdout, want)
	}
}

// TestProgressBarAppearsOnlyForLongRuns: the bar is drawn once the delay
// has passed with runs outstanding, and never for a shoot-out that is
// already done.
func TestProgressBarAppearsOnlyForLongRuns(t *testing.T) {
	var buf testutil.SyncBuffer
	p := startProgress(&buf, 0, 3, "automotive")
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.bar != nil
	}, 5*time.Second, time.Millisecond)
	p.done("rrobin")
	p.done("gvt-g")
	p.done("amd-gim")
	p.finish()
	assert.Contains(t, buf.String(), "automotive")

	var quiet testutil.SyncBuffer
	q := startProgress(&quiet, time.Hour, 1, "cloud")
	q.done("wfair")
	q.finish()
	assert.Empty(t, quiet.String())
}
