package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFlagsAreChecked(t *testing.T) {
	var out bytes.Buffer
	cmd := newCommand(&out)
	cmd.SetArgs([]string{"--elements", "100"})
	assert.ErrorContains(t, cmd.Execute(), "--elements 100: must be a positive multiple of 64")

	cmd = newCommand(&out)
	cmd.SetArgs([]string{"--socket", filepath.Join(t.TempDir(), "none.sock")})
	assert.Error(t, cmd.Execute(), "no daemon there")
}
