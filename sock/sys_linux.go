//go:build linux && !race

package sock

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// sysRead, sysWrite and sysPeek make their system calls raw: on a
// non-blocking socket they never block, so the runtime need not know
// (package doc). p is not empty. Reads and writes are recvfrom(2) and
// sendto(2), which go to the socket straight, where read(2) and write(2)
// pass the file layer first (its position lock and range checks): some 2 %
// of the CPU of a small proxied request. MSG_NOSIGNAL: a write to a peer
// that has gone fails with EPIPE and raises no SIGPIPE.

func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// sysPeek looks at the socket's next byte without taking it or waiting.
func sysPeek(fd uintptr) (int, syscall.Errno) {
	var b [1]byte
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// sysSplice moves up to n bytes from in to out, one of them a pipe,
// without blocking on the pipe (SPLICE_F_NONBLOCK).
func sysSplice(in, out uintptr, n int) (int, syscall.Errno) {
	k, _, errno := syscall.RawSyscall6(syscall.SYS_SPLICE, in, 0, out, 0, uintptr(n), spliceNonblock)
	if errno != 0 {
		return 0, errno
	}
	return int(k), 0
}

// sysWritev writes a then b (neither empty) in one call.
func sysWritev(fd uintptr, a, b []byte) (int, syscall.Errno) {
	var iov [2]syscall.Iovec
	iov[0].Base, iov[1].Base = unsafe.SliceData(a), unsafe.SliceData(b)
	iov[0].SetLen(len(a))
	iov[1].SetLen(len(b))
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), 2)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// sysAccept4 accepts a connection as non-blocking and close-on-exec.
func sysAccept4(fd uintptr) (int, netip.AddrPort, uint32, syscall.Errno) {
	var rsa syscall.RawSockaddrAny
	size := uint32(unsafe.Sizeof(rsa))
	nfd, _, errno := syscall.RawSyscall6(syscall.SYS_ACCEPT4, fd, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, netip.AddrPort{}, 0, errno
	}
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		return int(nfd), netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port(sa.Port)), 0, 0
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		return int(nfd), netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port(sa.Port)), sa.Scope_id, 0
	}
	return int(nfd), netip.AddrPort{}, 0, 0
}

// port reads a socket address's port, which is in network byte order.
func port(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func sysClose(fd int) syscall.Errno {
	_, _, errno := syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
	return errno
}

func sysShutdown(fd uintptr, how int) syscall.Errno {
	_, _, errno := syscall.RawSyscall(syscall.SYS_SHUTDOWN, fd, uintptr(how), 0)
	return errno
}
