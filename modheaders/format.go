package modheaders

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"

	"github.com/sluiceproxy/sluice/modrewrite"
	"github.com/sluiceproxy/sluice/modssl"
)

// format is a mod_headers value: literal text, %%, %{VAR}e and
// %{VAR}s (mod_ssl's variables).
type format []piece

type piece struct {
	lit    string
	env    Var
	hasEnv bool
	ssl    modssl.Var // 0: none
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
		case i+1 == len(s):
			lit.WriteByte('%') // as mod_headers passes a trailing %
		case s[i+1] == '%':
			lit.WriteByte('%')
			i++
		case s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 || i+2+end+1 >= len(s) {
				return nil, fmt.Errorf("value %q has an unfinished %%{…} format", s)
			}
			name, kind := s[i+2:i+2+end], s[i+2+end+1]
			var p piece
			switch kind {
			case 'e':
				v, err := vars.Lookup(name)
				if err != nil {
					return nil, err
				}
				p = piece{env: v, hasEnv: true}
			case 's':
				v, err := modssl.Lookup(name)
				if err != nil {
					return nil, err
				}
				p = piece{ssl: v}
			default:
				return nil, fmt.Errorf("format %%{%s}%c is not supported (allowed: %%{VAR}e, %%{VAR}s, %%%%)", name, kind)
			}
			if lit.Len() > 0 {
				f = append(f, piece{lit: lit.String()})
				lit.Reset()
			}
			f = append(f, p)
			i += 2 + end + 1
		default:
			return nil, fmt.Errorf("format %%%c is not supported in %q (allowed: %%{VAR}e, %%{VAR}s, %%%%)", s[i+1], s)
		}
	}
	if lit.Len() > 0 {
		f = append(f, piece{lit: lit.String()})
	}
	return f, nil
}

// expand appends f's value; cs is the request's TLS state (nil: not
// TLS).
func (f format) expand(dst []byte, env *Env, req *modrewrite.Request) []byte {
	for _, p := range f {
		switch {
		case p.hasEnv:
			// An unset variable reads "(null)", as mod_headers writes it.
			if v, ok := env.Get(p.env); ok {
				dst = append(dst, v...)
			} else {
				dst = append(dst, "(null)"...)
			}
		case p.ssl != 0:
			dst = appendSSL(dst, p.ssl, req.TLS)
		default:
			dst = append(dst, p.lit...)
		}
	}
	return dst
}

// appendSSL appends v as mod_headers writes it: "(null)" where it has no
// value, line breaks (a PEM certificate's) as spaces.
func appendSSL(dst []byte, v modssl.Var, cs *tls.ConnectionState) []byte {
	start := len(dst)
	dst = modssl.Append(dst, v, cs)
	if len(dst) == start {
		return append(dst, "(null)"...)
	}
	for i := start; i < len(dst); i++ {
		if dst[i] == '\r' || dst[i] == '\n' {
			dst[i] = ' '
		}
	}
	return dst
}

// usesSSL reports whether f reads a mod_ssl variable.
// literal returns f's text where f has no variable in it.
func (f format) literal() (string, bool) {
	switch {
	case len(f) == 0:
		return "", true
	case len(f) == 1 && !f[0].hasEnv && f[0].ssl == 0:
		return f[0].lit, true
	}
	return "", false
}

func (f format) usesSSL() bool {
	return slices.ContainsFunc(f, func(p piece) bool { return p.ssl != 0 })
}
