package dfl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSysfs builds the tree the DFL drivers publish for one card: an
// fpga_region with its FME (and the FME's PR region carrying compat_id),
// two ports with their afu_id, and the FME's fpga_manager.
func fakeSysfs(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, v := range files {
		full := filepath.Join(root, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(v), 0o644))
	}
	return root
}

const (
	compatHex = "f3c9941350814aadbced07eb84a6d0bb"
	afuHex    = "d8424dc4a4a3c413f89e433683f9040b"
)

func cardTree() map[string]string {
	return map[string]string{
		"class/fpga_region/region0/dfl-fme.0/ports_num":                                      "2\n",
		"class/fpga_region/region0/dfl-fme.0/bitstream_id":                                   "0x23000410010309\n",
		"class/fpga_region/region0/dfl-fme.0/dfl-fme-region.1/fpga_region/region1/compat_id": compatHex + "\n",
		"class/fpga_region/region0/dfl-port.0/afu_id":                                        afuHex + "\n",
		"class/fpga_region/region0/dfl-port.1/afu_id":                                        "00000000000000000000000000000000\n",
		"class/fpga_region/region1/compat_id":                                                compatHex + "\n",
		"class/fpga_manager/fpga0/name":                                                      "DFL FME FPGA Manager\n",
		"class/fpga_manager/fpga0/state":                                                     "operating\n",
	}
}

func TestEnumerateFakeSysfs(t *testing.T) {
	root := fakeSysfs(t, cardTree())
	s, err := Enumerate(root, "/dev")
	require.NoError(t, err)
	require.Len(t, s.Regions, 2)
	r := s.Regions[0]
	assert.Equal(t, "region0", r.Name)
	assert.True(t, r.CompatID.IsZero())
	require.Len(t, r.FMEs, 1)
	fme := r.FMEs[0]
	assert.Equal(t, 0, fme.ID)
	assert.Equal(t, "/dev/dfl-fme.0", fme.DevPath)
	assert.Equal(t, 2, fme.PortsNum)
	assert.Equal(t, "f3c99413-5081-4aad-bced-07eb84a6d0bb", fme.PRInterfaceID.String())
	require.Len(t, r.Ports, 2)
	assert.Equal(t, "/dev/dfl-port.0", r.Ports[0].DevPath)
	assert.Equal(t, "d8424dc4-a4a3-c413-f89e-433683f9040b", r.Ports[0].AFUID.String())
	assert.Equal(t, 1, r.Ports[1].ID)
	assert.True(t, r.Ports[1].AFUID.IsZero())
	assert.Equal(t, fme.PRInterfaceID, s.Regions[1].CompatID)
	require.Len(t, s.Managers, 1)
	assert.Equal(t, Manager{Name: "fpga0", Path: filepath.Join(root, "class/fpga_manager/fpga0"), Label: "DFL FME FPGA Manager", State: "operating"}, s.Managers[0])
}

func TestEnumerateOlderKernelInterfaceID(t *testing.T) {
	root := fakeSysfs(t, map[string]string{
		"class/fpga_region/region0/dfl-fme.3/pr/interface_id": compatHex,
		"class/fpga_region/region0/dfl-port.3/afu_id":         afuHex,
	})
	s, err := Enumerate(root, "/devices")
	require.NoError(t, err)
	fme := s.Regions[0].FMEs[0]
	assert.Equal(t, 3, fme.ID)
	assert.Equal(t, -1, fme.PortsNum, "absent")
	assert.Equal(t, "/devices/dfl-fme.3", fme.DevPath)
	assert.Equal(t, "f3c99413-5081-4aad-bced-07eb84a6d0bb", fme.PRInterfaceID.String())
}

func TestEnumerateNoFPGA(t *testing.T) {
	s, err := Enumerate(t.TempDir(), "/dev")
	require.NoError(t, err)
	assert.Empty(t, s.Regions)
	assert.Empty(t, s.Managers)
}

func TestEnumerateBadTrees(t *testing.T) {
	for _, c := range []struct {
		name  string
		patch map[string]string
		want  string
	}{
		{"bad afu_id", map[string]string{"class/fpga_region/region0/dfl-port.0/afu_id": "xyz\n"}, `afu_id: dfl: GUID "xyz"`},
		{"bad compat_id", map[string]string{"class/fpga_region/region1/compat_id": "f3c9941350814aadbced07eb84a6d0bz"}, "compat_id"},
		{"bad ports_num", map[string]string{"class/fpga_region/region0/dfl-fme.0/ports_num": "many"}, `ports_num "many" is not a count`},
		{"bad port name", map[string]string{"class/fpga_region/region0/dfl-port.x/afu_id": afuHex}, `"dfl-port.x"`},
		{"missing afu_id", map[string]string{"class/fpga_region/region0/dfl-port.7/other": ""}, "dfl-port.7/afu_id"},
		{"missing state", map[string]string{"class/fpga_manager/fpga1/name": "x"}, "fpga1/state"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := cardTree()
			for k, v := range c.patch {
				files[k] = v
			}
			_, err := Enumerate(fakeSysfs(t, files), "/dev")
			assert.ErrorContains(t, err, c.want)
		})
	}
}
