//go:build linux

package peek

import (
	"io"
	"net"
	"os"
	"syscall"
)

// Socket is a connection's socket, for looks and reads that do not wait.
// Its functions are made once per socket: a closure per call would
// allocate. Not safe for concurrent use.
type Socket struct {
	rc     syscall.RawConn // nil: the connection has no socket (a pipe)
	peekFn func(fd uintptr)
	readFn func(fd uintptr)
	sent   bool
	closed bool
	buf    []byte // ReadNow's destination, during the call
	n      int
	err    error
}

// New returns c's socket; one without a socket never has anything to read.
func New(c net.Conn) *Socket {
	s := &Socket{}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return s
	}
	if rc, err := sc.SyscallConn(); err == nil {
		s.rc = rc
	}
	return s
}

// Raw is the socket's RawConn, nil for a connection without one.
func (s *Socket) Raw() syscall.RawConn { return s.rc }

// Look reports whether the peer sent bytes that wait to be read, and
// whether it closed its side with nothing sent.
func (s *Socket) Look() (sent, closed bool) {
	if s.rc == nil {
		return false, false
	}
	if s.peekFn == nil {
		s.peekFn = func(fd uintptr) {
			var b [1]byte
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			s.sent, s.closed = n > 0, n == 0 && err == nil
		}
	}
	s.sent, s.closed = false, false
	_ = s.rc.Control(s.peekFn)
	return s.sent, s.closed
}

// ReadNow reads into b what waits on the socket: ErrNothing when nothing
// does, io.EOF when the peer closed.
func (s *Socket) ReadNow(b []byte) (int, error) {
	if s.rc == nil {
		return 0, ErrNothing
	}
	if s.readFn == nil {
		s.readFn = func(fd uintptr) { s.n, s.err = syscall.Read(int(fd), s.buf) }
	}
	s.buf = b
	err := s.rc.Control(s.readFn)
	s.buf = nil
	switch {
	case err != nil:
		return 0, err
	case s.err == syscall.EAGAIN || s.err == syscall.EINTR:
		return 0, ErrNothing
	case s.err != nil:
		return 0, os.NewSyscallError("read", s.err)
	case s.n == 0:
		return 0, io.EOF
	}
	return s.n, nil
}
