//go:build linux

package pool

import (
	"net"
	"syscall"
)

// peeker looks at a socket without reading from it or blocking.
type peeker struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool // made once per connection: no allocation per check
	ready bool
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
	p := peeker{rc: rc}
	return p
}

// pending reports whether the peer sent bytes or closed its side: either
// makes the connection unfit for another request.
func (p *peeker) pending() bool {
	if p.rc == nil {
		return false
	}
	if p.fn == nil {
		p.fn = func(fd uintptr) bool {
			var b [1]byte
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			// n > 0: unsolicited bytes; n == 0 without error: the peer closed.
			p.ready = n > 0 || (n == 0 && err == nil)
			return true
		}
	}
	p.ready = false
	_ = p.rc.Read(p.fn)
	return p.ready
}
