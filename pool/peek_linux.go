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
	rc      syscall.RawConn
	peekFn  func(fd uintptr) // made once per connection: no allocation per call
	readFn  func(fd uintptr)
	writeFn func(fd uintptr) bool
	wrote   bool // writeFn's write went out; its next call finds the answer readable
	sent    bool
	closed  bool
	buf     []byte // readNow's destination, during the call
	n       int
	err     error
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

// writeAwait writes b to the socket and returns once the peer's answer can
// be read (or the wait ends: a deadline, Abort's close), in one
// RawConn.Read. A Go read tries the socket before it waits, so a read
// right after a request finds nothing yet and costs an empty system call;
// here the wait comes first. That is safe only because the poller's
// readiness is reset before the write: every answer byte arrives after it.
// It reports how much of b went out; what did not (a full send buffer, an
// error) the caller writes the ordinary way, which reports the error. With
// all of b sent, err is why the wait ended early, if it did: the read
// deadline, or a close.
func (p *peeker) writeAwait(b []byte) (n int, err error) {
	if p.rc == nil {
		return 0, nil
	}
	if p.writeFn == nil {
		p.writeFn = func(fd uintptr) bool {
			if p.wrote {
				return true // readable
			}
			p.wrote = true
			for {
				p.n, p.err = syscall.Write(int(fd), p.buf)
				if p.err != syscall.EINTR {
					break
				}
			}
			return p.err != nil || p.n < len(p.buf)
		}
	}
	p.buf, p.n, p.err, p.wrote = b, 0, nil, false
	err = p.rc.Read(p.writeFn)
	n = p.n
	if p.err != nil || n < 0 {
		n = 0
	}
	if n < len(b) {
		err = nil // the caller writes the rest and meets any error itself
	}
	p.buf, p.err = nil, nil
	return n, err
}
