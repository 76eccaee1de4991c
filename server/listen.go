package server

import (
	"context"
	"net"
	"time"

	"github.com/sluiceproxy/sluice/sock"
)

// keepAlive is the TCP keep-alive of client connections, Go's default:
// probes after 15 s idle, every 15 s, nine of them. It finds clients that
// vanished from an idle tunnel, which has no timeout of its own.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}

// deferAcceptSeconds is how long the kernel holds a connection that has sent
// nothing before handing it over anyway: Apache's 30 s.
const deferAcceptSeconds = 30

// Listen opens a client listener on addr. Where the system lets accepted
// connections inherit the listening socket's keep-alive options (Linux),
// they are set once there, instead of with four system calls on every
// connection as Go's Accept does: a new connection per request is where a
// proxy's cost per request is highest.
//
// waitForData is Apache's AcceptFilter data (its default on Linux,
// TCP_DEFER_ACCEPT): a connection is handed over once its first bytes have
// arrived, so the first read finds the request instead of parking the
// goroutine for it, and a connection that never sends holds no goroutine
// and counts against no limit. Systems without the option accept at once.
//
// On Linux connections are accepted by sock.Listener, which leaves them out
// of Go's poller until they have to wait.
func Listen(addr string, waitForData bool) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	if control := listenControl(waitForData); control != nil {
		lc = net.ListenConfig{KeepAlive: -1, Control: control}
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return sock.NewListener(ln), nil
}
