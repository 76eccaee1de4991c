// Package anycase finds a request's or a response's header fields by name
// in any case, which fasthttp's Peek does not do for names kept as sent.
package anycase

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Request returns the value of h's first field named name, in any
// case, or nil. Field names are case-insensitive (RFC 9110 §5.1), but with
// DisableHeaderNamesNormalizing, which sluice's server sets so that names
// reach members as sent, fasthttp's Peek matches them byte for byte: a
// client behind an HTTP/2 gateway sends "referer", and Peek("Referer")
// misses it. The answer is fasthttp's view of the field as it is now (a
// field sluice removed, as mod_remoteip does, stays removed), found by the
// name as spelt, as nearly every client spells it; then, for a field
// fasthttp keeps apart, its usual spelling; then each spelling the
// client's own lines give the name; then, where those were edited away,
// the whole view; and where the client sent none, the usual spelling (a
// field sluice added). A request built rather than read (no lines of its
// own) is looked up in fasthttp's view of it.
func Request(h *fasthttp.RequestHeader, name string) []byte {
	if v := h.Peek(name); v != nil {
		return v
	}
	if s := Apart(name); s != "" && s != name {
		if v := h.Peek(s); v != nil {
			return v
		}
	}
	raw := h.RawHeaders()
	if len(raw) == 0 {
		for k, v := range h.All() {
			if SameName(k, name) {
				return v
			}
		}
		return nil
	}
	sent := false
	for {
		spelt, _, rest, found := nextField(raw, name)
		if !found {
			break
		}
		if v := h.PeekBytes(spelt); v != nil {
			return v
		}
		sent, raw = true, rest
	}
	if sent {
		// The client's field was edited away, maybe set again under
		// another spelling (mod_remoteip): the whole view is searched.
		for k, v := range h.All() {
			if SameName(k, name) {
				return v
			}
		}
		return nil
	}
	// Not the client's: one sluice added would be spelt as configured,
	// which is nearly always the usual spelling.
	if isUsual(name) { // as spelt, Peek looked already
		return nil
	}
	var buf [64]byte
	if len(name) > len(buf) {
		return nil
	}
	return h.PeekBytes(usual(buf[:0], name))
}

// isUsual reports whether name is spelt as usual: the spelling a field
// sluice added nearly always has, and the lookup a caller nearly always
// makes.
func isUsual(name string) bool {
	up := true
	for i := range len(name) {
		c := name[i]
		if up && 'a' <= c && c <= 'z' || !up && 'A' <= c && c <= 'Z' {
			return false
		}
		up = c == '-'
	}
	return true
}

// usual spells a field name as RFC 9110 does: each word capitalised.
func usual(dst []byte, name string) []byte {
	up := true
	for i := range len(name) {
		c := name[i]
		switch {
		case up && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !up && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
		up = c == '-'
	}
	return dst
}

// Apart returns the usual spelling of name where it names a field
// fasthttp keeps apart from the list its All ranges over (Content-Type,
// Server, Cookie, ...), in a request or a response: its own methods, and
// Peek by that spelling only, reach it (a Cookie field leaves the list
// once its cookies are parsed). "" for any other name.
func Apart(name string) string {
	// By length first: a lookup of another field (Referer, X-Forwarded-For)
	// compares one name at most.
	var s string
	switch len(name) {
	case 4:
		if s = "Host"; name[0]|0x20 == 'd' {
			s = "Date"
		}
	case 6:
		if s = "Cookie"; name[0]|0x20 == 's' {
			s = "Server"
		}
	case 7:
		s = "Trailer"
	case 10:
		switch name[0] | 0x20 {
		case 'u':
			s = "User-Agent"
		case 'c':
			s = "Connection"
		default:
			s = "Set-Cookie"
		}
	case 12:
		s = "Content-Type"
	case 14:
		s = "Content-Length"
	case 16:
		s = "Content-Encoding"
	case 17:
		s = "Transfer-Encoding"
	default:
		return ""
	}
	// The first letter tells most other names of the length (Referer from
	// Trailer) before the whole compare.
	if name[0]|0x20 != s[0]|0x20 || !SameName([]byte(s), name) {
		return ""
	}
	return s
}

// InLines finds the first field named name, in any case, among a head's
// field lines as they came (fasthttp's RawHeaders): its value without the
// white space around it, and the lines after it, where the next may be
// looked for.
func InLines(raw []byte, name string) (value, rest []byte, found bool) {
	_, value, rest, found = nextField(raw, name)
	return value, rest, found
}

// nextField is InLines, with the name as the line spells it.
func nextField(raw []byte, name string) (spelt, value, rest []byte, found bool) {
	for len(raw) > 0 {
		end := bytes.IndexByte(raw, '\n')
		if end < 0 {
			end = len(raw) - 1
		}
		line := raw[:end]
		raw = raw[end+1:]
		if len(line) > len(name) && line[len(name)] == ':' && SameName(line[:len(name)], name) {
			return line[:len(name)], bytes.Trim(line[len(name)+1:], " \t\r"), raw, true
		}
	}
	return nil, nil, nil, false
}

// DelRequest removes every field of h named name, whatever its case
// (fasthttp's Del removes the name as spelt).
func DelRequest(h *fasthttp.RequestHeader, name string) {
	var kept [4][]byte // on the stack for a request with few such fields
	found := kept[:0]
	for k := range h.All() {
		if SameName(k, name) {
			found = append(found, k)
		}
	}
	for _, k := range found {
		h.DelBytes(k)
	}
}

// Response returns the value of h's first field named name, in any case,
// or nil: a member's names are kept as it sent them, as a client's are.
func Response(h *fasthttp.ResponseHeader, name string) []byte {
	if v := h.Peek(name); v != nil {
		return v
	}
	for k, v := range h.All() {
		if SameName(k, name) {
			return v
		}
	}
	return nil
}

// SameName reports whether a field name is name, ignoring the case of
// ASCII letters (names are tokens); most names differ in length, which is
// compared first.
func SameName(n []byte, name string) bool {
	if len(n) != len(name) {
		return false
	}
	if string(n) == name {
		return true // spelt as name, the usual case when name is a field's usual spelling
	}
	for i := range len(n) {
		if c, d := n[i], name[i]; c != d && (c|0x20 != d|0x20 || c|0x20 < 'a' || c|0x20 > 'z') {
			return false
		}
	}
	return true
}
