package pool

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/sluiceproxy/sluice/deadline"
	"github.com/sluiceproxy/sluice/sock"
)

// answerCheck is how long a body write may block before sluice looks
// whether the member has already answered.
const answerCheck = 50 * time.Millisecond

// memberConn is the HTTP layer of a member connection, under idleConn and
// over the socket, or over tlsConn for a TLS member, so that it reads and
// writes plaintext either way. It guards against a member that answers
// before it has read the request body (threats.md HDR-07): once a body
// write blocks or fails with the member's answer waiting, the rest of the
// body is dropped (the client's side is still read, so it stays in step),
// and the answer is marked (answeredEarly) so that the connection is closed
// after it: the member never read those bytes and would take them for the
// next request.
//
// It is used by one request at a time, as the pool lends its connections.
type memberConn struct {
	net.Conn
	sock     socket      // what the member's bytes go through
	wr       writeReader // sock, where it writes and reads in one go (nil: TLS)
	deadline time.Time   // the write deadline idleConn asked for
	// slice arms the shorter deadlines of body writes, lazily; sliced is
	// set while one may be armed instead of deadline (it stays armed
	// after the body: a request's first write cannot wait, and re-arms
	// deadline only when the short one has passed).
	slice    deadline.Lazy
	sliced   bool
	writing  bool // a request is going out: nothing read since its first write
	body     bool // the request's first write went out: later ones carry its body
	answered bool // the member answered while the body was going out
	// await: the next write holds a whole request, in a buffer that
	// outlives the write: it goes out at the answer's first read, with that
	// read (writeReader). pending is that request until then; look: the
	// member is looked at for stray bytes right before it goes out.
	await, look bool
	pending     []byte
}

// socket is what a memberConn reads, writes and looks at: a plain
// member's sock.Socket (c's socket, by raw system calls), or a TLS
// member's tlsConn (c itself).
type socket interface {
	io.ReadWriter
	looker
}

func newMemberConn(c net.Conn, s socket) *memberConn {
	wr, _ := s.(writeReader)
	return &memberConn{Conn: c, sock: s, wr: wr}
}

// answerWaiting reports whether the member sent bytes that wait to be
// read; a closed peer with nothing sent is not an answer.
func (c *memberConn) answerWaiting() bool {
	sent, _ := c.sock.Look()
	return sent
}

// SetWriteDeadline arms t, unless a body write's shorter deadline is armed:
// the next body write arms the earlier of the two.
func (c *memberConn) SetWriteDeadline(t time.Time) error {
	c.deadline = t
	if c.sliced {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *memberConn) SetDeadline(t time.Time) error {
	c.deadline, c.sliced = t, false
	return c.Conn.SetDeadline(t)
}

func (c *memberConn) Write(p []byte) (int, error) {
	if !c.writing {
		c.writing, c.body, c.answered = true, false, false
	}
	await := c.await
	c.await = false
	if !c.body {
		// The first write carries the head onto an emptied connection: it
		// does not wait for the member, and no answer can come before it.
		c.body = true
		if c.wr != nil && await {
			c.pending = p
			return len(p), nil
		}
		return c.writeHead(p)
	}
	if c.answered {
		return len(p), nil // the member answered already: drop the rest of the body
	}
	n := 0
	for {
		now := time.Now()
		until, last := now.Add(answerCheck), false
		if !c.deadline.IsZero() && !c.deadline.After(until) {
			until, last = c.deadline, true
		}
		if t, ok := c.slice.Next(until, now); ok {
			if err := c.Conn.SetWriteDeadline(t); err != nil {
				return n, err
			}
			c.sliced = true
		}
		k, err := c.sock.Write(p[n:])
		n += k
		if err == nil {
			return n, nil
		}
		paused := errors.Is(err, os.ErrDeadlineExceeded) && !last
		if (paused || !errors.Is(err, os.ErrDeadlineExceeded)) && c.answerWaiting() {
			c.answered = true
			return len(p), nil
		}
		if !paused {
			return n, err
		}
	}
}

// writeHead writes the rest of a request's first write the ordinary way.
func (c *memberConn) writeHead(p []byte) (int, error) {
	n, err := c.sock.Write(p)
	if err != nil && c.sliced && errors.Is(err, os.ErrDeadlineExceeded) {
		// The short deadline of an earlier body outlived it.
		c.sliced, c.slice = false, deadline.Lazy{}
		if err := c.Conn.SetWriteDeadline(c.deadline); err != nil {
			return n, err
		}
		k, err := c.sock.Write(p[n:])
		return n + k, err
	}
	return n, err
}

// writeReader writes a request and reads the first of its answer in one
// go (a plain member's sock.Socket), having looked for stray bytes first
// where asked to.
type writeReader interface {
	WriteRead(b, p []byte, look bool) (wrote, n int, err error)
}

// writesAtRead reports whether an awaited request goes out at its
// answer's first read (awaitAnswer): on a plain member's socket.
func (c *memberConn) writesAtRead() bool { return c.wr != nil }

// awaitAnswer tells c that its next write holds a whole request, in a
// buffer that outlives the write: nothing follows it but the member's
// answer, and the write waits for the answer's first read. A read right
// after a request finds nothing yet and costs an empty system call; the
// two together wait first, and make one pass through the poller. With
// look set, that read reports sock.ErrUnasked, having written nothing,
// where the member sent bytes or closed before the request (idleConn's
// staleness check, made there without a pass of its own).
func (c *memberConn) awaitAnswer(look bool) { c.await, c.look = true, look }

func (c *memberConn) Read(p []byte) (int, error) {
	c.writing = false
	if b := c.pending; b != nil {
		c.pending = nil
		return c.writeRead(b, p)
	}
	return c.sock.Read(p)
}

// writeRead writes the pending request b and reads the answer into p:
// in one go, or where the send buffer was full (or the read deadline had
// passed), the rest of b the ordinary way (under the write deadline) and
// then the answer.
func (c *memberConn) writeRead(b, p []byte) (int, error) {
	wrote, n, err := c.wr.WriteRead(b, p, c.look)
	if wrote == len(b) || err != nil {
		return n, err
	}
	if wrote == 0 && c.look {
		if sent, closed := c.sock.Look(); sent || closed {
			return 0, sock.ErrUnasked
		}
	}
	if _, err := c.writeHead(b[wrote:]); err != nil {
		return 0, err
	}
	return c.sock.Read(p)
}

// answeredEarly reports whether the member answered the request on conn
// before it had read all of its body (memberConn): the bytes it never read
// would be taken for the next request, so the connection must not carry
// one.
func answeredEarly(conn net.Conn) bool {
	if ic := idleConnOf(conn); ic != nil && ic.mc != nil {
		return ic.mc.answered
	}
	return false
}
