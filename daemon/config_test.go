package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultConfiguration(t *testing.T) {
	cfg, err := LoadConfig("")
	require.NoError(t, err)
	require.Len(t, cfg.Devices, 3)
	assert.Equal(t, "refgpu", cfg.Devices[0].Backend)
	assert.Equal(t, "reffpga", cfg.Devices[1].Backend)
	assert.Equal(t, "refdsp", cfg.Devices[2].Backend)
	assert.Equal(t, 2*time.Millisecond, time.Duration(cfg.Devices[0].Policy.Slice))
	assert.Len(t, cfg.Domains, 4)
	assert.NotEmpty(t, cfg.RuntimeDir)
	assert.True(t, strings.HasSuffix(cfg.Control.Socket, "/control.sock"))
	assert.Equal(t, FileMode(0o600), cfg.Control.Mode)
}

func TestBadConfigurationsNameLineAndReason(t *testing.T) {
	const good = `
devices:
  - name: gpu0
    backend: refgpu
profiles:
  - name: half
    device: gpu0
    weight: 2
    memory: 64MiB
    instances: 2
domains:
  - name: a
    vcoprocs:
      - device: gpu0
        profile: half
`
	_, err := ParseConfig([]byte(good), "good.yaml")
	require.NoError(t, err)

	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", "devices:\n  - name: gpu0\n    backend: refgpu\n    colour: red\n", "bad.yaml: line 4: field colour not found"},
		{"bad duration", "watchdog: soon\n", `bad.yaml: line 1: "soon" is not a duration`},
		{"bad size", "devices:\n  - name: gpu0\n    backend: refgpu\n    vram: lots\n", `line 4: "lots" is not a size`},
		{"bad mode", "control:\n  mode: \"0999\"\n", `line 2: "0999" is not an octal permission mode`},
		{"unknown backend", "devices:\n  - name: gpu0\n    backend: voodoo\n", `bad.yaml: line 3: device "gpu0": unknown backend "voodoo"`},
		{"duplicate device", "devices:\n  - name: gpu0\n    backend: refgpu\n  - name: gpu0\n    backend: refgpu\n", `line 4: device "gpu0" is defined twice`},
		{"bad preemption", "devices:\n  - name: gpu0\n    backend: refgpu\n    preemption: sometimes\n", `line 4: device "gpu0": preemption "sometimes"`},
		{"unknown policy", "devices:\n  - name: gpu0\n    backend: refgpu\n    policy:\n      name: lottery\n", `line 4: device "gpu0": unknown policy "lottery"`},
		{"bad name", "devices:\n  - name: gpu/0\n    backend: refgpu\n", `line 2: device name "gpu/0"`},
		{"profile without device", "profiles:\n  - name: p\n    device: gpu9\n    weight: 1\n    instances: 1\n", `line 3: profile "p": no device "gpu9"`},
		{"profile zero instances", "devices:\n  - name: gpu0\n    backend: refgpu\nprofiles:\n  - name: p\n    device: gpu0\n    weight: 1\n", `line 5: profile "p": instances 0 must be at least 1`},
		{"unknown profile", strings.Replace(good, "profile: half", "profile: whole", 1), `line 14: domain "a": unknown profile "whole"`},
		{"both profile and weight", strings.Replace(good, "profile: half", "profile: half\n        weight: 3", 1), "give a profile or weight/memory/reservation, not both"},
		{"regions on a gpu", "devices:\n  - name: gpu0\n    backend: refgpu\n    regions: 2\n", `line 4: device "gpu0": regions applies to reffpga only`},
		{"switch cost on a dsp", "devices:\n  - name: dsp0\n    backend: refdsp\n    switch_cost: 1ms\n", `line 4: device "dsp0": switch_cost applies to refgpu only`},
		{"negative switch cost", "devices:\n  - name: gpu0\n    backend: refgpu\n    switch_cost: -1us\n", `line 4: "-1us" is not a duration`},
		{"huge switch cost", "devices:\n  - name: gpu0\n    backend: refgpu\n    switch_cost: 2s\n", `switch_cost 2s must be 0 (the model's) to 1s`},
		{"vram on a dsp", "devices:\n  - name: dsp0\n    backend: refdsp\n    vram: 1MiB\n", `line 4: device "dsp0": vram does not apply to refdsp`},
		{"preemption on an fpga", "devices:\n  - name: f\n    backend: reffpga\n    preemption: command\n", `preemption applies to refgpu only`},
		{"budget without period", "devices:\n  - name: gpu0\n    backend: refgpu\ndomains:\n  - name: a\n    vcoprocs:\n      - device: gpu0\n        budget: 1ms\n", `line 7: domain "a": vcoproc on "gpu0": a reservation needs both budget and period`},
		{"budget over period", "devices:\n  - name: gpu0\n    backend: refgpu\ndomains:\n  - name: a\n    vcoprocs:\n      - device: gpu0\n        budget: 2ms\n        period: 1ms\n", `budget 2ms exceeds period 1ms`},
		{"non-loopback tcp", "control:\n  tcp: 0.0.0.0:7070\n", `line 2: control.tcp "0.0.0.0:7070": only loopback`},
		{"not yaml", "devices: [", "bad.yaml:"},
		{"wrong type", "devices: 3\n", "line 1: cannot unmarshal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.yaml), "bad.yaml")
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// TestSwitchCost: a refgpu's switch_cost becomes its model's, and so the
// switch cost its policy is built with (the device's capabilities).
func TestSwitchCost(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want time.Duration
	}{{"", 20 * time.Microsecond}, {"    switch_cost: 250us\n", 250 * time.Microsecond}, {"    switch_cost: 3ms\n", 3 * time.Millisecond}} {
		cfg, err := ParseConfig([]byte(fmt.Sprintf("runtime_dir: %s\ndevices:\n  - name: gpu0\n    backend: refgpu\n%s", t.TempDir(), tc.yaml)), "switch.yaml")
		require.NoError(t, err)
		d, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err)
		assert.Equal(t, tc.want, d.devices["gpu0"].backend.Caps().SwitchCost, "switch_cost line %q", tc.yaml)
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]Size{"4096": 4096, "64KiB": 64 << 10, "256MiB": 256 << 20, "2GiB": 2 << 30, "1 TiB": 1 << 40, "7B": 7} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "1.5GiB", "9999999999999TiB", "lots"} {
		_, err := ParseSize(in)
		assert.Error(t, err, in)
	}
	assert.Equal(t, "256MiB", Size(256<<20).String())
	assert.Equal(t, "4097", Size(4097).String())
}

// FuzzParseConfig: any input is either a valid configuration or an error,
// never a panic, and a valid one passes validation again unchanged.
func FuzzParseConfig(f *testing.F) {
	f.Add(DefaultConfigYAML)
	f.Add([]byte("devices:\n  - name: gpu0\n    backend: refgpu\n    vram: 1GiB\n"))
	f.Add([]byte("watchdog: 1s\ncontrol:\n  tcp: 127.0.0.1:0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "fuzz")
		if err != nil {
			return
		}
		require.NoError(t, cfg.validate())
	})
}
