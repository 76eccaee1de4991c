//go:build linux

package sock

import (
	"io"
	"net"
	"os"
	"syscall"
)

// Socket is a connection's socket. Its functions for RawConn are made once
// per socket, on first use: a closure per call would allocate. Read and
// Write may run at once (one goroutine each, as on a net.Conn); Look and
// ReadNow only where Read does not. Not safe for other concurrent use.
type Socket struct {
	conn    net.Conn        // read and written as it is where it has no socket
	rc      syscall.RawConn // nil: the connection has no socket (a pipe)
	acc     *Accepted       // conn, where it is one (read and written bare until it waits)
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
	wrRdFn  func(fd uintptr) bool
	ctlFn   func(fd uintptr) // Look's and ReadNow's (Control does not wait)
	rd, wr  call             // Read's (and ReadNow's), Write's; WriteRead's both
	wrMore  []byte           // WriteTwo's second part, written after wr's
	// wrote: wrRdFn's write went out; its next calls read the answer.
	// lookFirst: wrRdFn looks before it writes; unasked: it saw bytes or
	// a close. look: ctlFn looks rather than reads; sent and closed are
	// what it saw.
	wrote, lookFirst, unasked, look, sent, closed bool
	// nowait: the Write in progress stops where it would wait
	// (WriteTwoNow).
	nowait bool
}

// call is one Read, Write or ReadNow: its buffer, and what the system
// calls made of it.
type call struct {
	buf   []byte
	n     int
	errno syscall.Errno
}

// New returns c's socket. c's own Read and Write must be the socket's (a
// TCP or Unix connection), or c must have none; one without a socket is
// read and written as it is, and never has anything waiting.
func New(c net.Conn) *Socket {
	s := new(Socket)
	s.Init(c)
	return s
}

// Init makes s, a zero Socket held in a larger record, c's socket (as New).
func (s *Socket) Init(c net.Conn) {
	s.conn = c
	s.acc, _ = c.(*Accepted)
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			s.rc = rc
		}
	}
}

// Raw is the socket's RawConn, nil for a connection without one.
func (s *Socket) Raw() syscall.RawConn { return s.rc }

// Read reads as the connection's Read does: it waits in Go's poller for
// bytes, under the read deadline, and reports a peer's close as io.EOF.
func (s *Socket) Read(p []byte) (int, error) {
	switch {
	case s.rc == nil:
		return s.conn.Read(p)
	case len(p) == 0:
		return 0, nil // as a net.Conn: no system call, nothing waited for
	}
	n, err := s.do(&s.rd, false, p)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, err
}

// do makes one Read or Write: c's, through RawConn's Read or Write (or an
// Accepted's own, bare until it waits).
func (s *Socket) do(c *call, write bool, p []byte) (int, error) {
	c.buf, c.n, c.errno = p, 0, 0
	var err error
	if a := s.acc; a == nil {
		err = s.wait(s.rc, write)
	} else if p := a.polled.Load(); p == nil || write && s.nowait {
		err = a.do(s, nil, write) // bare, or waits first
	} else {
		// In the poller: as a plain socket's, through the File's RawConn
		// (the common case of a keep-alive connection, kept short).
		err = a.polledErr(s.wait(p.rc, write))
	}
	op := "read"
	if write {
		op = "write"
	}
	n, errno := c.n, c.errno
	c.buf = nil
	switch {
	case err != nil:
		return n, s.opError(op, err)
	case errno == syscall.EAGAIN: // only where it must not wait (nowait)
		return n, ErrFull
	case errno != 0:
		return n, s.opError(op, os.NewSyscallError(op, errno))
	}
	return n, nil
}

// wait makes the Read or Write set up in s.rd or s.wr through rc, which
// waits in Go's poller.
func (s *Socket) wait(rc syscall.RawConn, write bool) error {
	if write {
		return rc.Write(s.writeFunc())
	}
	return rc.Read(s.readFunc())
}

// readFunc and writeFunc are read and write as functions for RawConn,
// made once per socket.
func (s *Socket) readFunc() func(fd uintptr) bool {
	if s.readFn == nil {
		s.readFn = s.read
	}
	return s.readFn
}

func (s *Socket) writeFunc() func(fd uintptr) bool {
	if s.writeFn == nil {
		s.writeFn = s.write
	}
	return s.writeFn
}

func (s *Socket) read(fd uintptr) bool {
	c := &s.rd
	for {
		n, errno := sysRead(fd, c.buf)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait in the poller
		}
		c.n, c.errno = n, errno
		return true
	}
}

// Write writes all of p as the connection's Write does: it waits in Go's
// poller while the send buffer is full, under the write deadline, and
// reports how much went out.
func (s *Socket) Write(p []byte) (int, error) { return s.WriteTwo(p, nil) }

// WriteTwo writes a and then b as Write would their concatenation, in
// one writev(2) where the socket takes both at once.
func (s *Socket) WriteTwo(a, b []byte) (int, error) {
	if s.rc == nil {
		return writeTwo(s.conn, a, b)
	}
	s.wrMore = b
	n, err := s.do(&s.wr, true, a)
	s.wrMore = nil
	if n < len(a)+len(b) && err == nil {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// WriteTwoNow is WriteTwo up to where it would wait: with the send buffer
// full it returns what went out and ErrFull. A caller that waits only
// then can arm a write timeout only then, as nginx's send_timeout runs
// only while a write waits, and read no clock for the writes that do not.
// The write deadline bounds waits only: a write that does not wait is
// made whatever it says.
func (s *Socket) WriteTwoNow(a, b []byte) (int, error) {
	if s.rc == nil {
		return 0, ErrFull // cannot tell: taken as a write that waits
	}
	s.nowait = true
	n, err := s.WriteTwo(a, b)
	s.nowait = false
	return n, err
}

func (s *Socket) write(fd uintptr) bool {
	c := &s.wr
	a, b := c.buf, s.wrMore
	for c.n < len(a)+len(b) {
		var n int
		var errno syscall.Errno
		switch {
		case c.n < len(a) && len(b) > 0:
			n, errno = sysWritev(fd, a[c.n:], b)
		case c.n < len(a):
			n, errno = sysWrite(fd, a[c.n:])
		default:
			n, errno = sysWrite(fd, b[c.n-len(a):])
		}
		switch errno {
		case 0:
			if n == 0 {
				return true
			}
			c.n += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			if s.nowait {
				c.errno = errno
				return true
			}
			return false // wait in the poller
		default:
			c.errno = errno
			return true
		}
	}
	return true
}

// WriteRead writes b and reads the peer's answer into p, in one
// RawConn.Read, where neither Read nor Write runs. A read right after a
// request finds nothing yet and costs an empty system call; here the wait
// comes first. That is safe only because the poller's readiness is reset
// before the write: every answer byte arrives after it. It reports how
// much of b went out and how much of p came in. A b that did not all go
// out (a full send buffer, or a read deadline already past) ends it with
// no error and nothing read: the caller writes the rest and reads the
// ordinary way. An error names the write where the write failed, else the
// read (a deadline, a close); a peer that closed with nothing sent reads
// as io.EOF.
//
// With look set it first looks, as Look does, whether the peer sent bytes
// or closed, and then writes nothing and returns ErrUnasked: a pooled
// connection's check for a member's stray bytes, made right before the
// request goes out.
func (s *Socket) WriteRead(b, p []byte, look bool) (wrote, n int, err error) {
	if s.rc == nil || len(p) == 0 {
		return 0, 0, nil
	}
	if s.wrRdFn == nil {
		s.wrRdFn = s.writeThenRead
	}
	w, r := &s.wr, &s.rd
	w.buf, w.n, w.errno = b, 0, 0
	r.buf, r.n, r.errno = p, 0, 0
	s.wrote, s.lookFirst, s.unasked = false, look, false
	err = s.rc.Read(s.wrRdFn)
	wrote, n = w.n, r.n
	werr, rerr := w.errno, r.errno
	w.buf, r.buf = nil, nil
	switch {
	case s.unasked:
		return 0, 0, ErrUnasked
	case werr != 0 && werr != syscall.EAGAIN:
		return wrote, 0, s.opError("write", os.NewSyscallError("write", werr))
	case wrote < len(b):
		return wrote, 0, nil // the caller writes the rest and meets any error itself
	case err != nil:
		return wrote, 0, s.opError("read", err)
	case rerr != 0:
		return wrote, 0, s.opError("read", os.NewSyscallError("read", rerr))
	case n == 0:
		return wrote, 0, io.EOF
	}
	return wrote, n, nil
}

func (s *Socket) writeThenRead(fd uintptr) bool {
	if s.wrote {
		return s.read(fd)
	}
	s.wrote = true
	if s.lookFirst {
		if sent, closed := peek(fd); sent || closed {
			s.unasked = true
			return true
		}
	}
	c := &s.wr
	for {
		n, errno := sysWrite(fd, c.buf)
		if errno == syscall.EINTR {
			continue
		}
		c.n, c.errno = n, errno
		// Wait for the answer, without reading first: readiness was
		// reset before the write, so every answer byte raises a new edge.
		return errno != 0 || n < len(c.buf)
	}
}

// opError gives an error the shape a net.Conn's has: a *net.OpError named
// for the operation (RawConn's own say "raw-read" and "raw-write").
func (s *Socket) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: s.conn.LocalAddr().Network(), Source: s.conn.LocalAddr(), Addr: s.conn.RemoteAddr(), Err: err}
}

// Look reports whether the peer sent bytes that wait to be read, and
// whether it closed its side (or reset the connection) with nothing sent.
func (s *Socket) Look() (sent, closed bool) {
	if s.rc == nil {
		return false, false
	}
	s.look, s.sent, s.closed = true, false, false
	_ = s.control()
	return s.sent, s.closed
}

// ReadNow reads into b what waits on the socket: ErrNothing when nothing
// does, io.EOF when the peer closed.
func (s *Socket) ReadNow(b []byte) (int, error) {
	if s.rc == nil {
		return 0, ErrNothing
	}
	c := &s.rd
	c.buf, c.n, c.errno = b, 0, 0
	s.look = false
	err := s.control()
	n, errno := c.n, c.errno
	c.buf = nil
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return 0, ErrNothing
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *Socket) control() error {
	if s.ctlFn == nil {
		s.ctlFn = s.now1
	}
	return s.rc.Control(s.ctlFn)
}

// peek is Look's system call: sent where a byte waits; closed where the
// peer closed with nothing sent, or the socket failed (a reset), as a
// read would find.
func peek(fd uintptr) (sent, closed bool) {
	n, errno := sysPeek(fd)
	return n > 0, n == 0 && errno != syscall.EAGAIN && errno != syscall.EINTR
}

// now1 is Look's or ReadNow's one system call.
func (s *Socket) now1(fd uintptr) {
	if s.look {
		s.sent, s.closed = peek(fd)
		return
	}
	c := &s.rd
	c.n, c.errno = sysRead(fd, c.buf)
}
