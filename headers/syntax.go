package headers

// The syntax checks a field that sluice relays must pass, for the
// protocols whose heads sluice parses itself (FastCGI's CGI head, AJP's
// packets) as for HTTP members' answers.

// IsToken reports whether name is an RFC 9110 token, as a field name must
// be.
func IsToken(name []byte) bool {
	for _, c := range name {
		if !tokenChar[c] {
			return false
		}
	}
	return len(name) > 0
}

// tokenChar marks RFC 9110 tchar bytes.
var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// IsFieldValue reports whether v may stand as a field value or a reason
// phrase: no control byte but HTAB (a CR or LF would end the field, and
// open another). fasthttp reads a member's reason phrase up to the line's
// end, NUL and other control bytes included: such a phrase is not relayed.
func IsFieldValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// EqualFold reports whether b equals s (a field name as RFC 9110 spells
// it) ignoring ASCII case.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if c := b[i]; c != s[i] && lower(c) != lower(s[i]) {
			return false
		}
	}
	return true
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
