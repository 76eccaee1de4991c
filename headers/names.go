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
	kindExpect          // Expect: a request's, answered by sluice itself (fasthttp sends 100 Continue)
	kindLength          // Content-Length: the body's framing, kept as any other field is
)

// classify maps a field name to its kind, ignoring case. It runs for every
// field of every request and response, so it compares a name only with the
// managed names of its length, and first as servers and browsers nearly
// always write the most frequent ones (a compare of two words, where
// folding the case costs a test per byte).
func classify(name []byte) kind {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return kindTE
		}
	case 3:
		if equalFold(name, "via") {
			return kindVia
		}
	case 6:
		if equalFold(name, "expect") {
			return kindExpect
		}
	case 7:
		if equalFold(name, "upgrade") {
			return kindUpgrade
		}
		if equalFold(name, "trailer") {
			return kindHop
		}
	case 9:
		if equalFold(name, "forwarded") {
			return kindForwarding
		}
		if equalFoldDash(name, "x-real-ip") {
			return aliasOr(name, kindForwarding)
		}
	case 10:
		if string(name) == "Connection" || equalFold(name, "connection") {
			return kindConnection
		}
		if equalFoldDash(name, "keep-alive") {
			return aliasOr(name, kindHop)
		}
	case 14:
		if string(name) == "Content-Length" {
			return kindLength
		}
		if equalFoldDash(name, "content-length") {
			return aliasOr(name, kindLength)
		}
	case 16:
		if equalFoldDash(name, "proxy-connection") {
			return aliasOr(name, kindHop)
		}
	case 17:
		if equalFoldDash(name, "transfer-encoding") {
			return aliasOr(name, kindHop)
		}
	case 18:
		if equalFoldDash(name, "proxy-authenticate") {
			return aliasOr(name, kindHop)
		}
	case 19:
		if equalFoldDash(name, "proxy-authorization") {
			return aliasOr(name, kindHop)
		}
	}
	if !isForwardedPrefix(name) {
		return kindOther
	}
	switch {
	case bytes.IndexByte(name, '_') >= 0:
		return kindAlias
	case equalFold(name, "x-forwarded-for"):
		return kindXFF
	case equalFold(name, "x-forwarded-host"):
		return kindXFH
	case equalFold(name, "x-forwarded-server"):
		return kindXFS
	}
	return kindForwarding
}

// ClientForwarding reports the forwarding fields a client may assert
// (X-Forwarded-*, Forwarded, X-Real-IP), which the Forwarder drops when
// the peer is not a trusted proxy: the same for a FastCGI application's
// HTTP_* variables.
func ClientForwarding(name []byte) bool {
	switch classify(name) {
	case kindXFF, kindXFH, kindXFS, kindForwarding:
		return true
	}
	return false
}

// aliasOr classifies a name that matched a managed name with '_' read as
// '-': spelled with an '_' it is an alias (threats.md SMG-04, HDR-03):
// backends that map '-' to '_' (CGI, WSGI, Django) read both spellings
// alike, so it would smuggle past sluice what it strips or replaces; nginx
// and Envoy's edge settings drop or refuse underscore names for this reason.
func aliasOr(name []byte, k kind) kind {
	if bytes.IndexByte(name, '_') >= 0 {
		return kindAlias
	}
	return k
}

// equalFoldDash is equalFold with '_' in b matching '-' in s.
func equalFoldDash(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := b[i]; c != s[i] && lower(c) != s[i] && !(c == '_' && s[i] == '-') {
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
	switch len(name) {
	case 4:
		return equalFold(name, "host")
	case 7:
		return equalFold(name, "trailer")
	case 10:
		return equalFold(name, "user-agent")
	case 12:
		return equalFold(name, "content-type")
	case 14:
		return equalFold(name, "content-length")
	}
	return false
}

// isResponseSpecial is isRequestSpecial for responses. Date is in the field
// list but fasthttp ignores it when added, so it is never deleted either.
func isResponseSpecial(name []byte) bool {
	switch len(name) {
	case 4:
		return equalFold(name, "date")
	case 6:
		return equalFold(name, "server")
	case 7:
		return equalFold(name, "trailer")
	case 10:
		return equalFold(name, "set-cookie")
	case 12:
		return equalFold(name, "content-type")
	case 14:
		return equalFold(name, "content-length")
	case 16:
		return equalFold(name, "content-encoding")
	}
	return false
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		// Most bytes match as they are; only then is the case folded.
		if c := b[i]; c != s[i] && lower(c) != s[i] {
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

// HasToken reports whether the comma list v holds tok (lower case),
// ignoring case and any ";parameters".
func HasToken(v []byte, tok string) bool {
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

// OnlyToken reports whether every element of the comma list v is tok
// (lower case), ignoring case, and there is one.
func OnlyToken(v []byte, tok string) bool {
	seen := false
	for len(v) > 0 {
		var t []byte
		if t, v = nextToken(v); len(t) == 0 {
			continue
		}
		if !equalFold(t, tok) {
			return false
		}
		seen = true
	}
	return seen
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
