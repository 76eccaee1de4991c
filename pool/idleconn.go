package pool

import (
	"errors"
	"net"
	"time"
)

// ErrStaleConn is returned when a pooled backend connection is found
// closed by the backend, or holding bytes nobody asked for, before a
// request is written on it. Nothing was sent; the request may go out again
// on a fresh connection.
var ErrStaleConn = errors.New("pool: backend connection closed or sent unsolicited bytes")

// idleConn is a backend connection with two duties:
//   - the worker timeout has Apache's meaning: each read or write may wait
//     at most timeout, however long the whole exchange lasts, so a long
//     streamed body is not cut while bytes keep flowing;
//   - before a request is written on a reused connection it checks that the
//     backend sent nothing since the last response: late bytes would
//     otherwise become the next client's response (threats.md SMG-14).
type idleConn struct {
	net.Conn
	timeout time.Duration
	// read is true once a response was read: the next Write starts a new
	// request on a reused connection.
	read bool
	peek peeker
}

// newIdleConn wraps c. check turns the unsolicited-bytes check on; it is
// off under TLS, where records such as session tickets legitimately arrive
// between requests and only the TLS layer can tell them apart.
func newIdleConn(c net.Conn, timeout time.Duration, check bool) *idleConn {
	ic := &idleConn{Conn: c, timeout: timeout}
	if check {
		ic.peek = newPeeker(c)
	}
	return ic
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.timeout > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, err
		}
	}
	c.read = true
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if c.read {
		c.read = false
		if c.peek.pending() {
			return 0, ErrStaleConn
		}
	}
	if c.timeout > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}
