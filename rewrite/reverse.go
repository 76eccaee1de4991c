package rewrite

import (
	"strings"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pathscope"
)

// MemberNames returns the current member worker names ("http://b1:8080",
// "http://h/app/", "unix:/run/app.sock|http://app/") of balancer name (lower-case, no scheme), or nil. Called
// per request; the returned slice is owned by the caller's snapshot and must
// not be modified or retained.
type MemberNames func(balancer string) []string

// ReverseMap is the ordered ProxyPassReverse list of one host. Immutable,
// safe for concurrent use.
type ReverseMap struct {
	rules   []reverseRule
	members MemberNames
}

type reverseRule struct {
	scope pathscope.Scope
	// public is the rule's Path, prepended to the remainder of a match.
	public string
	// publicAbs is set when public carries a scheme, so the result needs no
	// origin.
	publicAbs bool
	kind      ruleKind
	// url is the backend URL of a ruleURL.
	url absURL[string]
	// prefix is the path of a rulePath, or the urlpart of a ruleBalancer
	// ("" when none).
	prefix   string
	balancer string
}

type ruleKind uint8

const (
	ruleURL      ruleKind = iota // scheme://host[:port][/path]
	rulePath                     // /path: compared with the path of the value
	ruleBalancer                 // balancer://name[/urlpart]: each member URL in turn
	ruleNever                    // a URL of no known form, which matches nothing
)

const balancerScheme = "balancer://"

// NewReverseMap compiles rules (config order) for Apply. members resolves
// balancer:// rules; it may be nil when no rule names a balancer.
func NewReverseMap(rules []config.ReverseRule, members MemberNames) *ReverseMap {
	ordered := parentFirst(rules, func(r config.ReverseRule) string { return r.Scope })
	m := &ReverseMap{rules: make([]reverseRule, len(ordered)), members: members}
	for i, r := range ordered {
		m.rules[i] = compileReverse(r)
	}
	return m
}

func compileReverse(r config.ReverseRule) reverseRule {
	c := reverseRule{scope: pathscope.New(r.Scope, r.ScopeMatch), public: r.Path, publicAbs: isAbsolute(r.Path)}
	switch {
	case hasPrefixFold(r.URL, balancerScheme):
		c.kind = ruleBalancer
		name := r.URL[len(balancerScheme):]
		if i := strings.IndexByte(name, '/'); i >= 0 {
			name, c.prefix = name[:i], name[i:]
		}
		if c.prefix == "/" {
			c.prefix = ""
		}
		c.balancer = strings.ToLower(name)
	case strings.HasPrefix(r.URL, "/"):
		c.kind = rulePath
		c.prefix = r.URL
	default:
		u, ok := parseAbs(r.URL)
		if !ok {
			c.kind = ruleNever
			break
		}
		c.kind = ruleURL
		c.url = u
	}
	return c
}

// Empty reports whether the map has no rules, so callers can skip it.
func (m *ReverseMap) Empty() bool { return len(m.rules) == 0 }

// Apply rewrites one Location / Content-Location / URI / Destination header
// value. reqPath is the client's request path (no query): rules with an
// empty Scope always apply, rules written inside <Location S> only when
// reqPath is under S (<LocationMatch S>: when S matches it). Server-level rules are tried first, then Location
// rules, each in config order; the first match wins. origin is
// "scheme://host[:port]" of the client-facing request: a result that is not
// absolute is made absolute with it, as httpd does; with an empty origin it
// stays relative. Returns dst with the new value appended and true, or dst
// unchanged and false on no match.
func (m *ReverseMap) Apply(dst, value, reqPath, origin []byte) ([]byte, bool) {
	u, abs := parseAbs(value)
	for i := range m.rules {
		r := &m.rules[i]
		if !r.scope.Covers(reqPath) {
			continue
		}
		var tail []byte
		var ok bool
		switch r.kind {
		case ruleURL:
			ok = abs && sameOrigin(u, r.url) && hasPrefix(u.rest, r.url.rest)
			if ok {
				tail = u.rest[len(r.url.rest):]
			}
		case rulePath:
			part := value
			if abs {
				part = u.rest
			}
			ok = hasPrefix(part, r.prefix)
			if ok {
				tail = part[len(r.prefix):]
			}
		case ruleBalancer:
			if abs && m.members != nil {
				tail, ok = r.matchMember(&u, m.members(r.balancer))
			}
		}
		if ok {
			return r.build(dst, tail, origin), true
		}
	}
	return dst, false
}

// matchMember returns what follows the first member name (and urlpart)
// that prefixes u.
func (r *reverseRule) matchMember(u *absURL[[]byte], names []string) ([]byte, bool) {
	for _, name := range names {
		// Apache names a socket member by the URL after "|", as its
		// redirects do: unix:/run/app.sock|http://app/ is http://app/.
		_, name, _ = config.SplitSocketURL(name)
		path, ok := memberPath(name, u)
		if !ok {
			continue
		}
		// urlpart brings its own leading '/'.
		if r.prefix != "" && strings.HasSuffix(path, "/") {
			path = path[:len(path)-1]
		}
		if !hasPrefix(u.rest, path) {
			continue
		}
		tail := u.rest[len(path):]
		if !hasPrefix(tail, r.prefix) {
			continue
		}
		return tail[len(r.prefix):], true
	}
	return nil, false
}

// memberPath returns the path of worker name when its scheme, host and port
// equal u's. It is parseAbs and sameOrigin in one pass that gives up at the
// first differing byte, since it runs for every member on every match.
func memberPath(name string, u *absURL[[]byte]) (string, bool) {
	n := len(u.scheme)
	if !hasPrefixFold(name, u.scheme) || !strings.HasPrefix(name[n:], "://") {
		return "", false
	}
	rest := name[n+3:]
	if !hasPrefixFold(rest, u.host) {
		return "", false
	}
	rest = rest[len(u.host):]
	port := rest[:0]
	if rest != "" && rest[0] == ':' {
		end := 1
		for end < len(rest) && '0' <= rest[end] && rest[end] <= '9' {
			end++
		}
		port, rest = rest[1:end], rest[end:]
		if isDefaultPort(u.scheme, port) {
			port = port[:0]
		}
	}
	if !equal(port, u.port) || rest != "" && rest[0] != '/' && rest[0] != '?' && rest[0] != '#' {
		return "", false
	}
	return rest, true
}

// build appends origin (unless public is absolute or origin empty), public
// and tail, dropping one '/' where public ends and tail starts with one.
func (r *reverseRule) build(dst, tail, origin []byte) []byte {
	relative := !r.publicAbs && len(origin) == 0
	if !r.publicAbs {
		dst = append(dst, origin...)
	}
	start := len(dst)
	public := r.public
	if strings.HasSuffix(public, "/") && len(tail) > 0 && tail[0] == '/' {
		public = public[:len(public)-1]
	}
	dst = append(dst, public...)
	dst = append(dst, tail...)
	if relative {
		dst = dst[:start+collapseLead(dst[start:])]
	}
	return dst
}

// collapseLead collapses the leading run of slashes of a relative result in
// place, so that it cannot read as a network-path reference: a backend path
// like "//evil.example/" must not become a redirect to another host.
// Browsers read '\\' as '/' there. It returns the new length.
func collapseLead(v []byte) int {
	if len(v) < 2 || v[0] != '/' || (v[1] != '/' && v[1] != '\\') {
		return len(v)
	}
	n := 2
	for n < len(v) && (v[n] == '/' || v[n] == '\\') {
		n++
	}
	return 1 + copy(v[1:], v[n:])
}
