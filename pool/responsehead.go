package pool

// An HTTP member's response head, read by sluice itself. fasthttp's parse
// fills a ResponseHeader (each field copied into its own slot, some moved
// to special ones, the wire order lost) that the server then walks to copy
// every field into the client's response: on a small keep-alive GET that
// parse was about a tenth of sluice's instructions. Here the head is one
// copy of the member's bytes and a list of where each field's name and
// value are in it; the server reads them from there, in the member's order.
//
// What is refused (the response gets 502 and its connection is closed;
// threats.md SMG-15): a status line that is not "HTTP/1.x NNN", a field
// line without a colon or with a name that is not a token (a space inside
// it), a control byte other than HTAB in a value (NUL, a bare CR; in the
// reason phrase, the phrase is dropped), a Content-Length that is not digits alone or comes twice, a
// Transfer-Encoding other than "chunked" alone or that comes twice or in an
// HTTP/1.0 response (RFC 9112 §6.1), and a head over the member's
// max_response_header_bytes. What is mended, as RFC 9112 lets a proxy:
// whitespace before a colon is dropped (§5.1), an obs-fold becomes one
// space (§5.2), a bare LF ends a line (§2.2), and a head with both
// Content-Length and Transfer-Encoding is read chunked, its length
// ignored, and its connection closed after it (§6.3).

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/headers"
)

// Why a member's response head was refused; the server answers 502 for
// each (statusFor), and the text is for the error log.
var (
	errStatusLine   = errors.New("pool: malformed status line in a member's response")
	errFieldLine    = errors.New("pool: malformed field line in a member's response")
	errFraming      = errors.New("pool: bad Content-Length or Transfer-Encoding in a member's response")
	errHeadTooLarge = errors.New("pool: member's response head over max_response_header_bytes")
)

// ResponseHead is an HTTP member's final response head as the transport
// read it. The transport sets the response's status, framing and
// Connection: close from it (fasthttp reads the body by those); the server
// copies the fields from here (Field) with its own edits.
type ResponseHead struct {
	buf     []byte    // the head as read; values joined from folded lines after it
	fields  []fieldAt // positions in buf, in the member's order
	present headers.MemberFields
	reason  span
	status  int
	length  int  // as fasthttp's ContentLength: ≥ 0, -1 chunked, -2 until the member closes
	close   bool // the connection carries nothing after this response
	http10  bool
	read    bool // this call's head: the transport read it (not an AJP or FastCGI member's)
	at      int  // how far parse got
}

// reset readies h for the call's next request. A head of unusual size
// is not kept: Calls are pooled, and heads may be up to
// max_response_header_bytes.
func (h *ResponseHead) reset() {
	h.read = false
	if cap(h.buf) > keptHead {
		h.buf = nil
	}
	if cap(h.fields) > keptFields {
		h.fields = nil
	}
}

// What a Call keeps of its largest head between requests.
const (
	keptHead   = 4 << 10
	keptFields = 64
)

// span is where a name or value is in ResponseHead.buf.
type span struct{ from, to int32 }

type fieldAt struct {
	name, value span
	kind        headers.MemberField
	folded      bool // value spans continuation lines, to be joined (keep)
}

func (h *ResponseHead) bytes(s span) []byte { return h.buf[s.from:s.to:s.to] }

// Fields is the number of field lines the head had (folded lines joined).
func (h *ResponseHead) Fields() int { return len(h.fields) }

// Field is the i-th field, as the member named it, and its value. Both
// stay valid until the call's next request.
func (h *ResponseHead) Field(i int) (name, value []byte) {
	f := &h.fields[i]
	return h.bytes(f.name), h.bytes(f.value)
}

// Name is the i-th field's name, as Field gives it.
func (h *ResponseHead) Name(i int) []byte { return h.bytes(h.fields[i].name) }

// Present is the set of the kinds of the head's fields
// (headers.ClassifyMember), for headers.Forwarder.ResponseOf.
func (h *ResponseHead) Present() headers.MemberFields { return h.present }

// Reason is the status line's reason phrase; it may be empty.
func (h *ResponseHead) Reason() []byte { return h.bytes(h.reason) }

// readFinal reads the member's final response head from br, dropping
// interim ones (1xx but 101, which the server refuses when it did not ask
// for it), as fasthttp's Response.Read does. io.EOF means the member closed
// (or reset) the connection without sending a byte.
func (h *ResponseHead) readFinal(br *bufio.Reader) error {
	for range maxInterim + 1 {
		if err := h.readOne(br); err != nil {
			return err
		}
		if !interim(h.status) {
			return nil
		}
	}
	return errTooManyInterim
}

// ReadFinalHeader is readFinal for a head read into fasthttp's header (a
// tunnel's handshake, which sluice dials itself): interim answers (1xx
// but 101) are dropped, as many as readFinal drops.
func ReadFinalHeader(h *fasthttp.ResponseHeader, br *bufio.Reader) error {
	for range maxInterim + 1 {
		if err := h.Read(br); err != nil {
			return err
		}
		if !interim(h.StatusCode()) {
			return nil
		}
	}
	return errTooManyInterim
}

// interim reports a status that another head follows.
func interim(status int) bool {
	return status < 200 && status != fasthttp.StatusSwitchingProtocols
}

// readOne reads one response head, interim or final, from br. The head
// must fit br's buffer, whose size is the member's header limit.
func (h *ResponseHead) readOne(br *bufio.Reader) error {
	h.read = false
	if _, err := br.Peek(1); err != nil {
		if isTimeout(err) || err == ErrStaleConn {
			// ErrStaleConn: the request never went out (idleConn.Read),
			// and may go again whatever its method.
			return err
		}
		// A reset is a close too (the member closed with the request
		// unread): as fasthttp does, io.EOF, which on a reused
		// connection lets an idempotent request go out again.
		return io.EOF
	}
	h.fields, h.present, h.at = h.fields[:0], 0, 0
	for {
		b, _ := br.Peek(br.Buffered())
		end, err := h.parse(b)
		switch {
		case err == nil:
			h.keep(b[:end])
			_, _ = br.Discard(end)
			return h.frame()
		case err != errNeedMore:
			return err
		case len(b) >= br.Size():
			return errHeadTooLarge
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// errNeedMore: the head goes on past the bytes read so far.
var errNeedMore = errors.New("pool: response head incomplete")

// parse reads b's lines from h.at, where the call before stopped for want
// of bytes, and returns the head's length once its empty line came. The
// spans it records are offsets in b, which keep becomes buf.
func (h *ResponseHead) parse(b []byte) (int, error) {
	for {
		nl := bytes.IndexByte(b[h.at:], '\n')
		if nl < 0 {
			return 0, errNeedMore
		}
		start, line := h.at, trimCR(b[h.at:h.at+nl])
		h.at += nl + 1
		switch {
		case start == 0:
			if err := h.statusLine(line); err != nil {
				return 0, err
			}
			continue
		case len(line) == 0:
			return h.at, nil
		case line[0] == ' ' || line[0] == '\t':
			if err := h.fold(line, start); err != nil {
				return 0, err
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return 0, errFieldLine
		}
		name := trimRightOWS(line[:colon])
		value, at := trimOWS(line[colon+1:])
		if !headers.IsToken(name) || !headers.IsFieldValue(value) {
			return 0, errFieldLine
		}
		v := int32(start + colon + 1 + at)
		k := headers.MemberOther
		if !headers.PlainMemberName(name) {
			k = headers.ClassifyMember(name)
		}
		h.present.Add(k)
		h.fields = append(h.fields, fieldAt{
			name:  span{int32(start), int32(start + len(name))},
			value: span{v, v + int32(len(value))},
			kind:  k,
		})
	}
}

// statusLine reads "HTTP/1.x NNN[ reason]".
func (h *ResponseHead) statusLine(line []byte) error {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !digit(line[7]) || line[8] != ' ' ||
		line[9] < '1' || line[9] > '9' || !digit(line[10]) || !digit(line[11]) ||
		(len(line) > 12 && line[12] != ' ') {
		return errStatusLine
	}
	h.http10 = line[7] == '0'
	h.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	h.reason = span{12, 12}
	if len(line) > 12 && headers.IsFieldValue(line[13:]) {
		// A phrase with a control byte is dropped (the client gets the
		// status's usual one), not refused: RFC 9112 §4 has clients
		// ignore it.
		h.reason = span{13, int32(len(line))}
	}
	return nil
}

// fold takes a continuation line, which starts at start: the field before
// it now spans it too, and keep joins the parts.
func (h *ResponseHead) fold(line []byte, start int) error {
	more, at := trimOWS(line)
	if len(h.fields) == 0 || !headers.IsFieldValue(more) {
		return errFieldLine
	}
	if len(more) > 0 {
		f := &h.fields[len(h.fields)-1]
		f.value.to = int32(start + at + len(more))
		f.folded = true
	}
	return nil
}

// keep copies the head b into buf, where the spans point, and joins
// each folded value's parts with one space, after the head.
func (h *ResponseHead) keep(b []byte) {
	h.buf = append(h.buf[:0], b...)
	for i := range h.fields {
		f := &h.fields[i]
		if !f.folded {
			continue
		}
		from := int32(len(h.buf))
		for raw := h.bytes(f.value); len(raw) > 0; {
			var line []byte
			line, raw, _ = bytes.Cut(raw, []byte{'\n'})
			if part, _ := trimOWS(trimCR(line)); len(part) > 0 {
				if int32(len(h.buf)) > from {
					h.buf = append(h.buf, ' ')
				}
				h.buf = append(h.buf, part...)
			}
		}
		f.value, f.folded = span{from, int32(len(h.buf))}, false
	}
}

// frame reads the body's framing and the connection's fate from the
// fields, by the kinds parse gave them.
func (h *ResponseHead) frame() error {
	var cl, te, keepAlive bool
	h.length, h.close = -2, false
	for i := range h.fields {
		f := &h.fields[i]
		switch f.kind {
		case headers.MemberConnection:
			value := h.bytes(f.value)
			h.close = h.close || headers.HasToken(value, "close")
			keepAlive = keepAlive || headers.HasToken(value, "keep-alive")
		case headers.MemberLength:
			n, ok := headers.ParseContentLength(h.bytes(f.value))
			if !ok || cl {
				return errFraming
			}
			cl = true
			if !te {
				h.length = int(n)
			}
		case headers.MemberChunked:
			if te || h.http10 || !anycase.SameName(h.bytes(f.value), "chunked") {
				return errFraming
			}
			te, h.length = true, -1
		}
	}
	// Both framings: the length is ignored, and the connection goes with
	// this response (RFC 9112 §6.3).
	h.close = h.close || (cl && te) || (h.http10 && !keepAlive)
	return nil
}

// Length is the body's length as the head frames it: ≥ 0, -1 for a
// chunked body, -2 for one read until the member closes (fasthttp's
// ContentLength).
func (h *ResponseHead) Length() int { return h.length }

// settle reports, once the final head is read on conn, whether a body
// follows it (none for an answer to HEAD, skipBody, or a status without
// one), and closes the connection after it when the body is read until
// the member closes, or when the answer came before the member read all
// of the request's body (memberConn): the connection carries nothing more.
func (h *ResponseHead) settle(skipBody bool, conn net.Conn) bool {
	body := !skipBody && !Bodyless(h.status)
	h.close = h.close || (body && h.length == -2) || answeredEarly(conn)
	return body
}

// setHeader gives rh the head's status and Connection: close, and the
// framing of a body fasthttp's stream reads (chunked, or until the member
// closes); a known length is the lease's to read (fixedBody) and stays in
// the head (Length): formatting it for a header never written costs more
// than the rest of this. It marks the head as the call's.
func (h *ResponseHead) setHeader(rh *fasthttp.ResponseHeader) {
	if h.length < 0 {
		rh.SetContentLength(h.length)
	}
	rh.SetStatusCode(h.status)
	if h.close {
		rh.SetConnectionClose()
	} else {
		rh.ResetConnectionClose() // set by a length of -2, which may have no body to read
	}
	h.read = true
}

func digit(c byte) bool { return '0' <= c && c <= '9' }

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

func trimRightOWS(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// trimOWS trims whitespace around b and returns where what is left starts.
func trimOWS(b []byte) ([]byte, int) {
	at := 0
	for at < len(b) && (b[at] == ' ' || b[at] == '\t') {
		at++
	}
	return trimRightOWS(b[at:]), at
}
