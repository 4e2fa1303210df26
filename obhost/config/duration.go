package config

import (
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as a Go duration string ("90s", "5m") or as a number of
// seconds.
type Duration time.Duration

// maxSeconds is the largest whole number of seconds a time.Duration holds (about 292 years).
const maxSeconds = int64(math.MaxInt64 / time.Second)

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts "10s" style strings and plain integers (seconds).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 30s, got a %s", n.Line, kindName(n.Kind))
	}
	if n.Tag == "!!int" {
		var secs int64
		if err := n.Decode(&secs); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		if secs < 0 {
			return fmt.Errorf("line %d: negative duration %d", n.Line, secs)
		}
		if secs > maxSeconds {
			return fmt.Errorf("line %d: %d seconds is too long (at most %d)", n.Line, secs, maxSeconds)
		}
		*d = Duration(time.Duration(secs) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q (want e.g. 30s, 5m, 1h)", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: negative duration %q", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	default:
		return "document"
	}
}
