package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func simulate(t *testing.T, name string, opts Options) *Report {
	t.Helper()
	sc, err := Load(name)
	require.NoError(t, err)
	rep, err := Simulate(sc, opts)
	require.NoError(t, err)
	for _, run := range rep.Runs {
		require.Empty(t, run.Error, run.Policy)
	}
	return rep
}

// TestAutomotiveShootout: with infotainment saturating the GPU, EDF/CBS
// under the hierarchical policy misses no cluster frame and no ADAS
// deadline, while Xen's round-robin misses cluster frames on the same work,
// and round-robin and GVT-g's replica have a higher cluster p99.
func TestAutomotiveShootout(t *testing.T) {
	rep := simulate(t, "automotive", Options{Policies: []string{"edf+wfair", "rrobin", "gvt-g"}, Horizon: 20 * time.Second})
	edf := rep.Run("edf+wfair")
	require.NotNil(t, edf)
	for _, d := range edf.Domains {
		require.Empty(t, d.Refused, d.Name)
	}
	cluster := edf.Domain("cluster")
	assert.InDelta(t, 1200, cluster.Released, 1, "60 fps for 20 s")
	assert.Zero(t, cluster.DeadlineMisses)
	assert.Zero(t, edf.Domain("adas-lane").DeadlineMisses)
	assert.Zero(t, edf.Domain("adas-objects").DeadlineMisses)
	assert.LessOrEqual(t, cluster.MaxNS, int64(time.Second/60), "every frame within its period")
	assert.Greater(t, edf.Domain("ivi").Share, 0.4, "infotainment still gets what the real-time tenants leave")

	rr := rep.Run("rrobin").Domain("cluster")
	assert.Positive(t, rr.DeadlineMisses, "round-robin misses cluster frames")
	assert.Greater(t, rr.P99NS, cluster.P99NS, "round-robin has a higher cluster p99")
	gvtg := rep.Run("gvt-g").Domain("cluster")
	assert.Greater(t, gvtg.P99NS, cluster.P99NS, "GVT-g has a higher cluster p99")
	dev := edf.Device("gpu0")
	require.NotNil(t, dev)
	assert.Greater(t, dev.Utilization, 0.98)
	assert.Equal(t, rep.HorizonNS, dev.BusyNS+dev.SwitchingNS+dev.IdleNS)
	assert.InDelta(t, float64(dev.SwitchingNS)/float64(rep.HorizonNS), dev.SwitchingShare, 1e-12)
}

// TestCloudShootout: weighted fair share divides the device among the
// backlogged tenants by weight (Jain ≥ 0.99) and keeps it ≥ 95% busy after
// t4 goes idle; NVIDIA's equal share ignores the weights.
func TestCloudShootout(t *testing.T) {
	rep := simulate(t, "cloud", Options{Policies: []string{"wfair", "nvidia-equal-share"}, Horizon: 20 * time.Second})
	fair := rep.Run("wfair").Device("gpu0")
	assert.GreaterOrEqual(t, fair.JainBacklogged, 0.99)
	assert.Equal(t, int64(10*time.Second), fair.FirstStopNS)
	assert.GreaterOrEqual(t, fair.UtilizationAfterStop, 0.95)
	t1, t3 := rep.Run("wfair").Domain("t1"), rep.Run("wfair").Domain("t3")
	assert.InDelta(t, 3, float64(t3.ServiceNS)/float64(t1.ServiceNS), 0.05, "weight 3 gets three times weight 1")

	equal := rep.Run("nvidia-equal-share").Device("gpu0")
	assert.Less(t, equal.JainBacklogged, 0.9, "equal share ignores the weights")
	assert.Less(t, equal.UtilizationAfterStop, fair.UtilizationAfterStop, "equal share holds idle slots")
}

func TestReportFilesAreWellFormed(t *testing.T) {
	rep := simulate(t, "automotive", Options{Policies: []string{"edf+wfair", "rrobin"}, Horizon: 2 * time.Second})
	dir := t.TempDir()
	files, err := rep.WriteFiles(dir, "svg")
	require.NoError(t, err)
	for _, want := range []string{MarkdownFile, JSONFile, DomainsCSVFile, DevicesCSVFile,
		"latency-cdf-cluster.svg", "latency-cdf-ivi.svg", "timeline-edf+wfair.svg", "timeline-rrobin.svg", "shares-rrobin.svg"} {
		assert.Contains(t, files, want)
	}

	var back Report
	data, err := os.ReadFile(filepath.Join(dir, JSONFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, "automotive", back.Scenario)
	require.Len(t, back.Runs, 2)
	assert.Equal(t, rep.Runs[0].Domains, back.Runs[0].Domains)
	assert.Equal(t, rep.Runs[1].Devices, back.Runs[1].Devices)

	for name, header := range map[string][]string{DomainsCSVFile: DomainsCSVHeader, DevicesCSVFile: DevicesCSVHeader} {
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		records, err := csv.NewReader(f).ReadAll()
		f.Close()
		require.NoError(t, err, name)
		assert.Equal(t, header, records[0], name)
		for _, r := range records[1:] {
			assert.Len(t, r, len(header))
		}
	}
	domains, _ := os.ReadFile(filepath.Join(dir, DomainsCSVFile))
	assert.Equal(t, 1+2*4, bytes.Count(domains, []byte("\n")), "a line per policy and domain")

	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), "# Shoot-out: automotive")
	assert.Contains(t, string(md), "| edf+wfair | ours |")
	assert.Contains(t, string(md), "![timeline-rrobin](timeline-rrobin.svg)")

	for _, name := range files {
		if !strings.HasSuffix(name, ".svg") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Greater(t, len(data), 1000, name)
		assertWellFormedSVG(t, data, name)
	}
	timeline, _ := os.ReadFile(filepath.Join(dir, "timeline-rrobin.svg"))
	assert.Greater(t, bytes.Count(timeline, []byte("<path")), 20, "the timeline draws the spans")

	pngDir := t.TempDir()
	pngs, err := rep.WritePictures(pngDir, "png")
	require.NoError(t, err)
	require.NotEmpty(t, pngs)
	for _, name := range pngs {
		f, err := os.Open(filepath.Join(pngDir, name))
		require.NoError(t, err)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err, name)
		assert.Positive(t, img.Bounds().Dx(), name)
	}
	_, err = rep.WritePictures(pngDir, "gif")
	require.ErrorContains(t, err, `picture format "gif"`)
}

func assertWellFormedSVG(t *testing.T, data []byte, name string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, name)
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	assert.Equal(t, "svg", root, name)
}

// TestSameSeedSameReport: the report is a function of the scenario, the
// policies and the seed — not of the wall clock or of how many runs went in
// parallel — and another seed changes it.
func TestSameSeedSameReport(t *testing.T) {
	render := func(opts Options) []byte {
		rep := simulate(t, "cloud", opts)
		var b bytes.Buffer
		require.NoError(t, rep.WriteJSON(&b))
		require.NoError(t, rep.WriteMarkdown(&b, nil))
		require.NoError(t, rep.WriteDomainsCSV(&b))
		require.NoError(t, rep.WriteDevicesCSV(&b))
		dir := t.TempDir()
		pics, err := rep.WritePictures(dir, "svg")
		require.NoError(t, err)
		for _, p := range pics {
			data, err := os.ReadFile(filepath.Join(dir, p))
			require.NoError(t, err)
			b.Write(data)
		}
		return b.Bytes()
	}
	opts := Options{Policies: []string{"wfair", "gvt-g", "amd-gim"}, Horizon: 3 * time.Second, Seed: 11, SeedSet: true}
	first := render(opts)
	opts.Parallel = 1
	second := render(opts)
	assert.True(t, bytes.Equal(first, second), "same seed, different report (%d and %d bytes)", len(first), len(second))
	opts.Seed = 12
	assert.False(t, bytes.Equal(first, render(opts)), "another seed, same report")
}

func TestSimulateKeepsRefusalsAndNamesThem(t *testing.T) {
	rep := simulate(t, "automotive", Options{Policies: []string{"edf"}, Horizon: time.Second})
	ivi := rep.Run("edf").Domain("ivi")
	require.NotNil(t, ivi)
	assert.Contains(t, ivi.Refused, "budget 0s must be positive")
	assert.Zero(t, ivi.Released)
	var out bytes.Buffer
	require.NoError(t, rep.WriteText(&out, true))
	assert.Contains(t, out.String(), "edf refused ivi:")

	sc, err := Load("automotive")
	require.NoError(t, err)
	_, err = Simulate(sc, Options{Policies: []string{"nope"}})
	require.ErrorContains(t, err, `unknown policy "nope"`)
	_, err = Simulate(sc, Options{Horizon: -time.Second})
	require.ErrorContains(t, err, "horizon -1s must be in")
}

func TestLongHorizonDropsTheTraceNotTheNumbers(t *testing.T) {
	sc, err := Parse([]byte(minimal), "tiny.yaml")
	require.NoError(t, err)
	rep, err := Simulate(sc, Options{Policies: []string{"rrobin"}, Horizon: TraceLimit + time.Second})
	require.NoError(t, err)
	assert.False(t, rep.Traced)
	assert.Nil(t, rep.Runs[0].Result().Trace)
	assert.InDelta(t, 1.0, rep.Runs[0].Device("gpu0").Utilization, 1e-9)
	pics, err := rep.WritePictures(t.TempDir(), "svg")
	require.NoError(t, err)
	assert.Equal(t, []string{"latency-cdf-a.svg"}, pics, "only the CDFs without a trace")
}

func TestParsePolicies(t *testing.T) {
	got, err := ParsePolicies(" edf+wfair, rrobin ")
	require.NoError(t, err)
	assert.Equal(t, []string{"edf+wfair", "rrobin"}, got)
	all, err := ParsePolicies("all")
	require.NoError(t, err)
	assert.Equal(t, PolicyNames(), all)
	none, err := ParsePolicies("")
	require.NoError(t, err)
	assert.Nil(t, none)
	_, err = ParsePolicies("rrobin,lottery")
	require.ErrorContains(t, err, `unknown policy "lottery"`)
	_, err = ParsePolicies("rrobin,rrobin")
	require.ErrorContains(t, err, "listed twice")
	for _, p := range DefaultPolicies() {
		_, ok := policyByName(p)
		assert.True(t, ok, p)
	}
}
