package daemon

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as Go writes it ("10ms", "1.5s").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler with the line in the error.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 500us, 10ms or 2s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalText lets JSON carry durations as text too.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a duration from JSON.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as 500us, 10ms or 2s", b)
	}
	*d = Duration(v)
	return nil
}

// Size is a byte count written with an optional binary suffix: 4096,
// 64KiB, 256MiB, 2GiB.
type Size uint64

var sizeUnits = []struct {
	suffix string
	mult   uint64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// ParseSize parses a Size.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := uint64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil || (mult > 1 && n > ^uint64(0)/mult) {
		return 0, fmt.Errorf("%q is not a size such as 4096, 64KiB or 256MiB", s)
	}
	return Size(n * mult), nil
}

// String writes the size with the largest exact binary suffix.
func (s Size) String() string {
	for _, u := range sizeUnits {
		if u.mult > 1 && uint64(s) >= u.mult && uint64(s)%u.mult == 0 {
			return fmt.Sprintf("%d%s", uint64(s)/u.mult, u.suffix)
		}
	}
	return strconv.FormatUint(uint64(s), 10)
}

// UnmarshalYAML implements yaml.Unmarshaler with the line in the error.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*s = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText writes the size for JSON.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a size from JSON.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// FileMode is a permission mode written in octal ("0660").
type FileMode uint32

// UnmarshalYAML implements yaml.Unmarshaler with the line in the error.
func (m *FileMode) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.ParseUint(n.Value, 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("line %d: %q is not an octal permission mode such as 0660", n.Line, n.Value)
	}
	*m = FileMode(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (m FileMode) MarshalYAML() (any, error) { return fmt.Sprintf("%04o", uint32(m)), nil }
