// Package sock reads, writes and looks at a connection's socket by raw
// system calls, within Go's poller (syscall.RawConn).
//
// Read, Write, WriteTwo (writev) and SpliceFrom (splice through a pipe)
// wait as a net.Conn's do, in the poller and under the connection's
// deadlines, but make their system calls without telling the runtime
// (syscall.RawSyscall): a non-blocking socket call never blocks, and
// the runtime's bookkeeping for one that might wakes its monitor thread
// (sysmon) whenever the process was idle, which then polls every 20 µs for
// a while. Under light load, where sluice idles between requests, that cost
// a request two thread wake-ups and a third of its CPU time.
//
// Look and ReadNow do not wait: through RawConn.Control, which keeps the
// descriptor open meanwhile and goes past the poller and the connection's
// deadlines (a pooled member connection's per-read deadline may well have
// passed while it sat idle). The member pool asks whether a reused
// connection is still clean; the server whether an idle client connection
// may park.
//
// Listener accepts client connections itself, by raw accept4(2), and hands
// each over as an Accepted: a net.Conn whose socket is used bare, by its
// descriptor, until a read or write first has to wait, when it joins Go's
// poller. Most connections that carry one request never wait, and then
// cost neither the poller's registration nor Go's per-connection set-up.
package sock

import (
	"errors"
	"io"
	"net"
	"sync"
)

// ErrNothing ends a read that must not wait when nothing waits. It is a
// temporary net.Error, which crypto/tls does not make permanent, so a TLS
// connection over the socket reads on afterwards.
var ErrNothing net.Error = nothing{}

// ErrFull ends a write that must not wait (WriteTwoNow) where the send
// buffer is full.
var ErrFull = errors.New("sock: send buffer full")

// ErrUnasked ends a WriteRead that looked first and found that the peer
// had sent bytes or closed: nothing was written.
var ErrUnasked = errors.New("sock: the peer sent or closed before the request")

type nothing struct{}

func (nothing) Error() string   { return "sock: nothing to read yet" }
func (nothing) Timeout() bool   { return true }
func (nothing) Temporary() bool { return true }

// Conn is a connection read and written through its socket (Socket), for
// code that takes a net.Conn: FastCGI and AJP members, tunnels' members.
type Conn struct {
	net.Conn
	s *Socket
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn { return &Conn{Conn: c, s: New(c)} }

func (c *Conn) Read(p []byte) (int, error)  { return c.s.Read(p) }
func (c *Conn) Write(p []byte) (int, error) { return c.s.Write(p) }

// Look is the socket's Look: a pooled FastCGI or AJP member connection is
// looked at before it carries another request.
func (c *Conn) Look() (sent, closed bool) { return c.s.Look() }

// CloseWrite half-closes the connection where it can (TCP), and closes it
// elsewhere: a tunnel's end whose other direction finished.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// writeTwo is WriteTwo on a connection without a socket: two writes, the
// second only when there is a second part (an empty write to a net.Pipe
// waits for the reader).
func writeTwo(c net.Conn, a, b []byte) (int, error) {
	n, err := c.Write(a)
	if err != nil || len(b) == 0 {
		return n, err
	}
	k, err := c.Write(b)
	return n + k, err
}

// copyBufs are copyFrom's buffers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyFrom is SpliceFrom where there is no splice: up to n bytes read from
// src and written to s, through a pooled buffer.
func (s *Socket) copyFrom(src *Socket, n int64) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(s, io.LimitReader(src, n), *bp)
}
