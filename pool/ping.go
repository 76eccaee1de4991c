package pool

// The worker's ping parameter for HTTP (apache.md §2, §7): a request with a
// body goes out with "Expect: 100-continue", and its body follows only once
// the member answered 100 within ping. A member that answers with a final
// status instead gets no body, and its answer is relayed. A member that
// says nothing within ping is tried once more on a new connection, then the
// request fails with a *DialError: nothing of the body was sent, so the
// balancer fails over (503), as Apache does.
//
// The transport drives fasthttp's own Request.Write (or Call.write for a
// request with its own head), so framing (length or chunked) is fasthttp's:
// the body is handed to it through gate, which
// flushes the head and waits for the member's first answer on the first
// Read. The response body is streamed to the caller through relay, which
// pools the connection again when the body was read to its end.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// ErrPingTimeout is the reason inside the *DialError returned when a
// member did not answer a ping (100-continue) in time, twice.
var ErrPingTimeout = errors.New("pool: no answer to 100-continue within ping")

// errNoContinue stops fasthttp from writing the body: the member answered
// with a final status instead of 100.
var errNoContinue = errors.New("pool: backend answered before 100 continue")

// newPingTransport is the round trip of a member with ping > 0; plain
// carries the requests that are not sent the ping way.
func newPingTransport(addr string, ping time.Duration, plain roundTripper) *pinger {
	t := &pinger{addr: addr, ping: ping, plain: plain}
	t.calls.New = func() any {
		c := &pingCall{t: t}
		c.gate.c, c.relay.c = c, c
		return c
	}
	return t
}

// pinger is the ping transport.
type pinger struct {
	addr  string
	ping  time.Duration
	plain roundTripper
	calls sync.Pool // *pingCall
}

// roundTrip sends requests with a body the ping way; everything else, and
// HTTP/1.0 requests (which cannot ask for 100), goes through the plain
// transport.
func (t *pinger) roundTrip(p *connPool, req *fasthttp.Request, resp *fasthttp.Response, call *Call) (bool, error) {
	if !req.Header.IsHTTP11() || !(req.IsBodyStream() || len(req.Body()) > 0) {
		return t.plain.roundTrip(p, req, resp, call)
	}
	c := t.calls.Get().(*pingCall)
	c.p, c.call = p, call
	streamed, err := c.do(req, resp)
	c.call = nil // the relay outlives the request's Call
	if !streamed {
		c.free() // else relay's CloseWithError frees it
	}
	return false, err
}

// phase is how far the member's first answer got.
type phase uint8

const (
	waiting   phase = iota // head sent, no answer yet
	continued              // 100 came: the body is being sent
	answered               // a final status came instead: no body is sent
)

// pingCall is one request through the ping transport, pooled.
type pingCall struct {
	t      *pinger
	p      *connPool
	call   *Call // the server's hold for aborting, while the request goes out; nil after
	pc     *pooledConn
	reused bool // pc was pooled before this attempt
	br     *bufio.Reader
	bw     *bufio.Writer

	src   io.Reader    // the request body: the caller's stream, or raw
	raw   bytes.Reader // over saved
	saved []byte       // a copy of a body held in memory
	cl    int          // its length; -1 chunked

	phase    phase
	waitErr  error // why waiting for the first answer failed
	timedOut bool  // ... because ping passed

	head       fasthttp.Response // the member's answer; its body is relayed
	body       io.Reader         // head's body stream
	eof        bool              // body was read to its end
	closeAfter bool              // the connection cannot carry another request

	gate  gate
	relay relay
}

// do sends req with Expect: 100-continue, retrying once on a new connection
// when the member did not answer in time, or when a pooled connection
// turned out dead, while no body byte was sent. It reports whether resp
// got a body stream that owns the connection.
func (c *pingCall) do(req *fasthttp.Request, resp *fasthttp.Response) (streamed bool, err error) {
	stream := req.BodyStream()
	if stream != nil {
		c.src, c.cl = stream, req.Header.ContentLength()
	} else {
		// A copy: handing gate to req releases req's own body buffer.
		c.saved = append(c.saved[:0], req.Body()...)
		c.raw.Reset(c.saved)
		c.src, c.cl = &c.raw, len(c.saved)
	}
	c.head.StreamBody = true
	c.head.SkipBody = resp.SkipBody || req.Header.IsHead()
	req.Header.Set(fasthttp.HeaderExpect, "100-continue")
	c.call.expect = true // for a request with its own head
	for try := range 2 {
		streamed, err = c.attempt(req, resp, try == 1)
		if err == nil || errors.Is(err, ErrClientGone) || c.phase != waiting || !(c.timedOut || c.reused) {
			break
		}
		if stream == nil {
			c.raw.Reset(c.saved)
		}
	}
	if err != nil && c.phase == waiting && c.timedOut {
		err = &DialError{Addr: c.t.addr, Err: ErrPingTimeout}
	}
	// req leaves as it came: another member may be sent it next.
	req.Header.Del(fasthttp.HeaderExpect)
	c.call.expect = false
	if stream != nil {
		req.SetBodyStream(stream, c.cl)
	} else {
		req.SetBody(c.saved)
	}
	return streamed, err
}

// attempt is one try on one connection (a new one when fresh is set).
func (c *pingCall) attempt(req *fasthttp.Request, resp *fasthttp.Response, fresh bool) (streamed bool, err error) {
	c.phase, c.waitErr, c.timedOut, c.reused = waiting, nil, false, false
	pc, err := c.acquireConn(fresh)
	if pc, err = watched(c.p, c.call, pc, err); err != nil {
		return false, err
	}
	c.pc, c.reused = pc, pc.used
	conn := pc.conn
	defer func() {
		// done let go already unless a body is being relayed, which fails
		// on its own once the connection is closed.
		if c.call.unwatch() && err != nil {
			err = ErrClientGone
		}
	}()
	resp.ParseNetConn(conn)
	c.br = c.p.reader(pc)
	c.bw = acquireWriter(c.call.writer(conn))
	req.SetBodyStream(&c.gate, c.cl)
	err = c.call.write(c.bw, req)
	if err == nil {
		err = c.bw.Flush()
	}
	releaseWriter(c.bw)
	c.bw = nil
	switch c.phase {
	case waiting:
		c.done(false)
		if c.waitErr != nil {
			return false, c.waitErr
		}
		return false, err
	case continued:
		if err == nil {
			err = c.call.answer.readFinal(c.br) // skips further 1xx
		}
		if err != nil {
			c.done(false)
			return false, err
		}
	}
	// answered: the member may still expect the body or may not; either
	// way the connection carries nothing more after this answer.
	return c.pass(req, resp), nil
}

// acquireConn takes a connection from the pool, or, when fresh is set, one
// never used (acquireNew).
func (c *pingCall) acquireConn(fresh bool) (*pooledConn, error) {
	if fresh {
		return c.p.acquireNew()
	}
	return c.p.acquire()
}

// await flushes the request head and reads the member's first answer,
// waiting at most ping for it.
func (c *pingCall) await() error {
	err := c.bw.Flush()
	if err == nil {
		err = c.readFirst()
	}
	if err != nil {
		c.waitErr = err
		c.timedOut = isTimeout(err)
	}
	return err
}

// readFirst reads the first answer under the ping deadline instead of the
// worker's per-read timeout. Interim answers other than 100 (103 Early
// Hints) are dropped, as fasthttp drops them everywhere.
func (c *pingCall) readFirst() error {
	conn := c.pc.conn
	ic := idleConnOf(conn)
	if ic != nil {
		saved := ic.timeout
		ic.timeout = 0 // idleConn would push the deadline on each read
		defer func() {
			ic.timeout = saved
			// 100 is not the response: the body that follows is part of
			// this request, not a new one on a reused connection.
			ic.read = false
		}()
	}
	if err := conn.SetReadDeadline(time.Now().Add(c.t.ping)); err != nil {
		return err
	}
	defer conn.SetReadDeadline(time.Time{}) //nolint:errcheck // the next read sets its own
	h := &c.call.answer
	for range maxInterim {
		if err := h.readOne(c.br); err != nil {
			return err
		}
		switch {
		case h.status == fasthttp.StatusContinue:
			c.phase = continued
			return nil
		case !interim(h.status):
			c.phase = answered
			return nil
		}
	}
	return errTooManyInterim
}

// maxSaved bounds the body copy a pooled call keeps between requests.
const maxSaved = 64 << 10

// maxInterim bounds the interim answers read before 100 or a final status.
const maxInterim = 100

var errTooManyInterim = errors.New("pool: too many interim responses")

// idleConnOf is sluice's wrapper of a pooled connection, TLS or not; nil
// for a connection Backend's Dial did not make (tests).
func idleConnOf(conn net.Conn) *idleConn {
	ic, _ := conn.(*idleConn)
	return ic
}

// pass hands the member's answer to resp, its body as a stream that owns
// the connection. It reports whether there is such a stream.
func (c *pingCall) pass(req *fasthttp.Request, resp *fasthttp.Response) bool {
	h := &c.call.answer
	body := h.settle(c.head.SkipBody, c.pc.conn)
	// After an answer instead of 100, the member may still expect the
	// body: nothing can follow it on this connection either.
	h.close = h.close || c.phase == answered
	c.closeAfter = h.close || req.ConnectionClose()
	h.setHeader(&c.head.Header)
	h.setHeader(&resp.Header)
	if body {
		c.head.Header.SetContentLength(h.length) // fasthttp's stream reads it, whatever its framing
		if err := c.head.ReadBody(c.br, 0); err != nil {
			// Streaming: ReadBody only sets the stream up and cannot fail.
			c.closeAfter = true
		}
	}
	c.body = c.head.BodyStream()
	if c.body == nil {
		c.done(!c.closeAfter)
		return false
	}
	c.eof = false
	resp.SetBodyStream(&c.relay, h.length)
	return true
}

// Bodyless reports the statuses that never have a body (RFC 9112 §6.3).
func Bodyless(status int) bool {
	return status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified
}

// done gives the connection back: to the pool when keep is set and it can
// carry another request, else closed.
func (c *pingCall) done(keep bool) {
	// Abort must let go of the connection before it can go back to the pool
	// (a relay's close comes after the request, with no call any more).
	if c.call != nil && c.call.unwatch() {
		keep = false
	}
	c.p.done(c.pc, keep && endsClean(c.br))
	c.br, c.pc = nil, nil
}

// free resets c and returns it to the pool.
func (c *pingCall) free() {
	c.head.Reset()
	c.p, c.src, c.body, c.waitErr = nil, nil, nil, nil
	c.raw.Reset(nil)
	if cap(c.saved) > maxSaved {
		c.saved = nil
	}
	c.t.calls.Put(c)
}

// gate is the request body as fasthttp's Request.Write sees it: its first
// Read sends the head and waits for the member's first answer; after 100 it
// reads the body, after a final answer it stops the write.
type gate struct{ c *pingCall }

func (g *gate) Read(p []byte) (int, error) {
	c := g.c
	if c.phase == waiting {
		// p may be the free end of the writer's buffer, which await's
		// flush just emptied: an empty read makes the caller slice again.
		return 0, c.await()
	}
	if c.phase == answered {
		return 0, errNoContinue
	}
	return c.src.Read(p)
}

// relay is the response body handed to the caller. Closing it pools the
// connection when the body was read to its end and nothing forbids reuse.
type relay struct{ c *pingCall }

func (r *relay) Read(p []byte) (int, error) {
	n, err := r.c.body.Read(p)
	if err == io.EOF {
		r.c.eof = true
	}
	return n, err
}

// CloseWithError implements fasthttp.ReadCloserWithError.
func (r *relay) CloseWithError(err error) error {
	c := r.c
	_ = c.head.CloseBodyStream()
	c.done(err == nil && c.eof && !c.closeAfter)
	c.free()
	return nil
}

var _ fasthttp.ReadCloserWithError = (*relay)(nil)
