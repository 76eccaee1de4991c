package server

import (
	"context"
	"net"
	"time"
)

// keepAlive is the TCP keep-alive of client connections, Go's default:
// probes after 15 s idle, every 15 s, nine of them. It finds clients that
// vanished from an idle tunnel, which has no timeout of its own.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}

// Listen opens a client listener on addr. Where the system lets accepted
// connections inherit the listening socket's keep-alive options (Linux),
// they are set once there, instead of with four system calls on every
// connection as Go's Accept does: a new connection per request is where a
// proxy's cost per request is highest.
func Listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	if inheritKeepAlive != nil {
		lc = net.ListenConfig{KeepAlive: -1, Control: inheritKeepAlive}
	}
	return lc.Listen(context.Background(), "tcp", addr)
}
