package nvml

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func slicesSort(s []string) { slices.Sort(s) }

func TestParseProcDevices(t *testing.T) {
	got, err := ParseProcDevices([]byte("Character devices:\n  1 mem\n195 nvidia-frontend\n508 nvidia-uvm\n\nBlock devices:\n  8 sd\n259 blkext\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]uint32{"mem": 1, "nvidia-frontend": 195, "nvidia-uvm": 508}, got)

	_, err = ParseProcDevices([]byte("Character devices:\nx mem\n"))
	assert.ErrorContains(t, err, `line 2: major "x" is not a number`)
	_, err = ParseProcDevices([]byte("Character devices:\n1 mem extra\n"))
	assert.ErrorContains(t, err, `line 2: want "MAJOR NAME"`)
}

func TestParseMIGMinors(t *testing.T) {
	table, err := ParseMIGMinors([]byte("config 1\nmonitor 2\ngpu0/gi1/access 12\ngpu0/gi1/ci0/access 13\n"))
	require.NoError(t, err)
	gi, err := table.GPUInstance(0, 1)
	require.NoError(t, err)
	assert.Equal(t, uint32(12), gi)
	ci, err := table.ComputeInstance(0, 1, 0)
	require.NoError(t, err)
	assert.Equal(t, uint32(13), ci)
	_, err = table.ComputeInstance(0, 1, 1)
	assert.ErrorContains(t, err, `no entry "gpu0/gi1/ci1/access"`)

	_, err = ParseMIGMinors([]byte("config 1\nconfig 2\n"))
	assert.ErrorContains(t, err, `line 2: "config" listed twice`)
	_, err = ParseMIGMinors([]byte("config 1048576\n"))
	assert.ErrorContains(t, err, "not a number below 2^20")
	_, err = ParseMIGMinors([]byte("config\n"))
	assert.ErrorContains(t, err, `want "NAME MINOR"`)
}

func TestMIGProfileNames(t *testing.T) {
	assert.Equal(t, "1g.5gb", migProfileName(0, giInfo(1, 4864)))
	assert.Equal(t, "7g.40gb", migProfileName(4, giInfo(7, 40192)))
	assert.Equal(t, "1g.10gb+me", migProfileName(7, giInfo(1, 9856)))
}
