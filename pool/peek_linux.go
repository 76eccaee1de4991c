//go:build linux

package pool

import (
	"io"
	"net"
	"os"
	"syscall"
)

// peeker looks at a socket, or reads what waits on it, without blocking.
// It goes through RawConn.Control, not RawConn.Read: Read fails at once
// once the read deadline has passed, and a pooled connection's per-read
// deadline may well have passed while it sat idle.
type peeker struct {
	rc     syscall.RawConn
	peekFn func(fd uintptr) // made once per connection: no allocation per call
	readFn func(fd uintptr)
	sent   bool
	closed bool
	buf    []byte // readNow's destination, during the call
	n      int
	err    error
}

func newPeeker(c net.Conn) *peeker {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return &peeker{}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return &peeker{}
	}
	return &peeker{rc: rc}
}

// look reports whether the peer sent bytes that wait to be read, and
// whether it closed its side with nothing sent.
func (p *peeker) look() (sent, closed bool) {
	if p.rc == nil {
		return false, false
	}
	if p.peekFn == nil {
		p.peekFn = func(fd uintptr) {
			var b [1]byte
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			p.sent, p.closed = n > 0, n == 0 && err == nil
		}
	}
	p.sent, p.closed = false, false
	_ = p.rc.Control(p.peekFn)
	return p.sent, p.closed
}

// readNow reads into b what waits on the socket: errNothingToRead when
// nothing does, io.EOF when the peer closed.
func (p *peeker) readNow(b []byte) (int, error) {
	if p.rc == nil {
		return 0, errNothingToRead
	}
	if p.readFn == nil {
		p.readFn = func(fd uintptr) { p.n, p.err = syscall.Read(int(fd), p.buf) }
	}
	p.buf = b
	err := p.rc.Control(p.readFn)
	p.buf = nil
	switch {
	case err != nil:
		return 0, err
	case p.err == syscall.EAGAIN || p.err == syscall.EINTR:
		return 0, errNothingToRead
	case p.err != nil:
		return 0, os.NewSyscallError("read", p.err)
	case p.n == 0:
		return 0, io.EOF
	}
	return p.n, nil
}
