package config

import (
	"strconv"
	"strings"
)

// Error is a configuration error. Its text reads
// `file:line: Directive "value": what is wrong (allowed: …)` for Apache
// syntax and `file:line: key "value": …` for YAML.
type Error struct {
	Pos Pos
	// Key is the directive ("ProxyPass", "<Proxy>") or YAML key ("lbset");
	// empty for errors about the file as a whole.
	Key   string
	Value string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		if e.Value != "" {
			b.WriteByte(' ')
			b.WriteString(strconv.Quote(e.Value))
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// allowed renders a list for the "(allowed: …)" tail of a message.
func allowed(keys []string) string {
	return "(allowed: " + strings.Join(keys, ", ") + ")"
}
