package headers

import "bytes"

// validHost reports whether b is a Host value sluice routes on: a host name
// (letters, digits, '-', '_', '~' and '.', no empty label but a trailing
// dot, no label starting or ending with '-'), an IPv4 address in dotted
// decimal (a name whose last label is a number must be one), or a bracketed
// IPv6 address, then an optional ":port" of at most 65535. Userinfo, percent-encoding, sub-delimiters,
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
	if i := bytes.IndexByte(b, ':'); i >= 0 {
		return b[:i], b[i+1:], true
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
	if '0' <= b[0] && b[0] <= '9' && canonicalIPv4(b) {
		return true // an IPv4 address, checked in one pass
	}
	prev := byte('.') // no leading dot or hyphen
	for _, c := range b {
		switch nameBytes[c] {
		case nameLetter:
		case nameDot:
			if prev == '.' || prev == '-' {
				return false
			}
		case nameHyphen:
			if prev == '.' {
				return false
			}
		default:
			return false
		}
		prev = c
	}
	if prev == '-' {
		return false
	}
	if endsInNumber(b) {
		return canonicalIPv4(b)
	}
	return true
}

// nameBytes classes the bytes of a host name: letters, digits, '_' and '~'
// (nameLetter), '.' and '-'.
var nameBytes = func() (t [256]uint8) {
	for c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '~':
			t[c] = nameLetter
		case c == '.':
			t[c] = nameDot
		case c == '-':
			t[c] = nameHyphen
		}
	}
	return t
}()

// The classes of nameBytes; 0 is a byte a host name must not hold.
const (
	nameLetter = iota + 1
	nameDot
	nameHyphen
)

// endsInNumber reports a name whose last label is a decimal or 0x number:
// URL parsers (WHATWG) read such a name as an IPv4 address in any of its
// octal, hex or short forms, so it must be the one canonical form.
func endsInNumber(b []byte) bool {
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	label := b[bytes.LastIndexByte(b, '.')+1:]
	if len(label) >= 2 && label[0] == '0' && lower(label[1]) == 'x' {
		return true
	}
	for _, c := range label {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(label) > 0
}

// canonicalIPv4 reports four dot-separated decimal numbers of at most 255
// without leading zeros, and at most a trailing dot after them.
func canonicalIPv4(b []byte) bool {
	parts, n, digits := 0, 0, 0
	for _, c := range b {
		if c == '.' {
			if digits == 0 {
				return false
			}
			parts, n, digits = parts+1, 0, 0
			continue
		}
		if c < '0' || c > '9' || (digits > 0 && n == 0) {
			return false
		}
		n, digits = n*10+int(c-'0'), digits+1
		if n > 255 {
			return false
		}
	}
	if digits > 0 {
		parts++
	}
	return parts == 4
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
