package headers

import "encoding/binary"

// The syntax checks a field that sluice relays must pass, for the
// protocols whose heads sluice parses itself (FastCGI's CGI head, AJP's
// packets) as for HTTP members' answers.

// IsToken reports whether name is an RFC 9110 token, as a field name must
// be.
func IsToken(name []byte) bool {
	if len(name) < 8 {
		for _, c := range name {
			if tokenChar[c] == 0 {
				return false
			}
		}
		return len(name) > 0
	}
	// Eight bytes at a time, their marks and-ed (no branch per byte), the
	// last eight overlapping the word before.
	ok := byte(1)
	for rest := name; len(rest) > 8; rest = rest[8:] {
		ok &= tokenWord(rest)
	}
	return ok&tokenWord(name[len(name)-8:]) == 1
}

// tokenWord is 1 when b's first eight bytes are tchar.
func tokenWord(b []byte) byte {
	_ = b[7]
	return tokenChar[b[0]] & tokenChar[b[1]] & tokenChar[b[2]] & tokenChar[b[3]] &
		tokenChar[b[4]] & tokenChar[b[5]] & tokenChar[b[6]] & tokenChar[b[7]]
}

// tokenChar is 1 for RFC 9110 tchar bytes, 0 for the others.
var tokenChar = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
		t[c-'a'+'A'] = 1
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = 1
	}
	return t
}()

// IsFieldValue reports whether v may stand as a field value or a reason
// phrase: no control byte but HTAB (a CR or LF would end the field, and
// open another), as RFC 9110 §5.5 and RFC 9112 §4 spell them.
func IsFieldValue(v []byte) bool {
	// Eight bytes at a time while none is below a space or DEL (the
	// usual value), the last eight overlapping the word before; a word
	// with one, a tab perhaps, is looked at bytewise.
	if len(v) >= 8 {
		rest := v
		for len(rest) > 8 && plainWord(rest) {
			rest = rest[8:]
		}
		if len(rest) <= 8 && plainWord(v[len(v)-8:]) {
			return true
		}
		v = rest
	}
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// plainWord reports whether b's first eight bytes are none below a space
// nor DEL.
func plainWord(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	w := binary.LittleEndian.Uint64(b)
	del := w ^ (ones * 0x7f) // a DEL byte is zero here
	below := (w - ones*' ') &^ w
	zero := (del - ones) &^ del
	return (below|zero)&highs == 0
}

// SameName reports whether two field names are equal ignoring ASCII case.
func SameName(a, b []byte) bool { return equalFoldBytes(a, b) }

// ParseContentLength reads a Content-Length value: decimal digits alone,
// at most 18 of them.
func ParseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
