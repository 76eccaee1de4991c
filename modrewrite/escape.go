package modrewrite

// pathSafe marks the bytes left as they are in an escaped path: unreserved,
// sub-delims, ':' '@' '/' (what ap_escape_uri and the proxy's canonical
// form leave alone).
var pathSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()

// wireUnsafe marks bytes that can never appear in a request target or a
// Location value, [NE] or not.
var wireUnsafe = func() (t [256]bool) {
	for c := 0; c <= ' '; c++ {
		t[c] = true
	}
	for c := 0x7f; c < 256; c++ {
		t[c] = true
	}
	for _, c := range "\"<>\\^`{|}#" {
		t[c] = true
	}
	return t
}()

// AppendPath appends the decoded path p to dst percent-encoded. With
// noEscape ([NE]) only bytes that cannot appear on the wire are encoded,
// where Apache would send them raw.
func AppendPath(dst, p []byte, noEscape bool) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range p {
		if noEscape && !wireUnsafe[c] || !noEscape && pathSafe[c] {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}
