package pool

// sluice's round trip over a pooled member connection. Backend.Do is
// fasthttp's HostClient.Do and its transport (client.go), less the parts
// sluice never uses (a request timeout, MaxConnDuration, ReadTimeout, the
// user agent, and parsing the outbound URI, which sluice builds itself),
// with two additions:
//
//   - the connection is registered with the request's Call while the
//     request is written and its answer awaited, so that the server can
//     close it when the client goes away (threats.md RES-08): fasthttp's
//     HostClient gives no handle on the connection a request is on;
//   - a streamed response body keeps its connection through a lease that
//     the caller releases when the body is done, instead of fasthttp's
//     per-response closures (three allocations and a mutex per response).
//
// The connections come from the member's connPool (connpool.go).

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/valyala/fasthttp"
)

// ErrClientGone is returned when the exchange was abandoned because the
// client closed its connection: the member is not at fault.
var ErrClientGone = errors.New("pool: client closed the connection")

// Call is one proxied request's hold on member connections. The zero value
// is ready; a Call is reused request after request but serves one at a time.
type Call struct {
	mu      sync.Mutex
	conn    net.Conn // the connection awaiting the answer; nil otherwise
	aborted bool
	lease   Lease // the connection a streamed response body reads from
	out     countedConn
	params  []byte // a FastCGI or AJP member's encoded request (SetEncodedRequest)
	// fields, when ownHead is set, are the request's header field lines,
	// written after the request line and Host that its header holds
	// (SetHeaderFields, ownhead.go).
	fields  []byte
	ownHead bool
	target  []byte           // the request-target and Host written with fields
	host    string           // (SetTarget); nil and empty: those of req's header
	expect  bool             // ask for 100-continue (ping)
	head    []byte           // the head written, kept for its capacity
	body    io.LimitedReader // a streamed body's Content-Length bytes
	answer  ResponseHead     // an HTTP member's answer (responsehead.go)
}

// Head is the head of the member's answer to the last attempt, or nil when
// the member's protocol (AJP, FastCGI) filled the response's header
// instead.
func (c *Call) Head() *ResponseHead {
	if !c.answer.read {
		return nil
	}
	return &c.answer
}

// readAnswer reads the member's answer on conn from br: its head into
// c.answer and the status and framing into resp's header. It reports
// whether a body follows; a chunked one, or one read until the member
// closes, becomes resp's stream (fasthttp's), while one of a known length
// is read by the lease (fixedBody).
func (c *Call) readAnswer(br *bufio.Reader, conn net.Conn, resp *fasthttp.Response) (bool, error) {
	h := &c.answer
	if err := h.readFinal(br); err != nil {
		return false, err
	}
	body := h.settle(resp.SkipBody, conn)
	h.setHeader(&resp.Header)
	if body && h.length < 0 {
		return true, resp.ReadBody(br, 0) // sets the stream up
	}
	return body, nil
}

// countedConn counts the bytes of a request as they go to the member.
type countedConn struct {
	net.Conn
	n int64
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n += int64(n)
	return n, err
}

// Sent is what the last attempt wrote to its member: the request head and
// body as framed on the wire (Apache's transferred count).
func (c *Call) Sent() int64 { return c.out.n }

// writer is where an attempt writes its request on conn: through the
// byte count, restarted.
func (c *Call) writer(conn net.Conn) net.Conn {
	c.out = countedConn{Conn: conn}
	return &c.out
}

// Lease is the member connection a streamed response body is read from.
type Lease interface {
	// Release pools the connection when complete (the body was read to its
	// end and nothing forbids reuse), else closes it.
	Release(complete bool)
	// Spliceable reports whether SpliceBody can move the body: a plain
	// socket, on Linux.
	Spliceable() bool
	// SpliceBody sends the body's next n bytes to dst by splice(2),
	// instead of reading them from the body stream.
	SpliceBody(dst BodySink, n int64) (int64, error)
	// Body is the body to read when the lease reads it itself; nil means
	// the response's body stream.
	Body() io.Reader
}

// Abort closes the connection the call's request is on, if it is still
// being written or its answer awaited; the round trip then fails with
// ErrClientGone. It is safe to call from any goroutine and reports whether
// it closed a connection.
func (c *Call) Abort() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil || c.aborted {
		return false
	}
	c.aborted = true
	_ = c.conn.Close() // wakes the blocked read or write
	return true
}

// watch registers conn for Abort; false means the call was already
// aborted and conn must not be used.
func (c *Call) watch(conn net.Conn) bool {
	c.mu.Lock()
	ok := !c.aborted
	if ok {
		c.conn = conn
	}
	c.mu.Unlock()
	return ok
}

// acquireWatched takes a connection for call's request, registered with
// call for Abort.
func acquireWatched(p *connPool, call *Call) (*pooledConn, error) {
	pc, err := p.acquire()
	return watched(p, call, pc, err)
}

// watched registers pc, just taken from p (err: its taking's), with call
// for Abort; a call already aborted has pc closed and fails.
func watched(p *connPool, call *Call, pc *pooledConn, err error) (*pooledConn, error) {
	if err != nil {
		return nil, err
	}
	if !call.watch(pc.conn) {
		p.discard(pc)
		return nil, ErrClientGone
	}
	return pc, nil
}

// unwatch ends Abort's hold on the connection (which may go back to the
// pool after this) and reports whether the call was aborted.
func (c *Call) unwatch() bool {
	c.mu.Lock()
	c.conn = nil
	aborted := c.aborted
	c.mu.Unlock()
	return aborted
}

// TakeLease hands over the lease of a streamed response body; nil when the
// response has none (its connection is already back or closed).
func (c *Call) TakeLease() Lease {
	l := c.lease
	c.lease = nil
	return l
}

// Reset readies c for the next request, closing a lease nobody took.
func (c *Call) Reset() {
	if l := c.TakeLease(); l != nil {
		l.Release(false)
	}
	c.mu.Lock()
	c.conn, c.aborted = nil, false
	c.mu.Unlock()
	c.out = countedConn{}
	c.params = nil
	c.fields, c.ownHead, c.expect = nil, false, false
	c.target, c.host = nil, ""
	c.answer.reset()
}

// Do sends req to the member through call and reads the response head into
// resp, its body as a stream whose connection is then call's lease. As
// HostClient.Do with sluice's settings, a failed attempt is made once more
// when retryStale allows it.
func (b *Backend) Do(req *fasthttp.Request, resp *fasthttp.Response, call *Call) error {
	for attempt := 1; ; attempt++ {
		skip := resp.SkipBody
		resp.Reset()
		resp.SkipBody, resp.StreamBody = skip, true
		resp.Header.SetNoDefaultContentType(true)
		call.answer.read = false
		retry, err := b.trip.roundTrip(b.conns, req, resp, call)
		if err == nil {
			return nil
		}
		if !retry {
			return closedOnEOF(err)
		}
		if _, again := retryStale(req, attempt, err); !again {
			return closedOnEOF(err)
		}
	}
}

// closedOnEOF reports a connection closed before any response byte as
// fasthttp's HostClient.Do does.
func closedOnEOF(err error) error {
	if err == io.EOF {
		return fasthttp.ErrConnectionClosed
	}
	return err
}

// roundTripper is what Backend.Do drives: the plain transport or ping's.
type roundTripper interface {
	roundTrip(p *connPool, req *fasthttp.Request, resp *fasthttp.Response, call *Call) (retry bool, err error)
}

// transport is every member's round trip (ping wraps it).
type transport struct{}

func (t *transport) roundTrip(p *connPool, req *fasthttp.Request, resp *fasthttp.Response, call *Call) (bool, error) {
	pc, err := acquireWatched(p, call)
	if err != nil {
		return false, err
	}
	conn := pc.conn
	// A reused connection the member closed or wrote to is found before
	// any byte of the request is consumed: here where the request's body
	// is a stream that its write reads, else as its head goes out
	// (idleConn.Write).
	if err := checkStaleBeforeBody(conn, req); err != nil {
		call.unwatch()
		p.discard(pc)
		return true, err
	}
	bw, err := send(conn, call, req)
	if err != nil {
		releaseWriter(bw)
		p.discard(pc)
		if call.unwatch() {
			return false, ErrClientGone
		}
		if isTimeout(err) {
			err = fasthttp.ErrTimeout
		}
		return true, err
	}
	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	br := p.reader(pc)
	body, err := call.readAnswer(br, conn, resp)
	releaseWriter(bw)
	aborted := call.unwatch()
	if err != nil || aborted {
		p.discard(pc)
		if aborted {
			return false, ErrClientGone
		}
		if err == io.EOF && pc.used {
			// A pooled connection the member closed as the request went
			// out (its keep-alive ran out): it saw nothing, and retryStale
			// may send an idempotent request again. On a fresh connection
			// the member did see it (threats.md BKE-02).
			err = fasthttp.ErrConnectionClosed
		}
		return err != fasthttp.ErrBodyTooLarge, err
	}
	closeAfter := req.ConnectionClose() || resp.ConnectionClose()
	if !body {
		p.done(pc, !closeAfter && endsClean(br))
		return false, nil
	}
	l := &pc.lease
	l.p, l.pc, l.br, l.resp, l.closeAfter = p, pc, br, resp, closeAfter
	if n := call.answer.length; n >= 0 {
		l.fixed = fixedBody{br: br, left: int64(n)}
	}
	call.lease = l
	return false, nil
}

// send writes req on conn: in one write when it goes so (wholeRequest),
// else through a pooled writer. Either way the whole request, a streamed
// body to its end included, is taken before the last write, after which
// only the answer can follow. That write may wait for the answer's first
// read (memberConn.awaitAnswer), so the buffer it lies in must outlive it:
// send returns the pooled writer, if it took one, for the caller to
// release once the answer's head was read.
func send(conn net.Conn, call *Call, req *fasthttp.Request) (*bufio.Writer, error) {
	whole, err := call.wholeRequest(req)
	if err != nil {
		return nil, err
	}
	a, awaits := conn.(answerAwaiter)
	if whole != nil {
		if awaits {
			a.awaitAnswer() // whole is the call's: it outlives the write
		}
		_, err = call.writer(conn).Write(whole)
		return nil, err
	}
	bw := acquireWriter(call.writer(conn))
	if err := call.write(bw, req); err != nil {
		return bw, err
	}
	if awaits && bw.Buffered() > 0 {
		a.awaitAnswer()
	}
	return bw, bw.Flush()
}

// isTimeout reports a deadline that ran out, however wrapped.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// answerAwaiter is a member connection whose next write can wait for the
// answer to the request it completes (idleConn).
type answerAwaiter interface{ awaitAnswer() }

// checkStaleBeforeBody runs idleConn's staleness check on a reused
// connection now, for a request whose body is a stream.
func checkStaleBeforeBody(conn net.Conn, req *fasthttp.Request) error {
	if ic := idleConnOf(conn); ic != nil && req.IsBodyStream() {
		return ic.checkStale()
	}
	return nil
}

// endsClean reports whether the member sent nothing past its answer that
// br has read: bytes there (more body than its Content-Length, a body
// after a HEAD's or a 204's head, bytes after the last chunk) mean that
// the member and sluice no longer agree where answers end, and the
// connection must not carry another (nginx drops one whose member "sent
// more data than specified"; bytes that come later are found by the
// look before the next request, idleConn).
func endsClean(br *bufio.Reader) bool { return br.Buffered() == 0 }

// lease is a streamed response body's connection: pc's own (one request
// at a time), as long as the body is being read.
type lease struct {
	p          *connPool
	pc         *pooledConn
	br         *bufio.Reader // pc's
	resp       *fasthttp.Response
	closeAfter bool
	fixed      fixedBody // a body of known length; else resp's stream
}

// BodyReader is the body of the member's answer resp, whose connection is
// leased by l (nil under ping): the lease's own reader for a body of
// known length, else resp's body stream.
func BodyReader(resp *fasthttp.Response, l Lease) io.Reader {
	if l != nil {
		if b := l.Body(); b != nil {
			return b
		}
	}
	return resp.BodyStream()
}

// Body is the body when the lease reads it (a known length), else nil:
// resp's stream.
func (l *lease) Body() io.Reader {
	if l.fixed.br == nil {
		return nil
	}
	return &l.fixed
}

// fixedBody reads a body of known length straight from the connection's
// reader, as fasthttp's response stream does (io.ErrUnexpectedEOF when the
// member closes early), without taking a pooled stream and body buffer
// for each response and giving them back.
type fixedBody struct {
	br   *bufio.Reader
	left int64
}

// Whole takes the rest of the body from the reader when it already holds
// all of it (a small answer, read along with its head), for the caller to
// use in place: the bytes stay valid until the connection is read again,
// which takes at least the lease's Release. ok is false, and nothing is
// taken, when more is still to be read.
func (b *fixedBody) Whole() (body []byte, ok bool) {
	if b.left > int64(b.br.Buffered()) {
		return nil, false
	}
	body, _ = b.br.Peek(int(b.left)) // buffered: no read, no error
	_, _ = b.br.Discard(len(body))
	b.left = 0
	return body, true
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (l *lease) Release(complete bool) {
	// The body stream reads from br: it goes first. A caller may have
	// learnt while reading the body that the connection is unfit.
	_ = l.resp.CloseBodyStream()
	p, pc := l.p, l.pc
	keep := complete && !l.closeAfter && !l.resp.ConnectionClose() && endsClean(l.br)
	*l = lease{} // before pc can be lent again
	p.done(pc, keep)
}
