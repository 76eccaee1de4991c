//go:build linux

package server

import (
	"net"
	"syscall"
	"unsafe"
)

// clientGone reports whether the client closed or reset c: its socket has
// left the established state. A client that only half-closed (shut down
// its sending side after the request) counts as gone, as in nginx: most
// clients that do so have given up.
func clientGone(c net.Conn) bool {
	c = socketOf(c)
	if cc, ok := c.(*clientConn); ok {
		c = cc.Conn
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true // closed already
	}
	var state uint8
	var serr syscall.Errno
	err = rc.Control(func(fd uintptr) {
		var info syscall.TCPInfo
		size := uint32(unsafe.Sizeof(info))
		_, _, serr = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
		state = info.State
	})
	if err != nil {
		return true
	}
	return serr == 0 && state != tcpEstablished
}

// tcpEstablished is TCP_ESTABLISHED in linux/include/net/tcp_states.h.
const tcpEstablished = 1
