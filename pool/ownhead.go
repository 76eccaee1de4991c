package pool

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strconv"

	"github.com/valyala/fasthttp"
)

// errShortBody: a streamed request body ended before its Content-Length.
var errShortBody = errors.New("pool: request body shorter than its Content-Length")

// SetHeaderFields has the request written with its own head instead of
// fasthttp's serialisation of req's header: the method, request-target and
// Host that req's header holds, fields (the rest of the field lines, ready
// to go), the body's framing and "Connection: close" when req's header
// asks for it, then req's body. The server builds fields from the client's
// own bytes (headers.Forwarder.AppendRequestFields) rather than editing a
// copy of fasthttp's parsed header and serialising it again. HTTP/1.1 is
// the version a proxy sends (RFC 9110 §2.5); a chunked body is not written
// this way.
func (c *Call) SetHeaderFields(fields []byte) { c.fields, c.ownHead = fields, true }

// SetTarget has a request written with its own head (SetHeaderFields) go
// to target with the Host host, instead of the request-target and Host
// that req's header holds (an empty host: the header's), sparing the
// server a copy of each into the header.
func (c *Call) SetTarget(target []byte, host string) { c.target, c.host = target, host }

// write writes req to bw: with its own head (SetHeaderFields), or as
// fasthttp writes it.
func (c *Call) write(bw *bufio.Writer, req *fasthttp.Request) error {
	if !c.ownHead {
		return req.Write(bw)
	}
	if _, err := bw.Write(c.appendHead(req)); err != nil || !req.IsBodyStream() {
		if err == nil {
			_, err = bw.Write(req.Body())
		}
		return err
	}
	// Exactly the announced length, through the writer's buffer: the
	// stream is the client's body (or ping's gate in front of it).
	n := int64(req.Header.ContentLength())
	c.body = io.LimitedReader{R: req.BodyStream(), N: n}
	copied, err := bw.ReadFrom(&c.body)
	c.body = io.LimitedReader{}
	if err == nil && copied < n {
		err = errShortBody
	}
	return err
}

// wholeBody is the largest body that goes out in one buffer with its own
// head (wholeRequest): the size of the writer it spares.
const wholeBody = 4 << 10

// wholeRequest is the request, its own head and its body, as one buffer
// for one write when it goes out so (SetHeaderFields and a body of at most
// wholeBody bytes, in memory or streamed); else nil, for write. A streamed
// body is read whole first, as write's writer would before its flush.
func (c *Call) wholeRequest(req *fasthttp.Request) ([]byte, error) {
	if !c.ownHead || c.expect {
		return nil, nil
	}
	if !req.IsBodyStream() {
		if len(req.Body()) > wholeBody {
			return nil, nil
		}
		c.head = append(c.appendHead(req), req.Body()...)
		return c.head, nil
	}
	n := req.Header.ContentLength()
	if n < 0 || n > wholeBody {
		return nil, nil
	}
	head := len(c.appendHead(req))
	c.head = slices.Grow(c.head, n)[:head+n]
	if k, err := io.ReadFull(req.BodyStream(), c.head[head:]); err != nil {
		if k < n && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			err = errShortBody
		}
		return nil, err
	}
	return c.head, nil
}

// appendHead builds the request's own head in c.head: the method, target
// and Host, the fields, the body's framing, and what ping and the header
// ask for.
func (c *Call) appendHead(req *fasthttp.Request) []byte {
	h := &req.Header
	c.head = append(c.head[:0], h.Method()...)
	c.head = append(c.head, ' ')
	if c.target != nil {
		c.head = append(c.head, c.target...)
	} else {
		c.head = append(c.head, h.RequestURI()...)
	}
	c.head = append(c.head, " HTTP/1.1\r\nHost: "...)
	if c.host != "" {
		c.head = append(c.head, c.host...)
	} else {
		c.head = append(c.head, h.Host()...)
	}
	c.head = append(c.head, '\r', '\n')
	c.head = append(c.head, c.fields...)
	if n, ok := contentLength(req); ok {
		c.head = append(c.head, "Content-Length: "...)
		c.head = strconv.AppendInt(c.head, n, 10)
		c.head = append(c.head, '\r', '\n')
	}
	if c.expect {
		c.head = append(c.head, "Expect: 100-continue\r\n"...)
	}
	if h.ConnectionClose() {
		c.head = append(c.head, "Connection: close\r\n"...)
	}
	return append(c.head, '\r', '\n')
}

// contentLength is the Content-Length the request goes out with, as
// fasthttp's Request.Write frames it: a streamed body's announced length,
// a body in memory's length, 0 for a method other than GET and HEAD
// without a body, and none for a GET or HEAD without one.
func contentLength(req *fasthttp.Request) (int64, bool) {
	h := &req.Header
	if req.IsBodyStream() {
		return int64(h.ContentLength()), true
	}
	n := len(req.Body())
	return int64(n), n > 0 || !(h.IsGet() || h.IsHead())
}
