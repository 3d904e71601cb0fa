// Package yamlpath finds where in a YAML document a value lives, so that a
// validation error found after decoding (an impossible value, a missing
// key) can still name its line, as the decoder's own errors do. The daemon's
// configuration and the benchmark scenarios both use it.
package yamlpath

import "go.yaml.in/yaml/v3"

// Line returns the line of the node at path (string keys and int indexes),
// or of the deepest ancestor that exists.
func Line(n *yaml.Node, path ...any) int {
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
			return line
		}
		n = next
	}
	return line
}
