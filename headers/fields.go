package headers

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/valyala/fasthttp"
)

// checkFields checks the header block as received (fasthttp's RawHeaders:
// field lines and the blank line) for what fasthttp's parser accepts but a
// front proxy must not: inner-space names, obs-fold, bare LF, CR or NUL,
// too many fields, and Content-Length together with Transfer-Encoding,
// which fasthttp resolves silently to chunked. It fills l as it goes.
func checkFields(raw []byte, l *Lines) (status int, reason string) {
	l.reset(raw)
	fr := blockFacts{l: l}
	if !fr.plainFields(raw) {
		return checkFieldLines(raw, l)
	}
	l.table = true
	return fr.check()
}

// Lines is a request's header block as Check read it: what it learned of
// the fields, and for a block of plain lines (nearly every one) where
// each field's name and value are and what kind of field it is, so that
// AppendRequestFields builds the outbound fields without reading the
// lines again. The server keeps one per request; it points into the
// request's own lines (fasthttp's RawHeaders), and is valid while the
// request is.
type Lines struct {
	// Upgrade: the block has an Upgrade field, which only can ask to
	// switch protocols.
	Upgrade bool
	// connection: the block has a Connection field (kindConnection).
	connection bool
	cookies    uint8 // Cookie fields, in any case, up to two
	// cookieAt and cookieEnd are where the first one's value is in raw,
	// without the white space around it.
	cookieAt, cookieEnd int32
	raw                 []byte
	fields              []field // spans in raw; special is not set
	table               bool    // fields holds every field of raw
}

func (l *Lines) reset(raw []byte) {
	l.Upgrade, l.connection, l.cookies, l.raw, l.fields, l.table = false, false, 0, raw, l.fields[:0], false
}

// Release lets go of the request's lines, keeping the memory for the
// next request.
func (l *Lines) Release() { l.reset(nil) }

// Cookie returns the value of the block's Cookie field (nil for none)
// when it has at most one; more reports several, which the caller joins
// as it needs.
func (l *Lines) Cookie() (value []byte, more bool) {
	if l.cookies == 0 {
		return nil, false
	}
	return l.raw[l.cookieAt:l.cookieEnd:l.cookieEnd], l.cookies > 1
}

// blockFacts is what Check learns from a header block's fields: how the
// body's length is given, and what it fills in l.
type blockFacts struct {
	hasCL, hasTE, teChunked bool
	l                       *Lines
}

// field takes one field of kind k (classify) whose value, without the
// white space around it, is raw[vs:ve].
func (fr *blockFacts) field(name, raw []byte, vs, ve int, k kind) {
	switch k {
	case kindUpgrade:
		fr.l.Upgrade = true
	case kindConnection:
		fr.l.connection = true
	case kindLength:
		fr.hasCL = true
	}
	switch len(name) {
	case len("cookie"):
		if l := fr.l; equalFold(name, "cookie") && l.cookies < 2 {
			if l.cookies++; l.cookies == 1 {
				l.cookieAt, l.cookieEnd = int32(vs), int32(ve)
			}
		}
	case len("transfer-encoding"):
		if equalFold(name, "transfer-encoding") {
			fr.hasTE = true
			fr.teChunked = equalFold(raw[vs:ve], "chunked")
		}
	}
}

// trimSpan narrows the span b[vs:ve] to leave out the white space around
// it.
func trimSpan(b []byte, vs, ve int) (int, int) {
	for vs < ve && isOWS(b[vs]) {
		vs++
	}
	for ve > vs && isOWS(b[ve-1]) {
		ve--
	}
	return vs, ve
}

func (fr *blockFacts) check() (int, string) {
	if fr.hasCL && fr.hasTE {
		return fasthttp.StatusBadRequest, reasonFraming
	}
	if fr.hasTE && !fr.teChunked {
		return fasthttp.StatusNotImplemented, reasonCoding
	}
	return 0, ""
}

// plainFields reads a block whose lines have nothing to refuse, as nearly
// every block does, with fewer scans than checkFieldLines: one for NUL and
// one counting the CRs of the whole block, then one per line for its end.
// It reports false for any other block, and checkFieldLines says what is
// wrong. Each field goes into fr.l's table.
func (fr *blockFacts) plainFields(raw []byte) bool {
	if bytes.IndexByte(raw, 0) >= 0 {
		return false
	}
	crs := bytes.Count(raw, cr)
	for lines, i := 1, 0; ; lines++ {
		lf := bytes.IndexByte(raw[i:], '\n')
		if lf < 1 || raw[i+lf-1] != '\r' {
			return false
		}
		start, line := i, raw[i:i+lf-1]
		i += lf + 1
		if len(line) == 0 {
			// Every line ends in CRLF: with no more CRs than lines, and
			// nothing after the blank line, no line holds a bare CR.
			return i == len(raw) && crs == lines
		}
		colon := nameEnd(line)
		// No colon, an empty name, or SP or HTAB in it (or obs-fold).
		if colon == 0 || colon == len(line) || line[colon] != ':' || lines > MaxFields {
			return false
		}
		name, k := line[:colon], classify(line[:colon])
		vs, ve := trimSpan(raw, start+colon+1, start+len(line))
		fr.field(name, raw, vs, ve, k)
		fr.l.fields = append(fr.l.fields, field{ks: start, ke: start + colon, vs: vs, ve: ve, kind: k})
	}
}

var cr = []byte{'\r'}

// nameEnd returns the index in line of the first colon, SP or HTAB (a name
// ends at the colon and holds neither of the others), or len(line). It runs
// on every field of every request, so it tests eight bytes at a time.
func nameEnd(line []byte) int {
	i := 0
	for ; i+8 <= len(line); i += 8 {
		w := binary.LittleEndian.Uint64(line[i:])
		if m := zeroBytes(w^(':'*ones)) | zeroBytes(w^(' '*ones)) | zeroBytes(w^('\t'*ones)); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(line); i++ {
		if c := line[i]; c == ':' || c == ' ' || c == '\t' {
			break
		}
	}
	return i
}

const ones = 0x0101010101010101

// zeroBytes sets the top bit of the zero bytes of w. A byte above a zero
// byte may be set wrongly, never one below, so the lowest set bit is exact.
func zeroBytes(w uint64) uint64 { return (w - ones) &^ w & (0x80 * ones) }

// checkFieldLines is checkFields one line at a time, in the order that
// decides which problem of a bad block is reported.
func checkFieldLines(raw []byte, l *Lines) (status int, reason string) {
	l.reset(raw) // of what plainFields learned
	var n int
	fr := blockFacts{l: l}
	for at := 0; len(raw) > 0; {
		end := bytes.IndexByte(raw, '\n')
		if end < 0 {
			end = len(raw) // fasthttp only saves complete blocks; be safe
		}
		line, start := raw[:end], at
		if end < len(raw) {
			raw, at = raw[end+1:], at+end+1
		} else {
			raw = nil
		}
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return fasthttp.StatusBadRequest, reasonLineEnd
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			break // the blank line ending the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fasthttp.StatusBadRequest, reasonFold
		}
		if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, 0) >= 0 {
			return fasthttp.StatusBadRequest, reasonFieldValue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fasthttp.StatusBadRequest, reasonFieldName
		}
		name := line[:colon]
		if bytes.IndexByte(name, ' ') >= 0 || bytes.IndexByte(name, '\t') >= 0 {
			return fasthttp.StatusBadRequest, reasonFieldName
		}
		if n++; n > MaxFields {
			return fasthttp.StatusRequestHeaderFieldsTooLarge, reasonTooMany
		}
		vs, ve := trimSpan(l.raw, start+colon+1, start+len(line))
		fr.field(name, l.raw, vs, ve, classify(name))
	}
	return fr.check()
}
