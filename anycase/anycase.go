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
// misses it. The name as spelt is tried first, as nearly every client
// spells it; then the client's own lines, whatever their case. A request
// built rather than read (no lines of its own) is looked up in fasthttp's
// view of it.
func Request(h *fasthttp.RequestHeader, name string) []byte {
	if v := h.Peek(name); v != nil {
		return v
	}
	if raw := h.RawHeaders(); len(raw) > 0 {
		v, _, _ := InLines(raw, name)
		return v
	}
	for k, v := range h.All() {
		if equalFold(k, name) {
			return v
		}
	}
	return nil
}

// InLines finds the first field named name, in any case, among a head's
// field lines as they came (fasthttp's RawHeaders): its value without the
// white space around it, and the lines after it, where the next may be
// looked for.
func InLines(raw []byte, name string) (value, rest []byte, found bool) {
	for len(raw) > 0 {
		end := bytes.IndexByte(raw, '\n')
		if end < 0 {
			end = len(raw) - 1
		}
		line := raw[:end]
		raw = raw[end+1:]
		if len(line) > len(name) && line[len(name)] == ':' && equalFold(line[:len(name)], name) {
			return bytes.Trim(line[len(name)+1:], " \t\r"), raw, true
		}
	}
	return nil, nil, false
}

// DelRequest removes every field of h named name, whatever its case
// (fasthttp's Del removes the name as spelt).
func DelRequest(h *fasthttp.RequestHeader, name string) {
	var kept [4][]byte // on the stack for a request with few such fields
	found := kept[:0]
	for k := range h.All() {
		if equalFold(k, name) {
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
		if equalFold(k, name) {
			return v
		}
	}
	return nil
}

// equalFold reports whether b equals s, ignoring the case of ASCII
// letters.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if c != d && (c|0x20 != d|0x20 || c|0x20 < 'a' || c|0x20 > 'z') {
			return false
		}
	}
	return true
}
