package headers

import "bytes"

// kind says what a header field means to the proxy.
type kind uint8

const (
	kindOther      kind = iota
	kindConnection      // Connection: hop-by-hop, and names more hop-by-hop fields
	kindHop             // always hop-by-hop (Keep-Alive, Proxy-*, Transfer-Encoding, Trailer)
	kindTE              // hop-by-hop, but "trailers" is passed on
	kindUpgrade         // hop-by-hop unless the request is tunnelled
	kindXFF             // X-Forwarded-For
	kindXFH             // X-Forwarded-Host
	kindXFS             // X-Forwarded-Server
	kindVia             // Via
	kindForwarding      // other client-asserted forwarding data (X-Forwarded-Proto, Forwarded, X-Real-IP)
	kindAlias           // an underscore spelling of a field sluice manages: always dropped
	kindSpecial         // kept by fasthttp outside its field list; never re-added
)

// classify maps a field name to its kind, ignoring case.
func classify(name []byte) kind {
	if bytes.IndexByte(name, '_') >= 0 {
		if isAlias(name) {
			return kindAlias
		}
		return kindOther
	}
	switch {
	case equalFold(name, "connection"):
		return kindConnection
	case equalFold(name, "keep-alive"), equalFold(name, "proxy-connection"),
		equalFold(name, "proxy-authenticate"), equalFold(name, "proxy-authorization"),
		equalFold(name, "transfer-encoding"), equalFold(name, "trailer"):
		return kindHop
	case equalFold(name, "te"):
		return kindTE
	case equalFold(name, "upgrade"):
		return kindUpgrade
	case equalFold(name, "x-forwarded-for"):
		return kindXFF
	case equalFold(name, "x-forwarded-host"):
		return kindXFH
	case equalFold(name, "x-forwarded-server"):
		return kindXFS
	case equalFold(name, "via"):
		return kindVia
	case equalFold(name, "forwarded"), equalFold(name, "x-real-ip"), isForwardedPrefix(name):
		return kindForwarding
	}
	return kindOther
}

// isAlias reports a name that, with '_' read as '-', names a framing,
// hop-by-hop or forwarding field. Backends that map '-' to '_' (CGI, WSGI,
// Django) read both spellings alike, so such a field would smuggle past
// sluice what it strips or replaces (threats.md SMG-04, HDR-03); nginx and
// Envoy's edge settings drop or refuse underscore names for this reason.
func isAlias(name []byte) bool {
	for _, s := range aliased {
		if equalFoldDash(name, s) {
			return true
		}
	}
	return isForwardedPrefix(name)
}

// aliased are the managed names that contain a '-'.
var aliased = [...]string{"content-length", "transfer-encoding", "keep-alive",
	"proxy-connection", "proxy-authenticate", "proxy-authorization", "x-real-ip"}

// equalFoldDash is equalFold with '_' in b matching '-' in s.
func equalFoldDash(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := lower(b[i])
		if c == '_' {
			c = '-'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// isForwardedPrefix reports an "x-forwarded-" name, with '-' or '_'
// separators: backends that map '-' to '_' (CGI, Django) read both alike.
func isForwardedPrefix(name []byte) bool {
	const p = "x-forwarded-"
	if len(name) <= len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := lower(name[i])
		if c == '_' {
			c = '-'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// isRequestSpecial reports the request fields fasthttp stores apart from
// its field list (and never in it): they survive a rebuild untouched.
func isRequestSpecial(name []byte) bool {
	return equalFold(name, "host") || equalFold(name, "user-agent") ||
		equalFold(name, "content-type") || equalFold(name, "content-length") ||
		equalFold(name, "trailer")
}

// isResponseSpecial is isRequestSpecial for responses. Date is in the field
// list but fasthttp ignores it when added, so it is never deleted either.
func isResponseSpecial(name []byte) bool {
	return equalFold(name, "content-length") || equalFold(name, "content-type") ||
		equalFold(name, "content-encoding") || equalFold(name, "server") ||
		equalFold(name, "set-cookie") || equalFold(name, "trailer") ||
		equalFold(name, "date")
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// equalFoldBytes is equalFold for two arbitrary byte strings.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// nextToken returns the first element of the comma list v, without
// surrounding whitespace, and the rest. Empty elements are returned empty.
func nextToken(v []byte) (tok, rest []byte) {
	end := len(v)
	for i, c := range v {
		if c == ',' {
			end = i
			rest = v[i+1:]
			break
		}
	}
	return trimOWS(v[:end]), rest
}

// hasToken reports whether the comma list v holds tok (lower case),
// ignoring case and any ";parameters".
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var t []byte
		t, v = nextToken(v)
		for i, c := range t {
			if c == ';' {
				t = t[:i]
				break
			}
		}
		if equalFold(trimOWS(t), tok) {
			return true
		}
	}
	return false
}

// trimOWS removes optional whitespace (SP, HTAB) around b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }
