//go:build linux

package pool

import (
	"net"
	"syscall"
)

// peeker looks at a socket without reading from it or blocking.
type peeker struct {
	rc           syscall.RawConn
	fn           func(fd uintptr) bool // made once per connection: no allocation per check
	sent, closed bool
}

func newPeeker(c net.Conn) peeker {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return peeker{}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return peeker{}
	}
	return peeker{rc: rc}
}

// look reports whether the peer sent bytes that wait to be read, and
// whether it closed its side with nothing sent.
func (p *peeker) look() (sent, closed bool) {
	if p.rc == nil {
		return false, false
	}
	if p.fn == nil {
		p.fn = func(fd uintptr) bool {
			var b [1]byte
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			p.sent, p.closed = n > 0, n == 0 && err == nil
			return true
		}
	}
	p.sent, p.closed = false, false
	_ = p.rc.Read(p.fn)
	return p.sent, p.closed
}
