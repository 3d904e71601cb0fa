package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/coprocd/coprocd/internal/yamlpath"
)

// Duration is a span of virtual time in a scenario file. It is written as a
// Go duration ("30us", "16.666667ms", "2s") or as a frequency ("60Hz"),
// which means one period of it (time.Second/60, truncated to the
// nanosecond as Go's integer division does): a 60 fps frame is exactly the simulator's 1/60 s. A bare
// number is refused: a duration without a unit is a bug waiting to happen.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func parseDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("line %d: a duration must be a scalar such as 5ms or 60Hz", n.Line)
	}
	s := strings.TrimSpace(n.Value)
	if hz, ok := strings.CutSuffix(s, "Hz"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(hz), 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("line %d: frequency %q must be a positive number of Hz", n.Line, s)
		}
		p := math.Floor(float64(time.Second) / f)
		if p < 1 {
			return 0, fmt.Errorf("line %d: frequency %q is above 1 GHz: its period is under a nanosecond", n.Line, s)
		}
		return time.Duration(p), nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("line %d: duration %q has no unit (write %sms, %ss, ...)", n.Line, s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("line %d: %q is not a duration (write 500us, 5ms, 2s or 60Hz)", n.Line, s)
	}
	return v, nil
}

// Instant is a point in a run: a Duration from the start, or a percentage
// of the horizon ("50%"), so that a tenant that goes idle half-way still
// does when the horizon is changed on the command line.
type Instant struct {
	At       time.Duration
	Fraction float64 // in [0, 1]; used when Relative
	Relative bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (in *Instant) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if pct, ok := strings.CutSuffix(strings.TrimSpace(n.Value), "%"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
			if err != nil || f < 0 || f > 100 || math.IsNaN(f) {
				return fmt.Errorf("line %d: %q must be a percentage of the horizon in [0%%, 100%%]", n.Line, n.Value)
			}
			*in = Instant{Fraction: f / 100, Relative: true}
			return nil
		}
	}
	d, err := parseDuration(n)
	if err != nil {
		return err
	}
	*in = Instant{At: d}
	return nil
}

// resolve returns the instant in a run of the given horizon.
func (in Instant) resolve(horizon time.Duration) time.Duration {
	if in.Relative {
		return time.Duration(math.Round(in.Fraction * float64(horizon)))
	}
	return in.At
}

func (in Instant) String() string {
	if in.Relative {
		return strconv.FormatFloat(in.Fraction*100, 'g', -1, 64) + "%"
	}
	return in.At.String()
}

// fieldError is a validation failure at a path of keys (strings) and
// indexes (ints) in the file; Parse turns the path into a line number.
type fieldError struct {
	path []any
	msg  string
}

func (e *fieldError) Error() string { return e.msg }

func errAt(path []any, format string, args ...any) error {
	return &fieldError{path: append([]any(nil), path...), msg: fmt.Sprintf(format, args...)}
}

// at appends to a path without aliasing the caller's slice.
func at(path []any, more ...any) []any {
	return append(append(make([]any, 0, len(path)+len(more)), path...), more...)
}

// keysOf lists the keys of the mapping at path, in file order.
func keysOf(root *yaml.Node, path ...any) []string {
	n := yamlpath.Node(root, path...)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	keys := make([]string, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return keys
}
