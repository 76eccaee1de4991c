//go:build linux

package pool

import (
	"net"
	"syscall"

	"github.com/sluiceproxy/sluice/peek"
)

// peeker is a member connection's socket (peek.Socket, which looks at it
// and reads what waits on it without blocking), with the write that awaits
// the answer.
type peeker struct {
	*peek.Socket
	writeFn func(fd uintptr) bool
	wrote   bool // writeFn's write went out; its next call finds the answer readable
	buf     []byte
	n       int
	err     error
}

func newPeeker(c net.Conn) *peeker { return &peeker{Socket: peek.New(c)} }

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
	rc := p.Raw()
	if rc == nil {
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
	err = rc.Read(p.writeFn)
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
