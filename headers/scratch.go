package headers

import (
	"bytes"
	"sync"
)

// field is one header field line held in a scratch buffer.
type field struct {
	ks, ke, vs, ve int // key and value spans in scratch.buf
	kind           kind
	special        bool // stored by fasthttp apart from its field list
	drop           bool
	folded         bool // its value joins the first field of its kind (merged kinds)
}

// span is a byte range in one of a scratch's buffers.
type span struct{ start, end int }

// scratch is the per-call working space of Request and Response. It is
// pooled, so the Forwarder stays immutable and the hot path allocation-free
// once a scratch has grown to the largest header seen.
type scratch struct {
	buf    []byte  // copies of the fields, in order
	fields []field // spans into buf
	named  []span  // the elements of the Connection fields, in buf
	val    []byte  // values sluice writes (merged X-Forwarded-*, Via)
	merged [kindForwarding]span
	count  [kindForwarding]int // live fields of each kind
	// merging: a kind sluice adds to has a live field (count).
	merging bool
	// noConnection: the fields are known to hold no Connection field
	// (Lines said so), and there are no names to collect.
	noConnection bool
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch {
	s := scratchPool.Get().(*scratch)
	s.buf = s.buf[:0]
	s.fields = s.fields[:0]
	s.named = s.named[:0]
	s.val = s.val[:0]
	s.merged = [kindForwarding]span{}
	s.count, s.merging, s.noConnection = [kindForwarding]int{}, false, false
	return s
}

func putScratch(s *scratch) { scratchPool.Put(s) }

func (s *scratch) key(f *field) []byte   { return s.buf[f.ks:f.ke] }
func (s *scratch) value(f *field) []byte { return s.buf[f.vs:f.ve] }

// add copies one field into the scratch.
func (s *scratch) add(k, v []byte, special bool) {
	ks := len(s.buf)
	s.buf = append(s.buf, k...)
	vs := len(s.buf)
	s.buf = append(s.buf, v...)
	s.fields = append(s.fields, field{
		ks: ks, ke: vs, vs: vs, ve: len(s.buf),
		kind: classify(k), special: special,
	})
}

// parseLines turns the field lines in s.buf from offset from on, up to the
// blank line ending them, into fields: a serialised header's (fasthttp's
// AppendBytes, past its start line) or a header block as the client sent
// it (Check refused obs-folds, bare CRs and LFs and names with spaces).
// Values are taken without the whitespace around them; special marks
// fields (nil: none).
func (s *scratch) parseLines(from int, special func([]byte) bool) {
	b := s.buf
	for i := from; i < len(b); {
		end := indexCRLF(b, i)
		if end == i || end == len(b) { // the blank line ending the header
			return
		}
		colon := end
		if c := bytes.IndexByte(b[i:end], ':'); c >= 0 {
			colon = i + c
		}
		vs, ve := trimSpan(b, min(colon+1, end), end)
		k := b[i:colon]
		s.fields = append(s.fields, field{
			ks: i, ke: colon, vs: vs, ve: ve,
			kind: classify(k), special: special != nil && special(k),
		})
		i = end + 2
	}
}

// indexCRLF returns the index of the first "\r\n" in b at or after from,
// or len(b). Looking for the LF and then at the byte before it is cheaper
// than bytes.Index with a two-byte separator.
func indexCRLF(b []byte, from int) int {
	for from < len(b) {
		i := bytes.IndexByte(b[from:], '\n')
		if i < 0 {
			break
		}
		if i > 0 && b[from+i-1] == '\r' {
			return from + i - 1
		}
		from += i + 1
	}
	return len(b)
}
