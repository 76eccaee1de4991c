package pool

// A TLS member's connection is layered so that memberConn and idleConn
// guard plaintext, as they do over a plain socket:
//
//	idleConn → memberConn → tlsConn (crypto/tls) → wire → socket
//
// The pool's dial does the handshake under memberConn (Backend's dial,
// handshakeTLS), not above idleConn, where the guards would see only
// ciphertext.

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sluiceproxy/sluice/sock"
)

// maxRecord is the most plaintext handed to crypto/tls at once (a record's
// worth), so that what a stalled write leaves pending stays that small.
const maxRecord = 16 << 10

// tlsConn is a member's TLS connection, under memberConn. It differs from
// a bare *tls.Conn in what the guards need:
//   - a write that times out is not fatal (see wire): memberConn lets a
//     body write time out to look for an early answer, then writes on;
//   - look answers at the TLS layer the question sock.Socket answers for a
//     socket. Bytes on the socket may be records without application data
//     (TLS 1.3 session tickets, KeyUpdate), which look consumes; only
//     application data counts as sent, and the byte look read is kept for
//     the next Read.
//
// It is used by one request at a time, as the pool lends its connections;
// only Close may come from another goroutine.
type tlsConn struct {
	*tls.Conn
	wire    *wire
	held    [1]byte // the application byte look read
	holding bool
}

// handshakeTLS runs a client handshake over raw within timeout (0: no
// limit); raw is closed when it fails.
func handshakeTLS(raw net.Conn, cfg *tls.Config, timeout time.Duration) (*tlsConn, error) {
	w := &wire{Conn: raw, sock: sock.New(raw)}
	tc := tls.Client(w, cfg)
	var err error
	if timeout > 0 {
		err = raw.SetDeadline(time.Now().Add(timeout))
	}
	if err == nil {
		err = tc.Handshake()
	}
	if err == nil && timeout > 0 {
		err = raw.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	return &tlsConn{Conn: tc, wire: w}, nil
}

func (c *tlsConn) Read(p []byte) (int, error) {
	if c.holding && len(p) > 0 {
		c.holding = false
		p[0] = c.held[0]
		return 1, nil
	}
	return c.Conn.Read(p)
}

// Write sends p. When the socket takes nothing more by the write deadline
// it reports the timeout, with p counted as taken as far as crypto/tls
// took it; the next Write, even of nothing, goes on where the socket
// stopped.
func (c *tlsConn) Write(p []byte) (int, error) {
	if err := c.wire.flush(); err != nil {
		return 0, err
	}
	n := 0
	for n < len(p) {
		k, err := c.Conn.Write(p[n:min(len(p), n+maxRecord)])
		n += k
		if err == nil {
			err = c.wire.stalled()
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Look reports, without blocking, whether the member sent application
// bytes that wait to be read, and whether it closed the connection
// (close_notify or EOF) or broke it.
func (c *tlsConn) Look() (sent, closed bool) {
	if c.holding {
		return true, false
	}
	c.wire.nonblock = true
	n, err := c.Conn.Read(c.held[:])
	c.wire.nonblock = false
	if n > 0 {
		c.holding = true
		return true, false
	}
	return false, err != nil && !errors.Is(err, sock.ErrNothing)
}

// wire is the socket under a member's tls.Conn.
//
// crypto/tls makes every write error permanent, a passed deadline included
// (halfConn.setErrorLocked), and a record cut by one cannot be resumed. So
// when a write's deadline passes, wire keeps the bytes the socket did not
// take and tells crypto/tls they went; tlsConn reports the timeout, and the
// bytes go first at the next write. Reads with nonblock set take only what
// waits on the socket.
type wire struct {
	net.Conn
	sock     *sock.Socket // raw's, read and written by raw system calls
	nonblock bool         // set by look, from the request's goroutine

	// Close (from any goroutine) may send close_notify while a request
	// flushes: mu guards what follows.
	mu       sync.Mutex
	pending  []byte // bytes a stalled write left
	stall    error  // the deadline error that left them
	flushing bool
}

func (w *wire) Read(p []byte) (int, error) {
	if w.nonblock {
		return w.sock.ReadNow(p)
	}
	return w.sock.Read(p)
}

// Write is crypto/tls writing a record (under its own lock).
func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	switch {
	case w.flushing:
		// Only Close writes while a flush blocks: the connection is going.
		w.mu.Unlock()
		return len(p), nil
	case len(w.pending) > 0:
		// Behind stalled bytes: queued, so that the request's goroutine
		// gets back to look for an answer.
		w.pending = append(w.pending, p...)
		w.mu.Unlock()
		return len(p), nil
	}
	w.mu.Unlock()
	n, err := w.sock.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.mu.Lock()
		w.pending, w.stall = append(w.pending, p[n:]...), err
		w.mu.Unlock()
		return len(p), nil
	}
	return n, err
}

// flush writes the bytes a stalled write left, under the deadline armed now.
func (w *wire) flush() error {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return nil
	}
	w.flushing = true
	w.mu.Unlock()
	n, err := w.sock.Write(w.pending) // nothing appends while flushing
	w.mu.Lock()
	w.flushing = false
	w.pending = w.pending[:copy(w.pending, w.pending[n:])]
	if err != nil {
		w.stall = err
	}
	w.mu.Unlock()
	return err
}

// stalled is the deadline error that left bytes waiting; nil when none do.
func (w *wire) stalled() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	return w.stall
}
