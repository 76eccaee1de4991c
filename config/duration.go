package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// String is Go duration text ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as Go duration text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads Go duration text; negative values are refused.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf(
			"line %d: cannot use `%s` as a duration: want Go duration text such as 30s, 1.5s or 500ms", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// apacheUnits are the suffixes Apache's ap_timeout_parameter_parse knows.
var apacheUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"ms", time.Millisecond},
	{"mi", time.Minute},
	{"s", time.Second},
	{"h", time.Hour},
}

var errApacheTime = errors.New("must be a whole number with an optional unit ms, s, mi or h")

// apacheTime parses an Apache time parameter: a whole number with an
// optional suffix ms, s, mi or h. A bare number is in unit (seconds for most
// keys, milliseconds for acquire).
func apacheTime(v string, unit time.Duration) (Duration, error) {
	num := v
	for _, u := range apacheUnits {
		if n, ok := strings.CutSuffix(strings.ToLower(v), u.suffix); ok {
			num, unit = n, u.unit
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || num[0] == '+' {
		return 0, errApacheTime
	}
	if n > math.MaxInt64/int64(unit) {
		return 0, errors.New("is too large")
	}
	return Duration(time.Duration(n) * unit), nil
}
