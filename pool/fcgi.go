package pool

// The round trip of an fcgi:// member (mod_proxy_fcgi): the request goes
// out as FastCGI records (the CGI environment the server built, then the
// body as STDIN), and the answer's CGI head and STDOUT come back as an
// HTTP response with a streamed body, which the rest of sluice handles as
// any member's.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/fastcgi"
)

// SetEncodedRequest gives the call its request as a FastCGI or AJP
// member's protocol has it: the CGI environment, encoded name-value pairs
// (fastcgi.AppendPair), or the AJP forward request packet. The call keeps
// p, not a copy, until its next Reset.
func (c *Call) SetEncodedRequest(p []byte) { c.params = p }

type fcgiTransport struct {
	// timeout bounds each read and write (the worker's timeout).
	timeout time.Duration
	// reuse keeps connections between requests: FCGI_KEEP_CONN, only with
	// enablereuse=on, as in Apache (an application process is busy for
	// as long as it holds a connection).
	reuse  bool
	member string
	log    *slog.Logger
	leases sync.Pool // *fcgiLease
}

func newFCGITransport(m *Member, o BackendOptions) *fcgiTransport {
	t := &fcgiTransport{timeout: o.Timeout, reuse: !o.DisableReuse, member: m.Name, log: o.Log}
	t.leases.New = func() any {
		l := &fcgiLease{t: t}
		l.res.Stderr = l.stderr
		return l
	}
	return t
}

// fcgiLease is one request's hold on its connection, from the request's
// first record to the answer's END_REQUEST.
type fcgiLease struct {
	t    *fcgiTransport
	p    *connPool
	pc   *pooledConn
	dc   deadlineConn
	br   *bufio.Reader
	res  fastcgi.Response
	head []byte // BEGIN_REQUEST and PARAMS, then STDIN's buffer
	body bytes.Reader
}

// deadlineConn moves the read or write deadline before each read or
// write: the worker timeout bounds every wait for the application, not
// the whole exchange.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if d.timeout > 0 {
		_ = d.SetReadDeadline(time.Now().Add(d.timeout))
	}
	return d.Conn.Read(p)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if d.timeout > 0 {
		_ = d.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	return d.Conn.Write(p)
}

// stdinBuffer is the STDIN records' buffer: a record's header and up to
// 16 KiB of body.
const stdinBuffer = 8 + 16<<10

func (t *fcgiTransport) roundTrip(p *connPool, req *fasthttp.Request, resp *fasthttp.Response, call *Call) (bool, error) {
	pc, err := acquireWatched(p, call)
	if err != nil {
		return false, err
	}
	if err := staleReused(p, pc); err != nil {
		call.unwatch()
		return true, err
	}
	reused := pc.used
	l := t.leases.Get().(*fcgiLease)
	l.p, l.pc, l.dc = p, pc, deadlineConn{Conn: pc.conn, timeout: t.timeout}
	bw := acquireWriter(call.writer(&l.dc))
	err = l.writeRequest(bw, req, call.params)
	releaseWriter(bw)
	l.br = p.readerOver(pc, &l.dc)
	l.res.Reset(l.br)
	if err == nil {
		resp.Header.DisableNormalizing()
		err = l.res.ReadHead(&resp.Header, p.readSize)
	}
	aborted := call.unwatch()
	if err != nil || aborted {
		started := l.res.Started()
		l.Release(false)
		return answerError(p, err, aborted, reused, started, req.IsBodyStream())
	}
	resp.SetBodyStream(&l.res, int(l.res.Limit()))
	call.lease = l
	return false, nil
}

// staleReused is idleConn.checkStale for a FastCGI or AJP connection:
// ErrStaleConn, pc closed, where pc was pooled and its member has since
// closed it or sent bytes nobody asked for. Nothing of the request was
// written, its body stream untouched: it may go out again on a new
// connection, whatever its method or body (retryStale, and the server's
// own retry of a streamed body). The pool's other idle connections are
// closed too, as by the HTTP transport's onStale: the member most likely
// restarted, closing them all, and the retry must not take one.
func staleReused(p *connPool, pc *pooledConn) error {
	if !pc.used {
		return nil
	}
	if l, ok := pc.conn.(looker); ok {
		if sent, closed := l.Look(); sent || closed {
			p.discard(pc)
			p.closeIdle()
			return ErrStaleConn
		}
	}
	return nil
}

// answerError is what Backend.Do reports of an exchange with a FastCGI
// or AJP member of p that failed (err) or was aborted before its answer's
// head: the client's leaving, a timeout as fasthttp reports it (the 504),
// a pooled connection the member closed as the request went out, which
// saw nothing (retryStale may send an idempotent request again, as for
// HTTP members, and p's other idle connections, as likely closed, are
// closed first), a connection closed before any answer.
func answerError(p *connPool, err error, aborted, reused, started, streamed bool) (bool, error) {
	switch {
	case aborted:
		return false, ErrClientGone
	case isTimeout(err):
		return false, fasthttp.ErrTimeout
	case reused && !started && !streamed:
		p.closeIdle()
		return true, fasthttp.ErrConnectionClosed
	case err == io.EOF || !started && errors.Is(err, io.ErrUnexpectedEOF):
		return false, fasthttp.ErrConnectionClosed
	}
	return false, err
}

// writeRequest sends BEGIN_REQUEST, the PARAMS and the body as STDIN.
func (l *fcgiLease) writeRequest(bw *bufio.Writer, req *fasthttp.Request, params []byte) error {
	l.head = fastcgi.AppendBeginRequest(l.head[:0], l.t.reuse)
	l.head = fastcgi.AppendParams(l.head, params)
	if _, err := bw.Write(l.head); err != nil {
		return err
	}
	if cap(l.head) < stdinBuffer {
		l.head = make([]byte, stdinBuffer)
	}
	var body io.Reader
	if req.IsBodyStream() {
		body = req.BodyStream()
	} else if b := req.Body(); len(b) > 0 {
		l.body.Reset(b)
		body = &l.body
	}
	if _, err := fastcgi.WriteStdin(bw, body, l.head[:cap(l.head)]); err != nil {
		return err
	}
	return bw.Flush()
}

func (l *fcgiLease) stderr(msg []byte) {
	if l.t.log != nil {
		l.t.log.Error("FastCGI application wrote to stderr", "member", l.t.member, "message", string(msg))
	}
}

// Release pools the connection when the answer ended with END_REQUEST
// and reuse is on, else closes it.
func (l *fcgiLease) Release(complete bool) {
	l.p.done(l.pc, complete && l.t.reuse && l.res.Ended() && l.res.ProtocolStatus == fastcgi.StatusRequestComplete &&
		(l.br == nil || endsClean(l.br)))
	l.p, l.pc, l.br, l.dc = nil, nil, nil, deadlineConn{}
	l.body.Reset(nil)
	l.res.Reset(nil)
	l.t.leases.Put(l)
}

func (l *fcgiLease) Spliceable() bool { return false }

// Body is nil: the body is the response's stream.
func (l *fcgiLease) Body() io.Reader { return nil }

func (l *fcgiLease) SpliceBody(BodySink, int64) (int64, error) {
	return 0, errors.New("pool: a FastCGI body cannot be spliced")
}
