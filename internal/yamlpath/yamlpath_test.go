package yamlpath

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestLine(t *testing.T) {
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("a: 1\nlist:\n  - x: 2\n  - x: 3\n    y: 4\n"), &root))
	assert.Equal(t, 1, Line(&root, "a"))
	assert.Equal(t, 3, Line(&root, "list", 0, "x"))
	assert.Equal(t, 5, Line(&root, "list", 1, "y"))
	assert.Equal(t, 4, Line(&root, "list", 1, "missing"), "the deepest ancestor")
	assert.Equal(t, 2, Line(&root, "list", 9), "an index past the end")
	assert.Equal(t, 2, Line(&root, "list", -1))
	assert.Equal(t, 1, Line(&root, "nothing"))
}

func TestNode(t *testing.T) {
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("a: 1\nlist:\n  - x: 2\n  - x: 3\n    y: 4\n"), &root))
	require.NotNil(t, Node(&root, "list", 1, "y"))
	assert.Equal(t, "4", Node(&root, "list", 1, "y").Value)
	assert.Equal(t, yaml.SequenceNode, Node(&root, "list").Kind)
	assert.Nil(t, Node(&root, "list", 1, "missing"))
	assert.Nil(t, Node(&root, "list", 9))
	assert.Nil(t, Node(&root, "a", "deeper"), "a scalar has no keys")
}
