// Package yamlpath finds where in a YAML document a value lives, so that a
// validation error found after decoding (an impossible value, a missing
// key) can still name its line, as the decoder's own errors do. The daemon's
// configuration and the benchmark scenarios both use it.
package yamlpath

import "go.yaml.in/yaml/v3"

// Line returns the line of the node at path (string keys and int indexes),
// or of the deepest ancestor that exists.
func Line(n *yaml.Node, path ...any) int {
	_, line := walk(n, path)
	return line
}

// Node returns the node at path (string keys and int indexes), or nil.
func Node(n *yaml.Node, path ...any) *yaml.Node {
	found, _ := walk(n, path)
	return found
}

// walk follows path from n (a document's root node, or any node below it)
// and returns the node it leads to, nil if it leads nowhere, and the line
// of that node or of its deepest ancestor found (a mapping value's line is
// its key's).
func walk(n *yaml.Node, path []any) (*yaml.Node, int) {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						line = n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
				next = n.Content[k]
				line = next.Line
			}
		}
		if next == nil {
			return nil, line
		}
		n = next
	}
	return n, line
}
