package rewrite

import (
	"bytes"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pathscope"
)

// CookieMap holds ProxyPassReverseCookieDomain and ProxyPassReverseCookiePath
// rules. Immutable, safe for concurrent use.
type CookieMap struct {
	domains []cookieRule
	paths   []cookieRule
}

type cookieRule struct {
	scope            pathscope.Scope
	internal, public string
}

// NewCookieMap compiles the domain and path rules (each in config order).
func NewCookieMap(domains, paths []config.CookieRule) *CookieMap {
	return &CookieMap{domains: compileCookies(domains), paths: compileCookies(paths)}
}

func compileCookies(rules []config.CookieRule) []cookieRule {
	ordered := parentFirst(rules, func(r config.CookieRule) string { return r.Scope })
	out := make([]cookieRule, len(ordered))
	for i, r := range ordered {
		out[i] = cookieRule{scope: pathscope.New(r.Scope, r.ScopeMatch), internal: r.Internal, public: r.Public}
	}
	return out
}

// Empty reports whether the map has no rules, so callers can skip it.
func (m *CookieMap) Empty() bool { return len(m.domains) == 0 && len(m.paths) == 0 }

// Apply rewrites one Set-Cookie header value: for each Path attribute the
// first rule whose Internal prefixes the value (case-sensitive), and for
// each Domain attribute the first whose Internal prefixes it without case,
// replaces the whole attribute value with Public. Attribute names match
// exactly, without case, after leading spaces; the cookie's own name=value
// pair is never touched, so "fakepath=/local" stays. Rules are filtered by
// scope and ordered as in ReverseMap.Apply. Returns dst with the new value
// appended and true, or dst unchanged and false when nothing matched.
func (m *CookieMap) Apply(dst, setCookie, reqPath []byte) ([]byte, bool) {
	done := 0 // setCookie[:done] is in dst; stays 0 until a rewrite
	i := indexByte(setCookie, 0, ';')
	for i < len(setCookie) {
		attr := i + 1
		i = indexByte(setCookie, attr, ';')
		for attr < i && (setCookie[attr] == ' ' || setCookie[attr] == '\t') {
			attr++
		}
		var public string
		var ok bool
		switch seg := setCookie[attr:i]; {
		case hasPrefixFold(seg, "path="):
			attr += len("path=")
			public, ok = match(m.paths, setCookie[attr:i], reqPath, hasPrefix[[]byte, string])
		case hasPrefixFold(seg, "domain="):
			attr += len("domain=")
			public, ok = match(m.domains, setCookie[attr:i], reqPath, hasPrefixFold[[]byte, string])
		}
		if ok {
			dst = append(dst, setCookie[done:attr]...)
			dst = append(dst, public...)
			done = i
		}
	}
	if done == 0 {
		return dst, false
	}
	return append(dst, setCookie[done:]...), true
}

// match returns Public of the first in-scope rule whose Internal prefixes v.
func match(rules []cookieRule, v, reqPath []byte, prefix func([]byte, string) bool) (string, bool) {
	for i := range rules {
		r := &rules[i]
		if r.scope.Covers(reqPath) && prefix(v, r.internal) {
			return r.public, true
		}
	}
	return "", false
}

// indexByte is the index of c in v at or after from, or len(v).
func indexByte(v []byte, from int, c byte) int {
	if i := bytes.IndexByte(v[from:], c); i >= 0 {
		return from + i
	}
	return len(v)
}
