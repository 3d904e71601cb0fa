package coproc

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNames(t *testing.T) {
	assert.Equal(t, "workgroup", Workgroup.String())
	assert.Equal(t, "command", CommandBoundary.String())
	assert.Equal(t, "instruction", Instruction.String())
	assert.Equal(t, "Granularity(9)", Granularity(9).String())
	assert.Equal(t, "blocked", Blocked.String())
	assert.Equal(t, "preempted", Preempted.String())
	assert.Equal(t, "idle", Idle.String())
	assert.Equal(t, "RunState(0)", RunState(0).String())
	assert.Equal(t, "job-failed", EventJobFailed.String())
	assert.Equal(t, "fence", EventFence.String())
	assert.Equal(t, "job-done", EventJobDone.String())
	assert.Equal(t, "EventKind(0)", EventKind(0).String())
}
