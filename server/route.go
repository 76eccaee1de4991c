package server

import (
	"regexp"
	"strings"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/modheaders"
	"github.com/sluiceproxy/sluice/pathscope"
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
	targetBytes []byte // targetPath as regexp.Expand's template (matchTarget)
	// slashGap marks a prefix ending in '/' before a target path that does
	// not ("ProxyPass /y/ http://h/sub"): the join gets the slash that
	// neither side has (Apache would send /subfoo; docs/compatibility.md).
	slashGap bool
	// expand is true when the ProxyPassMatch target holds $N references
	// (matchTarget).
	expand bool
	// upgrade is the protocol this route may tunnel ("websocket", "*").
	upgrade string
	// files is a file handler's pattern (filehandler.go); nil otherwise.
	files *regexp.Regexp
}

// match reports whether r handles path, and appends the path to send to
// the backend (canonical, percent-encoded) to dst. rawPath is the path as
// the client wrote it, used for nocanon. keepSlashes sends a %2F in path
// (AllowEncodedSlashes NoDecode) on as it is.
func (r *route) match(dst, path, rawPath []byte, keepSlashes bool) ([]byte, bool) {
	if r.re == nil {
		if !pathscope.Under(path, r.prefix) {
			return dst, false
		}
		if r.exclude {
			return dst, true
		}
		dst = appendJoin(dst, r.targetPath)
		if r.slashGap && len(path) > len(r.prefix) {
			dst = append(dst, '/')
		}
		if r.cfg.NoCanon && pathscope.Under(rawPath, r.prefix) {
			return appendJoinBytes(dst, rawPath[len(r.prefix):]), true
		}
		return appendEscapedPath(dst, path[len(r.prefix):], keepSlashes), true
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
		return appendEscapedPath(dst, path, keepSlashes), true
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
	dst = appendEscapedPath(dst, dst[mark:end], keepSlashes)
	return dst[:mark+copy(dst[mark:], dst[end:])], true
}

// matchTarget is a ProxyPassMatch target path as regexp.Expand's
// template, read as Apache's ap_pregsub reads it: $N is one digit ($1_t is
// group 1, then "_t"), a \ escapes the next byte, any other $ is literal.
// expand reports whether that substitution changes the path: Apache
// appends the whole URI to a target it leaves as it is.
func matchTarget(path string) (template []byte, expand bool) {
	for i := 0; i+1 < len(path); i++ {
		if c := path[i]; c == '\\' || c == '$' && '0' <= path[i+1] && path[i+1] <= '9' {
			expand = true
			break
		}
	}
	return modheaders.AppendRegexTemplate(nil, []byte(path)), expand
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
// appendJoin does. With keepSlashes a %2F in p is an encoded slash kept
// (AllowEncodedSlashes NoDecode) and goes on as it is, as Apache's
// canonicalisation leaves it.
func appendEscapedPath(dst, p []byte, keepSlashes bool) []byte {
	if len(p) > 0 && p[0] == '/' && len(dst) > 0 && dst[len(dst)-1] == '/' {
		p = p[1:]
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case pathSafe[c]:
			dst = append(dst, c)
		case keepSlashes && isEncodedSlash(p[i:]):
			dst = append(dst, p[i:i+3]...)
			i += 2
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

func isEncodedSlash(b []byte) bool {
	return len(b) >= 3 && b[0] == '%' && b[1] == '2' && (b[2] == 'f' || b[2] == 'F')
}

// appendKeepingSlashes appends the raw path percent-decoded but for its
// encoded slashes, with its empty, "." and ".." segments resolved as
// fasthttp resolves every other path: AllowEncodedSlashes NoDecode, where
// a %2F is no separator (so "a%2F..%2Fb" climbs nowhere).
func appendKeepingSlashes(dst, raw []byte) []byte {
	start := len(dst)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' && i+2 < len(raw) && !isEncodedSlash(raw[i:]) {
			if hi, lo := unhex(raw[i+1]), unhex(raw[i+2]); hi >= 0 && lo >= 0 {
				dst = append(dst, byte(hi<<4|lo))
				i += 2
				continue
			}
		}
		dst = append(dst, c)
	}
	return dst[:start+resolveSegments(dst[start:])]
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// resolveSegments rewrites the path b in place, dropping empty segments
// but a final one and "." segments, and letting ".." drop the segment
// before it (never above the root); it returns the new length.
func resolveSegments(b []byte) int {
	if len(b) == 0 || b[0] != '/' {
		return len(b)
	}
	out := 0
	for i := 0; i < len(b); {
		j := i + 1
		for j < len(b) && b[j] != '/' {
			j++
		}
		seg, last := b[i+1:j], j == len(b)
		switch string(seg) {
		case "":
			if last {
				b[out] = '/'
				out++
			}
		case ".":
			if last {
				b[out] = '/'
				out++
			}
		case "..":
			for out > 0 && b[out-1] != '/' {
				out--
			}
			if out > 0 {
				out-- // the slash before the dropped segment
			}
			if last {
				b[out] = '/'
				out++
			}
		default:
			b[out] = '/'
			out++
			out += copy(b[out:], seg)
		}
		i = j
	}
	if out == 0 {
		b[0] = '/'
		out = 1
	}
	return out
}

// hasEncodedSlash reports a %2F in the raw path. Apache refuses those with
// 404 by default (AllowEncodedSlashes Off); decoding them would change which
// route and which backend path a request maps to.
func hasEncodedSlash(raw []byte) bool {
	for i := range raw {
		if isEncodedSlash(raw[i:]) {
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
