package server

import (
	"syscall"
)

// inheritKeepAlive sets keepAlive on a listening socket; Linux copies it to
// every connection accepted from it.
var inheritKeepAlive = func(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, o := range [...]struct{ level, opt, v int }{
			{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(keepAlive.Idle.Seconds())},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(keepAlive.Interval.Seconds())},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAlive.Count},
		} {
			if serr = syscall.SetsockoptInt(int(fd), o.level, o.opt, o.v); serr != nil {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}
