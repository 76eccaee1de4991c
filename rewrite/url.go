package rewrite

// text is what URL parts are sliced from: header bytes, or the strings of
// rules and member names.
type text interface{ ~string | ~[]byte }

// absURL is an absolute URL cut at the end of its authority. All parts alias
// the parsed value.
type absURL[T text] struct {
	scheme T
	host   T // may hold userinfo ("u@h"), which then matches no rule
	port   T // empty when absent or the scheme's default
	rest   T // path, query and fragment: from the first '/', '?' or '#'
}

// parseAbs splits v when it starts with "scheme://".
func parseAbs[T text](v T) (absURL[T], bool) {
	var u absURL[T]
	n := schemeLen(v)
	if n == 0 || len(v) < n+3 || v[n] != ':' || v[n+1] != '/' || v[n+2] != '/' {
		return u, false
	}
	u.scheme = v[:n]
	auth := v[n+3:]
	end := 0
	for end < len(auth) && auth[end] != '/' && auth[end] != '?' && auth[end] != '#' {
		end++
	}
	u.rest = auth[end:]
	u.host, u.port = splitPort(auth[:end])
	if isDefaultPort(u.scheme, u.port) {
		u.port = u.port[:0]
	}
	return u, true
}

// schemeLen is the length of the RFC 3986 scheme at the start of v, or 0.
func schemeLen[T text](v T) int {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c|0x20 && c|0x20 <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return i
		}
	}
	return len(v)
}

// isAbsolute reports whether v starts with a scheme, as httpd's ap_is_url.
func isAbsolute(v string) bool {
	n := schemeLen(v)
	return n > 0 && n < len(v) && v[n] == ':'
}

// splitPort cuts a trailing ":digits" off an authority. A colon inside an
// IPv6 literal or followed by anything but digits is part of the host, so
// such an authority never equals a rule's host.
func splitPort[T text](auth T) (host, port T) {
	i := len(auth) - 1
	for i >= 0 && '0' <= auth[i] && auth[i] <= '9' {
		i--
	}
	if i < 0 || auth[i] != ':' {
		return auth, auth[len(auth):]
	}
	return auth[:i], auth[i+1:]
}

// isDefaultPort reports whether port is empty or the default of scheme.
func isDefaultPort[S, P text](scheme S, port P) bool {
	switch {
	case len(port) == 0:
		return true
	case equalFold(scheme, "http"), equalFold(scheme, "ws"):
		return equal(port, "80")
	case equalFold(scheme, "https"), equalFold(scheme, "wss"):
		return equal(port, "443")
	}
	return false
}

// sameOrigin compares scheme and host without ASCII case, and ports exactly.
func sameOrigin[A, B text](a absURL[A], b absURL[B]) bool {
	return equalFold(a.scheme, b.scheme) && equalFold(a.host, b.host) && equal(a.port, b.port)
}

// equal is a == b across string and byte slice without converting either.
func equal[A, B text](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// equalFold is equal ignoring ASCII case only: host names and cookie
// domains are ASCII, and Unicode folding (K to the Kelvin sign) would let
// distinct names compare equal.
func equalFold[A, B text](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func hasPrefix[A, B text](v A, prefix B) bool {
	return len(v) >= len(prefix) && equal(v[:len(prefix)], prefix)
}

func hasPrefixFold[A, B text](v A, prefix B) bool {
	return len(v) >= len(prefix) && equalFold(v[:len(prefix)], prefix)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
