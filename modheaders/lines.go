package modheaders

import (
	"bytes"
	"iter"
	"strings"
)

// Lines is a request's header fields as the lines that go on the wire
// ("name: value\r\n"), which RequestHeader rules edit when the server
// writes the request's head itself instead of a fasthttp header (the
// server's ownHead). Names match exactly, as they do in a fasthttp header
// that does not normalise them; adding appends a line; deleting keeps the
// order of the others.
type Lines struct {
	B   []byte
	key []byte // DelBytes' key, which may point into B
}

// AddBytesKV appends a field. CR and LF in value become spaces, as
// fasthttp's setters make them.
func (l *Lines) AddBytesKV(key, value []byte) {
	l.B = append(l.B, key...)
	l.B = append(l.B, ':', ' ')
	start := len(l.B)
	l.B = append(l.B, value...)
	for i := start; i < len(l.B); i++ {
		if c := l.B[i]; c == '\r' || c == '\n' {
			l.B[i] = ' '
		}
	}
	l.B = append(l.B, '\r', '\n')
}

// DelBytes removes every field named key.
func (l *Lines) DelBytes(key []byte) {
	l.key = append(l.key[:0], key...)
	l.remove(func(name []byte) bool { return bytes.Equal(name, l.key) })
}

// delFold removes every field named name in any case.
func (l *Lines) delFold(name string) {
	l.remove(func(n []byte) bool { return strings.EqualFold(string(n), name) })
}

// remove drops the lines whose name gone reports, keeping the others'
// order.
func (l *Lines) remove(gone func(name []byte) bool) {
	out := l.B[:0]
	for line := range lines(l.B) {
		if name, _ := field(line); !gone(name) {
			out = append(out, line...) // never ahead of what is read
		}
	}
	l.B = out
}

// All yields each field's name and value.
func (l *Lines) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for line := range lines(l.B) {
			if name, value := field(line); !yield(name, value) {
				return
			}
		}
	}
}

// lines yields each line of b with its CRLF.
func lines(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			n := bytes.IndexByte(b, '\n') + 1
			if n == 0 {
				n = len(b)
			}
			if !yield(b[:n]) {
				return
			}
			b = b[n:]
		}
	}
}

// field splits "name: value\r\n".
func field(line []byte) (name, value []byte) {
	line = bytes.TrimSuffix(line, []byte("\r\n"))
	name, value, _ = bytes.Cut(line, []byte(": "))
	return name, value
}
