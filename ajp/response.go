package ajp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/headers"
)

// Errors of a container's answer; none of their text reaches a client.
var (
	// ErrNoResponse is an END_RESPONSE before any SEND_HEADERS.
	ErrNoResponse = errors.New("ajp: the container ended the request without a response")
	// ErrBodyLength is a body longer or shorter than its Content-Length.
	ErrBodyLength = errors.New("ajp: body does not match its Content-Length")
)

// Response reads a container's packets for one request: ReadHead until
// SEND_HEADERS, then Read the body (SEND_BODY_CHUNK) until END_RESPONSE
// (io.EOF). A GET_BODY_CHUNK on the way is answered with the next chunk
// of the request body. A Response is reused request after request.
type Response struct {
	r    *bufio.Reader
	w    io.Writer // the connection, for body chunks
	body io.Reader // the request body not yet sent; nil once its end was
	out  []byte    // a data packet
	pkt  []byte    // a SEND_HEADERS payload

	left, skip int // of the current SEND_BODY_CHUNK: data left, bytes after it
	ended      bool
	reuse      bool
	read       bool  // a byte of the answer was read
	limit, n   int64 // Content-Length (-1 without one), body bytes returned
	hdr        [5]byte
}

// Reset readies res to read an answer from r, sending body, what is left
// of the request body, to w when the container asks for it.
func (res *Response) Reset(r *bufio.Reader, w io.Writer, body io.Reader) {
	*res = Response{r: r, w: w, body: body, out: res.out[:0], pkt: res.pkt[:0], limit: -1}
}

// Ended reports whether END_RESPONSE was read; Reusable whether it let
// the connection serve another request.
func (res *Response) Ended() bool    { return res.ended }
func (res *Response) Reusable() bool { return res.ended && res.reuse }

// Started reports whether any byte of the answer arrived.
func (res *Response) Started() bool { return res.read }

// Limit is the body's Content-Length, -1 without one.
func (res *Response) Limit() int64 { return res.limit }

// SendChunk sends the next chunk of the request body, at most n bytes
// (the first chunk goes before any is asked for when the body's length is
// known, as Apache sends it); the body's end is an empty chunk.
func (res *Response) SendChunk(n int) error {
	n = min(n, MaxChunk)
	if cap(res.out) < 6+MaxChunk {
		res.out = make([]byte, 0, 6+MaxChunk)
	}
	chunk := res.out[6 : 6+n]
	k := 0
	if res.body != nil {
		var err error
		k, err = io.ReadFull(res.body, chunk)
		switch err {
		case io.EOF, io.ErrUnexpectedEOF:
			res.body = nil
		case nil:
		default:
			return err
		}
	}
	if _, err := res.w.Write(AppendData(res.out[:0], chunk[:k])); err != nil {
		return err
	}
	if f, ok := res.w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// StopBody ends the request body: a GET_BODY_CHUNK from now on is answered
// with the body's end.
func (res *Response) StopBody() { res.body = nil }

// next reads the next packet's header and type; SEND_BODY_CHUNK leaves its
// data to Read, SEND_HEADERS its payload in res.pkt, GET_BODY_CHUNK is
// answered here.
func (res *Response) next() (byte, error) {
	if res.skip > 0 {
		if _, err := res.r.Discard(res.skip); err != nil {
			return 0, unexpected(err)
		}
		res.skip = 0
	}
	h := res.hdr[:]
	if k, err := io.ReadFull(res.r, h); err != nil {
		if k == 0 && err == io.EOF && !res.read {
			return 0, io.EOF // closed before answering: a stale connection
		}
		return 0, unexpected(err)
	}
	res.read = true
	n := int(binary.BigEndian.Uint16(h[2:]))
	if h[0] != 'A' || h[1] != 'B' || n == 0 {
		return 0, ErrProtocol
	}
	rest := n - 1
	switch typ := h[4]; typ {
	case typeSendBodyChunk:
		if rest < 2 {
			return 0, ErrProtocol
		}
		if _, err := io.ReadFull(res.r, h[:2]); err != nil {
			return 0, unexpected(err)
		}
		res.left = int(binary.BigEndian.Uint16(h[:2]))
		if res.skip = rest - 2 - res.left; res.skip < 0 {
			return 0, ErrProtocol
		}
		return typ, nil
	case typeSendHeaders:
		if cap(res.pkt) < rest {
			res.pkt = make([]byte, 0, max(rest, PacketSize)) // a container may use larger packets
		}
		res.pkt = res.pkt[:rest]
		if _, err := io.ReadFull(res.r, res.pkt); err != nil {
			return 0, unexpected(err)
		}
		return typ, nil
	case typeGetBodyChunk:
		if rest < 2 {
			return 0, ErrProtocol
		}
		if _, err := io.ReadFull(res.r, h[:2]); err != nil {
			return 0, unexpected(err)
		}
		if _, err := res.r.Discard(rest - 2); err != nil {
			return 0, unexpected(err)
		}
		return typ, res.SendChunk(int(binary.BigEndian.Uint16(h[:2])))
	case typeEndResponse:
		if rest < 1 {
			return 0, ErrProtocol
		}
		b, err := res.r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		res.ended, res.reuse = true, b == 1
		res.skip = rest - 1
		if _, err := res.r.Discard(res.skip); err != nil {
			return 0, unexpected(err)
		}
		res.skip = 0
		return typ, nil
	}
	res.skip = rest // CPONG and anything else a request does not need
	return h[4], nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadHead reads packets until SEND_HEADERS and puts its status, reason
// and fields into h (Content-Length bounds the body); head is a HEAD
// request's answer, whose length is only ever the container's.
func (res *Response) ReadHead(h *fasthttp.ResponseHeader, head bool) error {
	for {
		typ, err := res.next()
		if err != nil {
			return err
		}
		switch typ {
		case typeSendHeaders:
			if err := res.parseHead(h); err != nil {
				return err
			}
			if n := res.bufferedLength(); res.limit < 0 && n >= 0 && !head {
				// The whole answer is in: its length lets the client's
				// response go out in one write, not as chunks. A HEAD's
				// has no body to count: its 0 is not the GET's length.
				res.limit = n
				h.SetContentLength(int(n))
			}
			return nil
		case typeSendBodyChunk:
			return ErrProtocol // a body before its head
		case typeEndResponse:
			return ErrNoResponse
		}
	}
}

func (res *Response) parseHead(h *fasthttp.ResponseHeader) error {
	p := res.pkt
	status, p, ok := readInt(p)
	if !ok || status < 100 || status > 599 {
		return ErrProtocol
	}
	reason, p, ok := readString(p)
	if !ok || !headers.IsFieldValue(reason) {
		return ErrProtocol
	}
	count, p, ok := readInt(p)
	if !ok {
		return ErrProtocol
	}
	for range count {
		var name, value []byte
		if len(p) >= 2 && p[0] == 0xA0 {
			code := int(p[1])
			if code == 0 || code > len(responseHeaders) {
				return ErrProtocol
			}
			name, p = responseHeaderNames[code-1], p[2:]
		} else if name, p, ok = readString(p); !ok {
			return ErrProtocol
		}
		if value, p, ok = readString(p); !ok || !headers.IsToken(name) || !headers.IsFieldValue(value) {
			return ErrProtocol // a CR or LF would split the field
		}
		switch {
		case anycase.SameName(name, "Content-Length"):
			n, ok := headers.ParseContentLength(value)
			if !ok || res.limit >= 0 && n != res.limit {
				return ErrProtocol
			}
			res.limit = n
		case anycase.SameName(name, "Transfer-Encoding"):
		case anycase.SameName(name, "Connection") && headers.OnlyToken(value, "close"):
			// fasthttp would drop every Connection field with it, the lists
			// of the fields the proxy must remove too.
		default:
			h.AddBytesKV(name, value)
		}
	}
	h.SetStatusCode(status)
	if len(reason) > 0 && !isCode(reason, status) {
		// Tomcat 9 and later send the code itself ("200"): the client
		// gets the standard phrase instead.
		h.SetStatusMessage(reason)
	}
	h.SetContentLength(int(res.limit))
	return nil
}

// bufferedLength is the body's length when all of it, through
// END_RESPONSE, is in the reader's buffer; -1 otherwise (or when the
// container asks for more of the request body on the way). It reads
// nothing more.
func (res *Response) bufferedLength() int64 {
	b, _ := res.r.Peek(res.r.Buffered())
	b = b[min(res.skip, len(b)):]
	var n int64
	for len(b) >= 5 && b[0] == 'A' && b[1] == 'B' {
		size := int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+size {
			return -1
		}
		switch b[4] {
		case typeEndResponse:
			return n
		case typeSendBodyChunk:
			if size < 3 {
				return -1
			}
			n += int64(binary.BigEndian.Uint16(b[5:]))
		case typeGetBodyChunk, typeSendHeaders:
			return -1
		}
		b = b[4+size:]
	}
	return -1
}

// SkipBuffered reads the rest of the answer, any body dropped, when all
// of it through END_RESPONSE is in the reader's buffer already (an
// answer the client gets no body of: to a HEAD, a 204, a 304), and
// reports whether it did; it never waits for more.
func (res *Response) SkipBuffered() bool {
	if res.left > 0 || res.bufferedLength() < 0 {
		return false
	}
	for !res.ended {
		if _, err := res.next(); err != nil {
			return false
		}
		if res.left > 0 {
			if _, err := res.r.Discard(res.left); err != nil {
				return false
			}
			res.left = 0
		}
	}
	return true
}

// Read returns the body until END_RESPONSE (io.EOF), held to its
// Content-Length when it has one.
func (res *Response) Read(p []byte) (int, error) {
	if res.limit >= 0 && res.n == res.limit {
		return 0, res.drain()
	}
	if res.limit >= 0 && int64(len(p)) > res.limit-res.n {
		p = p[:res.limit-res.n]
	}
	for res.left == 0 {
		if res.ended {
			if res.limit >= 0 && res.n < res.limit {
				return 0, ErrBodyLength
			}
			return 0, io.EOF
		}
		typ, err := res.next()
		if err != nil {
			return 0, err
		}
		if typ == typeSendHeaders {
			return 0, ErrProtocol
		}
	}
	n, err := res.r.Read(p[:min(len(p), res.left)])
	res.left -= n
	res.n += int64(n)
	return n, unexpected(err)
}

// drain reads to END_RESPONSE once the Content-Length is reached.
func (res *Response) drain() error {
	if res.left > 0 {
		return ErrBodyLength
	}
	for !res.ended {
		typ, err := res.next()
		switch {
		case err != nil:
			return err
		case typ == typeSendBodyChunk && res.left > 0, typ == typeSendHeaders:
			return ErrBodyLength
		}
	}
	return io.EOF
}

// isCode reports whether reason is status written out.
func isCode(reason []byte, status int) bool {
	return len(reason) == 3 && int(reason[0]-'0')*100+int(reason[1]-'0')*10+int(reason[2]-'0') == status
}

func readInt(p []byte) (int, []byte, bool) {
	if len(p) < 2 {
		return 0, nil, false
	}
	return int(binary.BigEndian.Uint16(p)), p[2:], true
}

// readString reads an AJP string; the null string (length 0xFFFF) reads
// empty.
func readString(p []byte) ([]byte, []byte, bool) {
	n, p, ok := readInt(p)
	switch {
	case !ok:
		return nil, nil, false
	case n == 0xFFFF:
		return nil, p, true
	case len(p) < n+1 || p[n] != 0:
		return nil, nil, false
	}
	return p[:n], p[n+1:], true
}

// responseHeaderNames are responseHeaders as bytes.
var responseHeaderNames = func() (names [len(responseHeaders)][]byte) {
	for i, n := range responseHeaders {
		names[i] = []byte(n)
	}
	return names
}()
