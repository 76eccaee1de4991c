// Package pathscope is where a rule written in a <Location> or
// <LocationMatch> section applies: the request paths under the section's
// path, or those its regular expression matches. Header and rewrite rules,
// error documents, variables, ProxyPassReverse and cookie rules all scope
// by it, as ProxyPass routes match prefixes by Under.
package pathscope

import "regexp"

// Scope is a section's reach; the zero Scope covers every path.
type Scope struct {
	prefix string
	re     *regexp.Regexp
}

// New is the scope of a section's path, or with match of its regular
// expression (config compiled it once already); "" is server level.
func New(path string, match bool) Scope {
	switch {
	case path == "":
		return Scope{}
	case match:
		return Scope{re: regexp.MustCompile(path)}
	}
	return Scope{prefix: path}
}

// Covers reports whether a request for path (without its query) is in s.
func (s *Scope) Covers(path []byte) bool {
	switch {
	case s.re != nil:
		return s.re.Match(path)
	case s.prefix != "":
		return Under(path, s.prefix)
	}
	return true
}

// Under reports whether path is prefix or below it. Like Apache's
// ProxyPass and <Location>, the prefix's last segment must match whole:
// /foo covers /foo, /foo/ and /foo/x but not /foobar.
func Under[P string | []byte](path []byte, prefix P) bool {
	n := len(prefix)
	if len(path) < n || string(path[:n]) != string(prefix) {
		return false
	}
	return len(path) == n || n > 0 && prefix[n-1] == '/' || path[n] == '/'
}
