package fastcgi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/headers"
)

// Errors of an application's answer. None of their text reaches a client.
var (
	// ErrNoResponse is an answer that ended before its CGI head.
	ErrNoResponse = errors.New("fastcgi: the application ended the request without a response")
	// ErrOverloaded is an END_REQUEST refusing the request before any
	// output: the application is overloaded or cannot take it (nothing
	// was processed).
	ErrOverloaded = errors.New("fastcgi: the application refused the request")
	// ErrHead is a CGI response head sluice cannot relay.
	ErrHead = errors.New("fastcgi: malformed CGI response head")
	// ErrHeadTooLarge is a CGI response head over the limit.
	ErrHeadTooLarge = errors.New("fastcgi: CGI response head too large")
	// ErrBodyLength is a body longer or shorter than its Content-Length.
	ErrBodyLength = errors.New("fastcgi: body does not match its Content-Length")
)

// Response reads an application's records for one request: ReadHead
// parses the CGI head at the start of STDOUT, then Read returns the rest
// of STDOUT, the body, until END_REQUEST. STDERR content goes to Stderr.
// A Response is reused request after request (Reset).
type Response struct {
	r *bufio.Reader
	// Stderr receives each STDERR record's content; nil drops it.
	Stderr func([]byte)

	left  int // STDOUT content left in the current record
	pad   int // padding after the current record's content
	ended bool
	read  bool // a byte of the answer was read

	// AppStatus and ProtocolStatus are END_REQUEST's, once Ended.
	AppStatus      uint32
	ProtocolStatus byte

	head  []byte // the head as read, with the body's first bytes after it
	body  []byte // body bytes read along with the head
	limit int64  // Content-Length; -1 without one
	n     int64  // body bytes returned
	stash []byte // STDERR content
	hdr   [headerLen]byte
}

// Reset readies res to read an answer from r.
func (res *Response) Reset(r *bufio.Reader) {
	*res = Response{r: r, Stderr: res.Stderr, head: res.head[:0], stash: res.stash[:0], limit: -1}
}

// Ended reports whether END_REQUEST was read: the connection carries
// nothing more of this request.
func (res *Response) Ended() bool { return res.ended }

// Started reports whether any byte of the answer arrived.
func (res *Response) Started() bool { return res.read }

// stdout reads STDOUT content into p, skipping other records; io.EOF once
// END_REQUEST has been read.
func (res *Response) stdout(p []byte) (int, error) {
	for res.left == 0 {
		if res.ended {
			return 0, io.EOF
		}
		if err := res.next(); err != nil {
			return 0, err
		}
	}
	if len(p) > res.left {
		p = p[:res.left]
	}
	n, err := res.r.Read(p)
	res.left -= n
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// next reads the next record header and any record that is not STDOUT.
func (res *Response) next() error {
	if res.pad > 0 {
		if _, err := res.r.Discard(res.pad); err != nil {
			return unexpected(err)
		}
		res.pad = 0
	}
	h := res.hdr[:]
	if k, err := io.ReadFull(res.r, h); err != nil {
		if k == 0 && err == io.EOF && !res.read {
			return io.EOF // closed before answering: a stale connection
		}
		return unexpected(err)
	}
	res.read = true
	n, pad := int(binary.BigEndian.Uint16(h[4:])), int(h[6])
	if h[0] != version || binary.BigEndian.Uint16(h[2:]) != requestID {
		return ErrProtocol
	}
	switch h[1] {
	case typeStdout:
		res.left, res.pad = n, pad
		return nil
	case typeStderr:
		if cap(res.stash) < n {
			res.stash = make([]byte, n)
		}
		res.stash = res.stash[:n]
		if _, err := io.ReadFull(res.r, res.stash); err != nil {
			return unexpected(err)
		}
		if res.Stderr != nil && n > 0 {
			res.Stderr(res.stash)
		}
		res.pad = pad
		return nil
	case typeEndRequest:
		if n < 8 {
			return ErrProtocol
		}
		b := res.hdr[:]
		if _, err := io.ReadFull(res.r, b); err != nil {
			return unexpected(err)
		}
		res.AppStatus, res.ProtocolStatus = binary.BigEndian.Uint32(b), b[4]
		res.ended, res.pad = true, n-8+pad
		if _, err := res.r.Discard(res.pad); err != nil {
			return unexpected(err)
		}
		res.pad = 0
		return nil
	}
	// A record a responder's client has no use for: skipped.
	res.pad = n + pad
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadHead reads the CGI response head, at most max bytes, into h:
// status, reason and fields. Status: sets the status (200 without one;
// 302 for a Location without one, RFC 3875 §6.2.3); Content-Length
// bounds the body; Transfer-Encoding is dropped, the body being framed by
// its records. Lines may end in CRLF or LF alone.
func (res *Response) ReadHead(h *fasthttp.ResponseHeader, max int) error {
	if cap(res.head) < max {
		res.head = make([]byte, 0, max)
	}
	head := res.head[:0]
	for {
		if end, body, ok := headEnd(head); ok {
			res.body = head[body:]
			if err := res.parseHead(h, head[:end]); err != nil {
				return err
			}
			if n := res.bufferedLength(); res.limit < 0 && n >= 0 {
				// The whole answer is in: its length lets the client's
				// response go out in one write, not as chunks.
				res.limit = n
				h.SetContentLength(int(n))
			}
			return nil
		}
		if len(head) == max {
			return ErrHeadTooLarge
		}
		n, err := res.stdout(head[len(head):max])
		head = head[:len(head)+n]
		if err == io.EOF {
			if !res.ended {
				return io.EOF // closed before any record: a stale connection
			}
			if len(head) == 0 {
				if res.ProtocolStatus == StatusOverloaded || res.ProtocolStatus == StatusCantMultiplex {
					return ErrOverloaded
				}
				return ErrNoResponse
			}
			return ErrHead
		}
		if err != nil {
			return err
		}
	}
}

// headEnd finds the blank line that ends a head: it returns the head's
// length, its last line's LF included, and where the body starts.
func headEnd(b []byte) (end, body int, ok bool) {
	switch {
	case bytes.HasPrefix(b, []byte("\n")):
		return 0, 1, true
	case bytes.HasPrefix(b, []byte("\r\n")):
		return 0, 2, true
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0, 0, false
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i, i + 1, true
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i, i + 2, true
		}
	}
}

func (res *Response) parseHead(h *fasthttp.ResponseHeader, head []byte) error {
	status, location := 0, false
	var reason []byte
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !headers.IsToken(line[:colon]) {
			return ErrHead // an obs-fold line, a name with spaces, no colon
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		if !headers.IsFieldValue(value) {
			return ErrHead
		}
		switch {
		case anycase.SameName(name, "Status"):
			if status != 0 {
				return ErrHead
			}
			var ok bool
			if status, reason, ok = parseStatus(value); !ok {
				return ErrHead
			}
		case anycase.SameName(name, "Content-Length"):
			n, ok := headers.ParseContentLength(value)
			if !ok || res.limit >= 0 && n != res.limit {
				return ErrHead
			}
			res.limit = n
		case anycase.SameName(name, "Transfer-Encoding"):
		case anycase.SameName(name, "Connection") && headers.OnlyToken(value, "close"):
			// fasthttp would drop every Connection field with it, the lists
			// of the fields the proxy must remove too.
		default:
			location = location || anycase.SameName(name, "Location")
			h.AddBytesKV(name, value)
		}
	}
	switch {
	case status != 0:
	case location:
		status = fasthttp.StatusFound
	default:
		status = fasthttp.StatusOK
	}
	h.SetStatusCode(status)
	if len(reason) > 0 {
		h.SetStatusMessage(reason)
	}
	h.SetContentLength(int(res.limit))
	return nil
}

// bufferedLength is the body's length when all of it, through
// END_REQUEST, is already read or in the reader's buffer; -1 otherwise.
// It reads nothing more.
func (res *Response) bufferedLength() int64 {
	n := int64(len(res.body) + res.left)
	if res.ended {
		return n
	}
	b, _ := res.r.Peek(res.r.Buffered())
	pos := res.left + res.pad
	for pos+headerLen <= len(b) {
		h := b[pos : pos+headerLen]
		size := int(binary.BigEndian.Uint16(h[4:]))
		switch {
		case h[0] != version || binary.BigEndian.Uint16(h[2:]) != requestID:
			return -1
		case h[1] == typeEndRequest:
			return n
		case h[1] == typeStdout:
			n += int64(size)
		}
		pos += headerLen + size + int(h[6])
	}
	return -1
}

// Limit is the body's Content-Length, -1 without one.
func (res *Response) Limit() int64 { return res.limit }

// Read returns the body: what followed the head, then STDOUT until
// END_REQUEST (io.EOF). With a Content-Length, a body that is shorter or
// longer fails with ErrBodyLength.
func (res *Response) Read(p []byte) (int, error) {
	if res.limit >= 0 {
		if res.n == res.limit {
			return 0, res.drain()
		}
		if int64(len(p)) > res.limit-res.n {
			p = p[:res.limit-res.n]
		}
	}
	var n int
	var err error
	if len(res.body) > 0 {
		n = copy(p, res.body)
		res.body = res.body[n:]
	} else {
		n, err = res.stdout(p)
	}
	res.n += int64(n)
	if err == io.EOF && res.limit >= 0 && res.n < res.limit {
		err = ErrBodyLength
	}
	return n, err
}

// drain reads to END_REQUEST once the Content-Length is reached: io.EOF,
// or ErrBodyLength when more STDOUT follows.
func (res *Response) drain() error {
	if len(res.body) > 0 {
		return ErrBodyLength
	}
	n, err := res.stdout(res.hdr[:1])
	if n > 0 {
		return ErrBodyLength
	}
	return err
}

// parseStatus reads "404" or "404 Not Found". 1xx cannot be relayed as a
// final answer.
func parseStatus(v []byte) (int, []byte, bool) {
	if len(v) < 3 || len(v) > 3 && v[3] != ' ' {
		return 0, nil, false
	}
	code := 0
	for _, c := range v[:3] {
		if c < '0' || c > '9' {
			return 0, nil, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 {
		return 0, nil, false
	}
	return code, bytes.TrimLeft(v[3:], " "), true
}
