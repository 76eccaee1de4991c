//go:build linux && race

package sock

import (
	"net/netip"
	"syscall"
)

// Under the race detector the system calls go through package syscall as
// a net.Conn's do: its reads and writes tell the detector that what a
// goroutine did before writing to any descriptor happens before what one
// does after reading from any, which raw calls would not, and tests that
// meet over sockets would report races that are not there. Everything
// around the calls is the same in both builds.

func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func sysPeek(fd uintptr) (int, syscall.Errno) {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return max(n, 0), errnoOf(err)
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errno, ok := err.(syscall.Errno); ok {
		return errno
	}
	return syscall.EIO
}

func sysSplice(in, out uintptr, n int) (int, syscall.Errno) {
	k, err := syscall.Splice(int(in), nil, int(out), nil, n, spliceNonblock)
	return int(max(k, 0)), errnoOf(err)
}

// sysWritev: package syscall has no writev; two writes carry the same
// bytes, and the caller goes on from however far they got.
func sysWritev(fd uintptr, a, b []byte) (int, syscall.Errno) {
	n, errno := sysWrite(fd, a)
	if errno != 0 || n < len(a) {
		return n, errno
	}
	k, errno := sysWrite(fd, b)
	if errno == syscall.EAGAIN {
		return n, 0 // a went out: the caller waits for room for the rest
	}
	return n + k, errno
}

func sysAccept4(fd uintptr) (int, netip.AddrPort, uint32, syscall.Errno) {
	nfd, sa, err := syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	if err != nil {
		return -1, netip.AddrPort{}, 0, errnoOf(err)
	}
	ap, zone, _ := addrPort(sa)
	return nfd, ap, zone, 0
}

func sysClose(fd int) syscall.Errno { return errnoOf(syscall.Close(fd)) }

func sysShutdown(fd uintptr, how int) syscall.Errno { return errnoOf(syscall.Shutdown(int(fd), how)) }
