//go:build linux

package server

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"
)

// readyPoller is an epoll instance of the lot's own: parked connections
// wait in it with no goroutine each. It is itself waited on through Go's
// poller (an epoll descriptor is readable while it holds ready events), so
// the lot's goroutine parks like any other. Each connection is registered
// one-shot: once it is ready it stays out until it parks again.
type readyPoller struct {
	ep     int
	f      *os.File
	events [128]syscall.EpollEvent
	n      int
	ready  [128]readyFD
	rc     syscall.RawConn
	waitFn func(fd uintptr) bool
}

func newReadyPoller() (*readyPoller, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(ep, true); err != nil {
		_ = syscall.Close(ep)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	p := &readyPoller{ep: ep, f: os.NewFile(uintptr(ep), "idle-lot")}
	rc, err := p.f.SyscallConn()
	if err != nil {
		_ = p.f.Close()
		return nil, err
	}
	p.rc = rc
	p.waitFn = func(fd uintptr) bool {
		n, err := syscall.EpollWait(int(fd), p.events[:], 0)
		if err != nil || n <= 0 {
			p.n = 0
			return err != nil && err != syscall.EINTR
		}
		p.n = n
		return true
	}
	return p, nil
}

// add registers a parked connection, or registers it again.
func (p *readyPoller) add(c *clientConn) error {
	k, err := sockOf(c)
	if err != nil {
		return err
	}
	op := syscall.EPOLL_CTL_MOD
	if !k.polled {
		op = syscall.EPOLL_CTL_ADD
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(k.fd)}
	if err := syscall.EpollCtl(p.ep, op, k.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	k.polled = true
	return nil
}

// clientSock is a parkable connection's socket, read and peeked without
// Go's poller (readNow, peek) through RawConn.Control, which keeps the
// descriptor from closing meanwhile. Its functions are made once: a
// closure per call would allocate.
type clientSock struct {
	rc     syscall.RawConn
	fd     int
	polled bool // registered with the lot's poller
	buf    []byte
	n      int
	err    error
	readFn func(fd uintptr)
	peekFn func(fd uintptr)
}

// sockOf makes c's clientSock, once.
func sockOf(c *clientConn) (*clientSock, error) {
	if c.sock != nil {
		return c.sock, nil
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errNotPollable
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	k := &clientSock{rc: rc, fd: -1}
	if err := rc.Control(func(fd uintptr) { k.fd = int(fd) }); err != nil {
		return nil, err
	}
	k.readFn = func(fd uintptr) {
		for {
			k.n, k.err = syscall.Read(int(fd), k.buf)
			if k.err != syscall.EINTR {
				return
			}
		}
	}
	k.peekFn = func(fd uintptr) {
		var b [1]byte
		k.n, _, k.err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}
	c.sock = k
	return k, nil
}

// fdOf is c's descriptor once it has parked.
func fdOf(c *clientConn) int { return c.sock.fd }

var errNotPollable = errors.New("server: connection has no socket to poll")

// wait returns the descriptors that became ready, or due once the time
// wakeBy set has come; an error once the poller is closed. The slice is
// valid until the next call.
func (p *readyPoller) wait() (ready []readyFD, due bool, err error) {
	p.n = 0
	if err := p.rc.Read(p.waitFn); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, true, nil
		}
		return nil, false, err
	}
	ready = p.ready[:0]
	for _, ev := range p.events[:p.n] {
		ready = append(ready, readyFD{fd: int(ev.Fd), hup: ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0})
	}
	return ready, false, nil
}

// wakeBy makes wait return due at t (the zero time: never).
func (p *readyPoller) wakeBy(t time.Time) { _ = p.f.SetReadDeadline(t) }

// readNow reads what waits on c into b without waiting; blocked: nothing
// does. It goes by the socket, past the connection's read deadline.
func (p *readyPoller) readNow(c *clientConn, b []byte) (n int, err error, blocked bool) {
	k, err := sockOf(c)
	if err != nil {
		return 0, nil, true
	}
	k.buf = b
	err = k.rc.Control(k.readFn)
	k.buf = nil
	switch {
	case err != nil:
		return 0, err, false
	case k.err == syscall.EAGAIN:
		return 0, nil, true
	case k.err != nil:
		return 0, os.NewSyscallError("read", k.err), false
	case k.n == 0:
		return 0, io.EOF, false
	}
	return k.n, nil, false
}

// peek reports whether bytes wait to be read on c, and whether the client
// closed its side (with or without bytes before the close, or an error).
func (p *readyPoller) peek(c *clientConn) (data, closed bool) {
	k, err := sockOf(c)
	if err != nil {
		return false, false
	}
	if k.rc.Control(k.peekFn) != nil {
		return false, true
	}
	return k.n > 0, k.n == 0 && k.err == nil || k.err != nil && k.err != syscall.EAGAIN && k.err != syscall.EINTR
}

func (p *readyPoller) close() { _ = p.f.Close() }
