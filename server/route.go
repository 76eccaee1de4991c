package server

import (
	"bytes"
	"regexp"
	"strings"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// route is one compiled ProxyPass / ProxyPassMatch.
type route struct {
	cfg     *config.Route
	prefix  []byte         // ProxyPass path, when re is nil
	re      *regexp.Regexp // ProxyPassMatch
	exclude bool

	// Exactly one of balancer and direct is set for a proxied route.
	balancer *pool.Balancer
	direct   *pool.Member
	// targetPath is the path part of the target URL: "/app" of
	// http://h/app, "/" of balancer://b/.
	targetPath  string
	targetBytes []byte // targetPath, for regexp's Expand
	// slashGap marks a prefix ending in '/' before a target path that does
	// not ("ProxyPass /y/ http://h/sub"): the join gets the slash that
	// neither side has (Apache would send /subfoo; docs/compatibility.md).
	slashGap bool
	// expand is true when the ProxyPassMatch target holds $N references.
	expand bool
	// upgrade is the protocol this route may tunnel ("websocket", "*").
	upgrade string
}

// matchPrefix reports whether path falls under prefix as Apache's
// alias_match does on a normalized path: /foo matches /foo, /foo/ and
// /foo/bar but not /foobar; /foo/ does not match /foo.
func matchPrefix(path, prefix []byte) bool {
	if !bytes.HasPrefix(path, prefix) {
		return false
	}
	n := len(prefix)
	return len(path) == n || prefix[n-1] == '/' || path[n] == '/'
}

// match reports whether r handles path, and appends the path to send to
// the backend (canonical, percent-encoded) to dst. rawPath is the path as
// the client wrote it, used for nocanon.
func (r *route) match(dst, path, rawPath []byte) ([]byte, bool) {
	if r.re == nil {
		if !matchPrefix(path, r.prefix) {
			return dst, false
		}
		if r.exclude {
			return dst, true
		}
		dst = appendJoin(dst, r.targetPath)
		if r.slashGap && len(path) > len(r.prefix) {
			dst = append(dst, '/')
		}
		if r.cfg.NoCanon && matchPrefix(rawPath, r.prefix) {
			return appendJoinBytes(dst, rawPath[len(r.prefix):]), true
		}
		return appendEscapedPath(dst, path[len(r.prefix):]), true
	}
	if !r.expand {
		// Only a test: regexp would allocate the groups nobody reads.
		if !r.re.Match(path) {
			return dst, false
		}
		if r.exclude {
			return dst, true
		}
		// Apache appends the whole URI when the target has no back-reference.
		dst = appendJoin(dst, r.targetPath)
		return appendEscapedPath(dst, path), true
	}
	// The groups are read: regexp returns them in a new slice, the one
	// allocation of such a route.
	sub := r.re.FindSubmatchIndex(path)
	if sub == nil {
		return dst, false
	}
	// Expand after dst, escape that after it, then move the escaped path
	// down over the expansion: no buffer of its own.
	mark := len(dst)
	dst = r.re.Expand(dst, r.targetBytes, path, sub)
	end := len(dst)
	dst = appendEscapedPath(dst, dst[mark:end])
	return dst[:mark+copy(dst[mark:], dst[end:])], true
}

// appendMemberPath appends the path a member is sent: its own URL's path,
// then the route's, one slash at the join, and a leading slash when
// neither has one ("ProxyPass / balancer://b" gives "foo" for /foo).
func appendMemberPath(dst []byte, memberPath string, path []byte) []byte {
	start := len(dst)
	dst = append(dst, memberPath...)
	if len(dst) > start && dst[len(dst)-1] != '/' && len(path) > 0 && path[0] != '/' {
		dst = append(dst, '/') // a member http://h/sub under "ProxyPass /d/ balancer://d"
	}
	dst = appendJoinBytes(dst, path)
	if len(dst) == start || dst[start] != '/' {
		dst = append(dst, 0)
		copy(dst[start+1:], dst[start:])
		dst[start] = '/'
	}
	return dst
}

// appendJoin appends a path piece to dst, dropping its leading '/' when dst
// already ends in one: http://h/app/ + /x gives /app/x where Apache sends
// /app//x (docs/compatibility.md).
func appendJoin(dst []byte, s string) []byte {
	if len(s) > 0 && s[0] == '/' && len(dst) > 0 && dst[len(dst)-1] == '/' {
		s = s[1:]
	}
	return append(dst, s...)
}

func appendJoinBytes(dst, s []byte) []byte {
	if len(s) > 0 && s[0] == '/' && len(dst) > 0 && dst[len(dst)-1] == '/' {
		s = s[1:]
	}
	return append(dst, s...)
}

// pathSafe marks the bytes Apache's ap_proxy_canonenc leaves unescaped in
// a path: unreserved, sub-delims, ':' '@' '/'.
var pathSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()

// appendEscapedPath percent-encodes the decoded path p onto dst, joined as
// appendJoin does.
func appendEscapedPath(dst, p []byte) []byte {
	if len(p) > 0 && p[0] == '/' && len(dst) > 0 && dst[len(dst)-1] == '/' {
		p = p[1:]
	}
	const hex = "0123456789ABCDEF"
	for _, c := range p {
		if pathSafe[c] {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}

// hasEncodedSlash reports a %2F in the raw path. Apache refuses those with
// 404 by default (AllowEncodedSlashes Off); decoding them would change which
// route and which backend path a request maps to.
func hasEncodedSlash(raw []byte) bool {
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] == '%' && raw[i+1] == '2' && (raw[i+2] == 'f' || raw[i+2] == 'F') {
			return true
		}
	}
	return false
}

// splitTarget splits a normalized target URL into its origin part and
// path: "http://h:8080/app" → ("http://h:8080", "/app").
func splitTarget(target string) (origin, path string) {
	i := strings.Index(target, "://")
	if i < 0 {
		return target, ""
	}
	j := strings.IndexByte(target[i+3:], '/')
	if j < 0 {
		return target, ""
	}
	return target[:i+3+j], target[i+3+j:]
}
