package server

import (
	"syscall"
)

// listenControl sets keepAlive on a listening socket, which Linux copies to
// every connection accepted from it, and with waitForData TCP_DEFER_ACCEPT.
func listenControl(waitForData bool) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		type option struct{ level, opt, v int }
		opts := []option{
			{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(keepAlive.Idle.Seconds())},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(keepAlive.Interval.Seconds())},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAlive.Count},
		}
		if waitForData {
			opts = append(opts, option{syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, deferAcceptSeconds})
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			for _, o := range opts {
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
}
