package modheaders

import (
	"fmt"
	"strings"
)

// format is a mod_headers value: literal text, %% and %{VAR}e.
type format []piece

type piece struct {
	lit    string
	env    Var
	hasEnv bool
}

func parseFormat(s string, vars *Vars) (format, error) {
	var f format
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '%':
			lit.WriteByte('%')
			i++
		case i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 || i+2+end+1 >= len(s) {
				return nil, fmt.Errorf("value %q has an unfinished %%{…} format", s)
			}
			name, kind := s[i+2:i+2+end], s[i+2+end+1]
			if kind != 'e' {
				return nil, fmt.Errorf("format %%{%s}%c is not supported (allowed: %%{VAR}e, %%%%)", name, kind)
			}
			v, err := vars.lookup(name)
			if err != nil {
				return nil, err
			}
			if lit.Len() > 0 {
				f = append(f, piece{lit: lit.String()})
				lit.Reset()
			}
			f = append(f, piece{env: v, hasEnv: true})
			i += 2 + end + 1
		default:
			next := "end of value"
			if i+1 < len(s) {
				next = string(s[i+1])
			}
			return nil, fmt.Errorf("format %%%s is not supported in %q (allowed: %%{VAR}e, %%%%)", next, s)
		}
	}
	if lit.Len() > 0 {
		f = append(f, piece{lit: lit.String()})
	}
	return f, nil
}

func (f format) expand(dst []byte, env *Env) []byte {
	for _, p := range f {
		if !p.hasEnv {
			dst = append(dst, p.lit...)
			continue
		}
		v, _ := env.Get(p.env)
		dst = append(dst, v...)
	}
	return dst
}
