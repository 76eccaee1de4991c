package headers

// validHost reports whether b is a Host value sluice routes on: a host name
// (letters, digits, '-', '_', '~' and '.', no empty label but a trailing
// dot), an IPv4 address or a bracketed IPv6 address, then an optional
// ":port" of at most 65535. Userinfo, percent-encoding, sub-delimiters,
// whitespace, controls and non-ASCII bytes are refused.
func validHost(b []byte) bool {
	name, port, ok := splitHostPort(b)
	return ok && validPort(port) && validName(name)
}

// splitHostPort splits "name[:port]" and "[v6][:port]". port excludes the
// colon; hasPort distinctions do not matter to callers, an empty port is
// allowed (RFC 3986 port = *DIGIT).
func splitHostPort(b []byte) (name, port []byte, ok bool) {
	if len(b) > 0 && b[0] == '[' {
		end := 1
		for end < len(b) && b[end] != ']' {
			end++
		}
		if end == len(b) {
			return nil, nil, false
		}
		name, rest := b[:end+1], b[end+1:]
		if len(rest) == 0 {
			return name, nil, true
		}
		if rest[0] != ':' {
			return nil, nil, false
		}
		return name, rest[1:], true
	}
	for i, c := range b {
		if c == ':' {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, true
}

func validPort(p []byte) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0] == '[' {
		return validIPv6Literal(b[1 : len(b)-1])
	}
	prevDot := true // no leading dot
	for _, c := range b {
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '~':
			prevDot = false
		default:
			return false
		}
	}
	return true
}

// validIPv6Literal checks the bytes allowed inside the brackets; the
// address itself is the backend's resolver's business.
func validIPv6Literal(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F',
			c == ':', c == '.':
		default:
			return false
		}
	}
	return true
}

// sameAuthority compares an absolute-form authority with Host, ignoring
// case and an explicit default port of the target's scheme.
func sameAuthority(authority, host []byte, defaultPort string) bool {
	an, ap, _ := splitHostPort(authority)
	hn, hp, _ := splitHostPort(host)
	if len(ap) == 0 {
		ap = []byte(defaultPort)
	}
	if len(hp) == 0 {
		hp = []byte(defaultPort)
	}
	return equalFoldBytes(an, hn) && string(ap) == string(hp)
}
