package pool

import (
	"errors"
	"io"
	"net"
	"os"

	"github.com/sluiceproxy/sluice/sock"
)

// SpliceMin is the smallest response body worth splicing: a body that fits
// the relay's copy buffer costs one read and one write either way, while
// splice(2) always takes two calls and a pipe.
const SpliceMin = 32 << 10

// BodySink is a client connection that can take a member's response body
// straight from the member's socket.
type BodySink interface {
	// Write sends bytes sluice already read from the member.
	Write(p []byte) (int, error)
	// SpliceFrom moves up to n bytes from src to the client's socket
	// without copying them through user space (sock.Socket.SpliceFrom);
	// fewer and a nil error mean src reached its end. A deadline error is
	// the client's own write timeout or src's read deadline.
	SpliceFrom(src *sock.Socket, n int64) (int64, error)
}

// errNotSpliced: SpliceBody on a lease that is not Spliceable.
var errNotSpliced = errors.New("pool: the member connection cannot be spliced")

// socket is the plain TCP socket under the lease's connection, or nil for
// a TLS member or a system without socket-to-socket splicing.
func (l *lease) socket() (*idleConn, *sock.Socket) {
	if !spliceWorks {
		return nil, nil
	}
	ic, ok := l.pc.conn.(*idleConn)
	if !ok {
		return nil, nil
	}
	mc := ic.mc
	if mc == nil {
		return nil, nil
	}
	s, _ := mc.sock.(*sock.Socket)
	if _, ok := mc.Conn.(*net.TCPConn); !ok || s == nil {
		return nil, nil
	}
	return ic, s
}

func (l *lease) Spliceable() bool {
	_, tc := l.socket()
	return tc != nil
}

// SpliceBody sends the body's next n bytes to dst: those already read with
// the head first, then the rest from the member's socket by dst.SpliceFrom.
// Each round arms the worker timeout on the member's reads; a round that
// moved bytes before a deadline ran out goes on, so a member or client
// that stalls is cut after one to two timeouts rather than one (Go's splice
// cannot tell how long its last wait was).
func (l *lease) SpliceBody(dst BodySink, n int64) (int64, error) {
	ic, src := l.socket()
	if src == nil {
		return 0, errNotSpliced
	}
	var moved int64
	if b := min(int64(l.br.Buffered()), n); b > 0 {
		p, _ := l.br.Peek(int(b))
		k, err := dst.Write(p)
		_, _ = l.br.Discard(k)
		moved += int64(k)
		if err != nil {
			return moved, err
		}
	}
	for moved < n {
		if err := ic.armRead(); err != nil {
			return moved, err
		}
		want := n - moved
		k, err := dst.SpliceFrom(src, want)
		moved += k
		switch {
		case err == nil && k < want:
			return moved, io.ErrUnexpectedEOF
		case err != nil && (k == 0 || !errors.Is(err, os.ErrDeadlineExceeded)):
			return moved, err
		}
	}
	return moved, nil
}
