package pool

import (
	"errors"
	"net"
	"time"

	"github.com/sluiceproxy/sluice/deadline"
	"github.com/sluiceproxy/sluice/sock"
)

// ErrStaleConn is returned when a pooled backend connection is found
// closed by the backend, or holding bytes nobody asked for, before a
// request is written on it. Nothing was sent; the request may go out again
// on a fresh connection.
var ErrStaleConn = errors.New("pool: backend connection closed or sent unsolicited bytes")

// idleConn is a backend connection with two duties:
//   - the worker timeout has Apache's meaning: each read or write may wait
//     at most timeout (plus deadline's slack), however long the whole
//     exchange lasts, so a long streamed body is not cut while bytes keep
//     flowing;
//   - before a request is written on a reused connection it checks that the
//     backend sent nothing since the last response: late bytes would
//     otherwise become the next client's response (threats.md SMG-14).
type idleConn struct {
	net.Conn
	mc      *memberConn // Conn, where it is one (a plain or TLS HTTP member's)
	timeout time.Duration
	// read is true once a response was read: the next Write starts a new
	// request on a reused connection.
	read    bool
	peek    looker
	onStale func()
	// rd and wd arm the per-I/O deadlines lazily.
	rd, wd deadline.Lazy
	// answer: the next Write holds a whole request and awaits its answer
	// (awaitAnswer). answerArmed: that Write armed the read timeout too,
	// so the answer's first Read need not read the clock again: each
	// reading costs some 50 ns, and a request made three of them here.
	answer, answerArmed bool
}

// looker tells, without blocking and without losing a byte to the next
// read, whether the member sent bytes that wait to be read and whether it
// closed the connection: a sock.Socket on a plain socket; under TLS a tlsConn,
// which answers at the TLS layer (a session ticket is not a byte sent).
type looker interface{ Look() (sent, closed bool) }

// newIdleConn wraps c; peek looks at the member's side of c.
func newIdleConn(c net.Conn, timeout time.Duration, peek looker, onStale func()) *idleConn {
	mc, _ := c.(*memberConn)
	return &idleConn{Conn: c, mc: mc, timeout: timeout, peek: peek, onStale: onStale}
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.answerArmed {
		c.answerArmed = false // Write armed it, with the request
	} else if err := c.armRead(); err != nil {
		return 0, err
	}
	c.read = true
	n, err := c.Conn.Read(p)
	if err == sock.ErrUnasked {
		return 0, c.stale()
	}
	return n, err
}

// awaitAnswer tells the connection that its next write holds a whole
// request, in a buffer that outlives the write (memberConn.awaitAnswer);
// Write then arms the worker timeout for the answer as well, with the
// same clock reading.
func (c *idleConn) awaitAnswer() {
	c.answer = c.mc != nil
}

// armRead arms the worker timeout for the next read, lazily.
func (c *idleConn) armRead() error {
	if c.timeout <= 0 {
		return nil
	}
	return c.armReadAt(time.Now())
}

func (c *idleConn) armReadAt(now time.Time) error {
	if t, ok := c.rd.Next(now.Add(c.timeout), now); ok {
		return c.Conn.SetReadDeadline(t)
	}
	return nil
}

// checkStale reports ErrStaleConn once per request on a reused connection
// that holds unsolicited bytes or was closed by the backend.
func (c *idleConn) checkStale() error {
	if !c.read {
		return nil
	}
	c.read = false
	// Unsolicited bytes or a close: either makes the connection unfit.
	if sent, closed := c.peek.Look(); !sent && !closed {
		return nil
	}
	return c.stale()
}

// stale reports a connection found unfit for the request about to go out.
func (c *idleConn) stale() error {
	if c.onStale != nil {
		c.onStale()
	}
	return ErrStaleConn
}

// SetReadDeadline, SetWriteDeadline and SetDeadline are set-aside
// deadlines (ping's wait for 100 Continue): the lazy per-I/O ones start
// over from them, the next read's included.
func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.rd.Armed(t)
	c.answerArmed = false
	return c.Conn.SetReadDeadline(t)
}

func (c *idleConn) SetWriteDeadline(t time.Time) error {
	c.wd.Armed(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *idleConn) SetDeadline(t time.Time) error {
	c.rd.Armed(t)
	c.answerArmed = false
	c.wd.Armed(t)
	return c.Conn.SetDeadline(t)
}

func (c *idleConn) Write(p []byte) (int, error) {
	answer := c.answer
	c.answer, c.answerArmed = false, false
	look := answer && c.read && c.mc.writesAtRead()
	if look {
		c.read = false // checked as the request goes out (memberConn.awaitAnswer)
	} else if err := c.checkStale(); err != nil {
		return 0, err
	}
	if c.timeout > 0 {
		now := time.Now()
		if t, ok := c.wd.Next(now.Add(c.timeout), now); ok {
			if err := c.Conn.SetWriteDeadline(t); err != nil {
				return 0, err
			}
		}
		// The answer's wait starts under the worker timeout.
		if answer {
			if err := c.armReadAt(now); err != nil {
				return 0, err
			}
			c.answerArmed = true
		}
	}
	if answer {
		c.mc.awaitAnswer(look)
	}
	return c.Conn.Write(p)
}
