package headers

import (
	"strings"
	"testing"
)

// eachPlacement calls f with every byte value c at every position of a
// slice 1 to 20 bytes long whose other bytes come from fill, in turn.
func eachPlacement(fill string, f func(v []byte, c byte)) {
	for c := range 256 {
		for n := 1; n <= 20; n++ {
			for pos := range n {
				v := make([]byte, n)
				for i := range v {
					v[i] = fill[i%len(fill)]
				}
				v[pos] = byte(c)
				f(v, byte(c))
			}
		}
	}
}

// TestIsFieldValue: the word-at-a-time check agrees with the byte-wise
// rule for every byte value at every position of values up to 20 bytes
// long (the words and the tail both).
func TestIsFieldValue(t *testing.T) {
	bytewise := func(v []byte) bool {
		for _, c := range v {
			if c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
		return true
	}
	eachPlacement("a\t\x80 ~", func(v []byte, _ byte) {
		if got := IsFieldValue(v); got != bytewise(v) {
			t.Fatalf("IsFieldValue(%q) = %v", v, got)
		}
	})
}

// TestIsToken: IsToken agrees with RFC 9110's tchar for every byte value
// at every position of names up to 20 bytes long.
func TestIsToken(t *testing.T) {
	tchar := func(c byte) bool {
		return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
	}
	if IsToken(nil) {
		t.Fatal("an empty name is a token")
	}
	eachPlacement("aZ-9~", func(v []byte, c byte) {
		if got := IsToken(v); got != tchar(c) {
			t.Fatalf("IsToken(%q) = %v", v, got)
		}
	})
}
