package pool

// The round trip of an ajp:// member (mod_proxy_ajp): the forward request
// packet the server built, the request body in data packets (the first
// at once when its length is known, the rest as the container asks), and
// the container's packets read as an HTTP response with a streamed body.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/ajp"
)

type ajpTransport struct {
	timeout time.Duration
	// reuse keeps connections between requests, as Apache does for AJP
	// (unless disablereuse) when the container's END_RESPONSE allows it.
	reuse bool
	// ping > 0 sends a CPING before each request and waits this long for
	// the CPONG (the worker's ping=, as mod_proxy_ajp does).
	ping   time.Duration
	addr   string
	leases sync.Pool // *ajpLease
}

func newAJPTransport(m *Member, o BackendOptions) *ajpTransport {
	t := &ajpTransport{timeout: o.Timeout, reuse: !o.DisableReuse, ping: o.Ping, addr: m.Addr}
	t.leases.New = func() any { return &ajpLease{t: t} }
	return t
}

// ajpLease is one request's hold on its connection.
type ajpLease struct {
	t    *ajpTransport
	p    *connPool
	pc   *pooledConn
	dc   deadlineConn
	bw   *bufio.Writer
	br   *bufio.Reader
	res  ajp.Response
	raw  bytes.Reader // a body held whole
	pong [5]byte      // the CPING, then its CPONG

	// skipped: the answer has no body for the client and was read
	// through its END_RESPONSE with its head.
	skipped bool
}

func (t *ajpTransport) roundTrip(p *connPool, req *fasthttp.Request, resp *fasthttp.Response, call *Call) (bool, error) {
	pc, err := acquireWatched(p, call)
	if err != nil {
		return false, err
	}
	if err := staleReused(p, pc); err != nil {
		call.unwatch()
		return true, err
	}
	l := t.leases.Get().(*ajpLease)
	if t.ping > 0 {
		if pc, err = l.pinged(p, pc, call); err != nil {
			call.unwatch()
			t.leases.Put(l)
			return false, err
		}
	}
	reused, conn := pc.used, pc.conn
	l.p, l.pc, l.dc = p, pc, deadlineConn{Conn: conn, timeout: t.timeout}
	l.bw = acquireWriter(call.writer(&l.dc))
	l.br = p.readerOver(pc, &l.dc)
	var body io.Reader
	if req.IsBodyStream() {
		body = req.BodyStream()
	} else if b := req.Body(); len(b) > 0 {
		l.raw.Reset(b)
		body = &l.raw
	}
	l.res.Reset(l.br, l.bw, body)
	err = l.send(req, call.params)
	if err == nil {
		err = l.res.ReadHead(&resp.Header, req.Header.IsHead())
	}
	aborted := call.unwatch()
	if err != nil || aborted {
		started := l.res.Started()
		l.Release(false)
		return answerError(p, err, aborted, reused, started, req.IsBodyStream())
	}
	// The handler returns once the head is relayed, and the request body
	// and its byte count with it: a container asking for more of the body
	// after its head gets the body's end, written past the count.
	l.res.StopBody()
	if req.Header.IsHead() || Bodyless(resp.Header.StatusCode()) {
		// No body goes to the client, which leaves the answer unread: one
		// whose END_RESPONSE came with it is read now, to keep the
		// connection, as Apache keeps it.
		l.skipped = l.res.SkipBuffered()
	}
	l.bw.Reset(&l.dc)
	resp.SetBodyStream(&l.res, int(l.res.Limit()))
	call.lease = l
	return false, nil
}

// pinged sends a CPING on pc and returns the connection that answered it
// with a CPONG, registered with call: pc, or, where pc was pooled or the
// CPONG did not come in time, a new connection tried once more, as
// mod_proxy_ajp retries. A *DialError means nothing of the request went:
// the balancer may fail over.
func (l *ajpLease) pinged(p *connPool, pc *pooledConn, call *Call) (*pooledConn, error) {
	for try := 0; ; try++ {
		err := l.cping(pc.conn, l.t.ping)
		if err == nil {
			return pc, nil
		}
		p.discard(pc)
		if try > 0 || !pc.used && !isTimeout(err) {
			return nil, &DialError{Addr: l.t.addr, Err: err}
		}
		pc, err = p.acquireNew()
		if pc, err = watched(p, call, pc, err); err != nil {
			return nil, err
		}
	}
}

// cping sends a CPING on conn and waits up to d for its CPONG.
func (l *ajpLease) cping(conn net.Conn, d time.Duration) error {
	_ = conn.SetDeadline(time.Now().Add(d))
	l.pong = [5]byte{0x12, 0x34, 0, 1, 10}
	if _, err := conn.Write(l.pong[:]); err != nil {
		return err
	}
	if _, err := io.ReadFull(conn, l.pong[:]); err != nil {
		return err
	}
	if l.pong != [5]byte{'A', 'B', 0, 1, 9} {
		return errors.New("ajp: no CPONG to the CPING")
	}
	return nil
}

// send writes the forward request and, when the body's length is known,
// its first chunk, as Apache does; the rest goes as the container asks.
func (l *ajpLease) send(req *fasthttp.Request, packet []byte) error {
	if _, err := l.bw.Write(packet); err != nil {
		return err
	}
	if req.Header.ContentLength() > 0 {
		if err := l.res.SendChunk(ajp.MaxChunk); err != nil {
			return err
		}
	}
	return l.bw.Flush()
}

// Release pools the connection when the answer ended with an
// END_RESPONSE that allows reuse, else closes it.
func (l *ajpLease) Release(complete bool) {
	releaseWriter(l.bw)
	l.p.done(l.pc, (complete || l.skipped) && l.t.reuse && l.res.Reusable() && endsClean(l.br))
	l.p, l.pc, l.br, l.bw, l.dc, l.skipped = nil, nil, nil, nil, deadlineConn{}, false
	l.res.Reset(nil, nil, nil)
	l.raw.Reset(nil)
	l.t.leases.Put(l)
}

func (l *ajpLease) Spliceable() bool { return false }

// Body is nil: the body is the response's stream.
func (l *ajpLease) Body() io.Reader { return nil }

func (l *ajpLease) SpliceBody(BodySink, int64) (int64, error) {
	return 0, errors.New("pool: an AJP body cannot be spliced")
}
