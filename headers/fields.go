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
// which fasthttp resolves silently to chunked. It also learns the Block.
func checkFields(raw []byte) (status int, reason string, b Block) {
	fr, ok := plainFields(raw)
	if !ok {
		return checkFieldLines(raw)
	}
	status, reason = fr.check()
	return status, reason, fr.Block
}

// Block is what Check learns of a request's header block on its way
// through its lines, for the server to look up later without walking
// them again. It is small: it is copied on every request.
type Block struct {
	// Upgrade: the block has an Upgrade field, which only can ask to
	// switch protocols.
	Upgrade bool
	cookies uint8 // Cookie fields, in any case, up to two
	// cookieAt and cookieEnd are where the first one's value is in the
	// block, without the white space around it.
	cookieAt, cookieEnd int32
}

// Cookie returns the value of the block's Cookie field (nil for none)
// when it has at most one; more reports several, which the caller joins
// as it needs. raw is the block Check read (fasthttp's RawHeaders).
func (b *Block) Cookie(raw []byte) (value []byte, more bool) {
	if b.cookies == 0 {
		return nil, false
	}
	return raw[b.cookieAt:b.cookieEnd:b.cookieEnd], b.cookies > 1
}

// blockFacts is what Check learns from a header block's fields: how the
// body's length is given, and the Block.
type blockFacts struct {
	hasCL, hasTE, teChunked bool
	Block
}

// field takes one field; value starts at offset at in the block.
func (fr *blockFacts) field(name, value []byte, at int) {
	switch len(name) {
	case len("upgrade"):
		fr.Upgrade = fr.Upgrade || equalFold(name, "upgrade")
	case len("cookie"):
		if equalFold(name, "cookie") && fr.cookies < 2 {
			if fr.cookies++; fr.cookies == 1 {
				v := trimOWS(value)
				for len(value) > 0 && isOWS(value[0]) {
					value, at = value[1:], at+1
				}
				fr.cookieAt, fr.cookieEnd = int32(at), int32(at+len(v))
			}
		}
	case len("content-length"):
		fr.hasCL = fr.hasCL || equalFold(name, "content-length")
	case len("transfer-encoding"):
		if equalFold(name, "transfer-encoding") {
			fr.hasTE = true
			fr.teChunked = equalFold(trimOWS(value), "chunked")
		}
	}
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
// It reports !ok for any other block, and checkFieldLines says what is wrong.
func plainFields(raw []byte) (fr blockFacts, ok bool) {
	if bytes.IndexByte(raw, 0) >= 0 {
		return fr, false
	}
	crs := bytes.Count(raw, cr)
	for lines, i := 1, 0; ; lines++ {
		lf := bytes.IndexByte(raw[i:], '\n')
		if lf < 1 || raw[i+lf-1] != '\r' {
			return fr, false
		}
		start, line := i, raw[i:i+lf-1]
		i += lf + 1
		if len(line) == 0 {
			// Every line ends in CRLF: with no more CRs than lines, and
			// nothing after the blank line, no line holds a bare CR.
			return fr, i == len(raw) && crs == lines
		}
		colon := nameEnd(line)
		// No colon, an empty name, or SP or HTAB in it (or obs-fold).
		if colon == 0 || colon == len(line) || line[colon] != ':' || lines > MaxFields {
			return fr, false
		}
		fr.field(line[:colon], line[colon+1:], start+colon+1)
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
func checkFieldLines(raw []byte) (status int, reason string, b Block) {
	var n int
	var fr blockFacts
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
			return fasthttp.StatusBadRequest, reasonLineEnd, b
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			break // the blank line ending the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fasthttp.StatusBadRequest, reasonFold, b
		}
		if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, 0) >= 0 {
			return fasthttp.StatusBadRequest, reasonFieldValue, b
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fasthttp.StatusBadRequest, reasonFieldName, b
		}
		name := line[:colon]
		if bytes.IndexByte(name, ' ') >= 0 || bytes.IndexByte(name, '\t') >= 0 {
			return fasthttp.StatusBadRequest, reasonFieldName, b
		}
		if n++; n > MaxFields {
			return fasthttp.StatusRequestHeaderFieldsTooLarge, reasonTooMany, b
		}
		fr.field(name, line[colon+1:], start+colon+1)
	}
	status, reason = fr.check()
	return status, reason, fr.Block
}
