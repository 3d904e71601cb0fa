package cgroupdev

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func TestParseRule(t *testing.T) {
	r, err := ParseRule("c 195:0 rw")
	require.NoError(t, err)
	assert.Equal(t, Rule{Type: Char, Major: 195, Minor: 0, Access: Read | Write}, r)
	assert.Equal(t, "c 195:0 rw", r.String())

	r, err = ParseRule("  b 8:16   mwr ")
	require.NoError(t, err)
	assert.Equal(t, Rule{Type: Block, Major: 8, Minor: 16, Access: allAccess}, r)
	assert.Equal(t, "b 8:16 rwm", r.String())

	for in, want := range map[string]string{
		"":                 "want \"TYPE MAJOR:MINOR ACCESS\"",
		"a *:* rwm":        "wildcard type a is not allowed",
		"c *:0 rw":         "wildcards are not allowed",
		"c 195:* rw":       "wildcards are not allowed",
		"c 195 rw":         "want MAJOR:MINOR",
		"c 195:0 rx":       "unknown letter 'x'",
		"c 195:0 rr":       "'r' given twice",
		"c 4294967296:0 r": "not a decimal number below 2^32",
		"c -1:0 r":         "not a decimal number",
	} {
		_, err := ParseRule(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
	}
}

func TestMergeRules(t *testing.T) {
	got, err := mergeRules([]Rule{
		{Type: Char, Major: 1, Minor: 3, Access: Read},
		{Type: Char, Major: 1, Minor: 3, Access: Write},
		{Type: Block, Major: 1, Minor: 3, Access: Mknod},
	})
	require.NoError(t, err)
	assert.Equal(t, map[ruleKey]Access{
		{Type: uint32(Char), Major: 1, Minor: 3}:  Read | Write,
		{Type: uint32(Block), Major: 1, Minor: 3}: Mknod,
	}, got)

	_, err = mergeRules([]Rule{{Type: Char, Major: 1, Minor: 3}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "grants no access")
	_, err = mergeRules([]Rule{{Type: Char, Major: 1, Minor: 3, Access: 0x10}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "access bits 0x10")
}

func TestMissingCapabilities(t *testing.T) {
	assert.NoError(t, missingCapabilities(false, false, true), "CAP_SYS_ADMIN alone")
	assert.NoError(t, missingCapabilities(true, true, false), "CAP_BPF and CAP_NET_ADMIN")
	err := missingCapabilities(true, false, false)
	require.ErrorIs(t, err, ErrMissingCapabilities)
	assert.Contains(t, err.Error(), "lacks CAP_NET_ADMIN")
	err = missingCapabilities(false, false, false)
	require.ErrorIs(t, err, ErrMissingCapabilities)
	assert.Contains(t, err.Error(), "lacks CAP_BPF and CAP_NET_ADMIN")
}

const hybridMountinfo = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
40 31 0:35 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,devices
90 25 0:50 / /tmp/my\040cg rw,relatime - cgroup2 none rw
`

func TestCgroup2Mounts(t *testing.T) {
	got, err := Cgroup2Mounts([]byte(hybridMountinfo))
	require.NoError(t, err)
	assert.Equal(t, []string{"/sys/fs/cgroup/unified", "/tmp/my cg"}, got)

	_, err = Cgroup2Mounts([]byte("25 30 0:23 / /sys rw sysfs sysfs rw\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1: no \" - \" separator")
	_, err = Cgroup2Mounts([]byte("25 30 - cgroup2 x\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want at least 6 and 1")
}

func TestAccessString(t *testing.T) {
	assert.Equal(t, "rwm", allAccess.String())
	assert.Equal(t, "r+0x10", (Read | 0x10).String())
	assert.Equal(t, "c", Char.String())
	assert.Equal(t, "DeviceType(7)", DeviceType(7).String())
}
