package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func run(args ...string) (string, error) {
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestDemoCommand(t *testing.T) {
	out, err := run("demo", "--trace", "3")
	require.NoError(t, err)
	assert.Contains(t, out, "3 domains share one reference GPU")
	assert.Contains(t, out, "switch trace (first 3 of")
	assert.NotContains(t, out, "WRONG")
}

func TestDemoCommandRejectsBadFlags(t *testing.T) {
	_, err := run("demo", "--slice", "0s")
	assert.ErrorContains(t, err, "--slice 0s: must be positive")
	_, err = run("demo", "--trace", "-1")
	assert.ErrorContains(t, err, "must not be negative")
	_, err = run("demo", "extra")
	assert.Error(t, err)
}
