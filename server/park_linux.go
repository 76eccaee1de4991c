//go:build linux

package server

import (
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"
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
		n, err := epollPoll(int(fd), p.events[:])
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
	if err := epollCtl(p.ep, op, k.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	k.polled = true
	return nil
}

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

func (p *readyPoller) close() { _ = p.f.Close() }

// epollCtl and epollPoll (epoll_pwait without waiting) never block, so
// they are made raw: through package syscall they would wake the runtime's
// monitor thread after every idle moment (package sock's doc), once per
// park and once per wake-up of parked connections.
func epollCtl(ep, op, fd int, ev *syscall.EpollEvent) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func epollPoll(ep int, events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
