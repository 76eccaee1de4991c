package headers

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// checkFields scans the header block as received (fasthttp's RawHeaders:
// field lines and the blank line) for what fasthttp's parser accepts but a
// front proxy must not: inner-space names, obs-fold, bare LF, CR or NUL,
// too many fields, and Content-Length together with Transfer-Encoding,
// which fasthttp resolves silently to chunked.
func checkFields(raw []byte) (int, string) {
	var n int
	var hasCL, hasTE, teChunked bool
	for len(raw) > 0 {
		end := bytes.IndexByte(raw, '\n')
		if end < 0 {
			end = len(raw) // fasthttp only saves complete blocks; be safe
		}
		line := raw[:end]
		if end < len(raw) {
			raw = raw[end+1:]
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
		switch {
		case equalFold(name, "content-length"):
			hasCL = true
		case equalFold(name, "transfer-encoding"):
			hasTE = true
			teChunked = equalFold(trimOWS(line[colon+1:]), "chunked")
		}
	}
	if hasCL && hasTE {
		return fasthttp.StatusBadRequest, reasonFraming
	}
	if hasTE && !teChunked {
		return fasthttp.StatusNotImplemented, reasonCoding
	}
	return 0, ""
}
