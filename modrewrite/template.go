package modrewrite

import (
	"errors"
	"fmt"
	"strings"
)

type segKind uint8

const (
	segLit     segKind = iota
	segRuleRef         // $N
	segCondRef         // %N
	segVar             // %{NAME}
	segEnv             // %{ENV:NAME}: lit holds NAME
)

type segment struct {
	kind segKind
	lit  string
	n    int
	v    variable
}

// template is a substitution or test string: literal text, $N and %N
// back-references and %{NAME} variables. A backslash makes the next
// character literal.
type template []segment

func parseTemplate(s string) (template, error) {
	var t template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t = append(t, segment{kind: segLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			lit.WriteByte(s[i])
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			flush()
			kind := segRuleRef
			if c == '%' {
				kind = segCondRef
			}
			t = append(t, segment{kind: kind, n: int(s[i+1] - '0')})
			i++
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			return nil, errors.New("${map:key} needs RewriteMap, which is not supported")
		case c == '%' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q has an unclosed %%{", s)
			}
			name := s[i+2 : i+2+end]
			if len(name) >= 4 && strings.EqualFold(name[:4], "ENV:") {
				flush()
				t = append(t, segment{kind: segEnv, lit: name[4:]})
				i += 2 + end
				continue
			}
			v, err := parseVar(name)
			if err != nil {
				return nil, err
			}
			flush()
			t = append(t, segment{kind: segVar, v: v})
			i += 2 + end
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// refers reports whether t has a back-reference of kind (segRuleRef: $N,
// segCondRef: %N).
func (t template) refers(kind segKind) bool {
	for _, sg := range t {
		if sg.kind == kind {
			return true
		}
	}
	return false
}

// usesSSL reports whether t reads a mod_ssl variable.
func (t template) usesSSL() bool {
	for _, sg := range t {
		if sg.kind == segVar && sg.v.kind == varSSL {
			return true
		}
	}
	return false
}

// literalPrefix is the template's leading literal text.
func (t template) literalPrefix() string {
	if len(t) > 0 && t[0].kind == segLit {
		return t[0].lit
	}
	return ""
}

// captures is a matched subject with its submatch indexes.
type captures struct {
	s   []byte
	idx []int
}

func (c *captures) appendGroup(dst []byte, n int) []byte {
	if c == nil || 2*n+1 >= len(c.idx) || c.idx[2*n] < 0 {
		return dst
	}
	return append(dst, c.s[c.idx[2*n]:c.idx[2*n+1]]...)
}

// expand appends the template's value to dst; env are the [E=] flags
// applied so far, which %{ENV:NAME} reads.
func (t template) expand(dst []byte, r *Request, rule, cond *captures, env []EnvAssign) []byte {
	for i := range t {
		sg := &t[i]
		switch sg.kind {
		case segLit:
			dst = append(dst, sg.lit...)
		case segRuleRef:
			dst = rule.appendGroup(dst, sg.n)
		case segCondRef:
			dst = cond.appendGroup(dst, sg.n)
		case segVar:
			dst = sg.v.appendTo(dst, r)
		case segEnv:
			dst = appendEnv(dst, env, sg.lit, r)
		}
	}
	return dst
}

// appendEnv appends the value the last [E=] flag for name gave it, else
// what r.Env has; nothing when the last flag unset it or nothing set it
// (as an unset variable reads in Apache).
func appendEnv(dst []byte, env []EnvAssign, name string, r *Request) []byte {
	for i := len(env) - 1; i >= 0; i-- {
		if a := &env[i]; a.Rule.envs[a.I].name == name {
			if a.Unset {
				return dst
			}
			return append(dst, a.Value...)
		}
	}
	if r.Env != nil {
		if v, ok := r.Env.LookupEnv(name); ok {
			return append(dst, v...)
		}
	}
	return dst
}
