package modheaders

import (
	"bytes"
	"iter"

	"github.com/sluiceproxy/sluice/anycase"
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
	l.remove(func(name []byte) bool { return string(name) == string(l.key) })
}

// delFold removes every field named name in any case.
func (l *Lines) delFold(name string) {
	l.remove(func(n []byte) bool { return anycase.SameName(n, name) })
}

// remove drops the lines whose name gone reports, keeping the others'
// order; nothing moves until a line goes.
func (l *Lines) remove(gone func(name []byte) bool) {
	b, out := l.B, 0
	for i := 0; i < len(b); {
		n := lineEnd(b, i)
		if !gone(fieldName(b[i:n])) {
			if out != i {
				copy(b[out:], b[i:n]) // never ahead of what is read
			}
			out += n - i
		}
		i = n
	}
	l.B = b[:out]
}

// All yields each field's name and value.
func (l *Lines) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		b := l.B
		for i := 0; i < len(b); {
			n := lineEnd(b, i)
			line := b[i:n]
			name := fieldName(line)
			// "name: value\r\n"
			if !yield(name, line[min(len(name)+2, len(line)-2):len(line)-2]) {
				return
			}
			i = n
		}
	}
}

// lineEnd is the end of the line starting at i, its CRLF included.
func lineEnd(b []byte, i int) int {
	if n := bytes.IndexByte(b[i:], '\n'); n >= 0 {
		return i + n + 1
	}
	return len(b)
}

// fieldName is the name of a "name: value\r\n" line.
func fieldName(line []byte) []byte {
	if c := bytes.IndexByte(line, ':'); c >= 0 {
		return line[:c]
	}
	return line
}
