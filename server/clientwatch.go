package server

import (
	"net"
	"sync"
	"time"

	"github.com/sluiceproxy/sluice/pool"
)

// clientCheck is how often the client of a request awaiting its member's
// answer is looked at; a request answered sooner costs one timer start and
// stop, no system call.
const clientCheck = 250 * time.Millisecond

// clientWatch cancels a member exchange whose client has gone (threats.md
// RES-08): fasthttp gives a handler no signal when its client closes, so
// while a request is with a member, a timer looks at the client's socket
// every clientCheck and, once the client has closed or reset it, aborts
// the call, which closes the member connection. The member then stops
// working for nobody, and its busy count falls at once.
//
// A clientWatch belongs to a pooled exchange: it serves one request at a
// time, but its timer may fire late, after the request it was started for;
// it then looks at the current one, or at nothing.
type clientWatch struct {
	mu     sync.Mutex
	client net.Conn // nil when not watching
	call   *pool.Call
	timer  *time.Timer
}

// start watches client for call until stop.
func (w *clientWatch) start(client net.Conn, call *pool.Call) {
	w.mu.Lock()
	w.client, w.call = client, call
	w.mu.Unlock()
	if w.timer == nil {
		w.timer = time.AfterFunc(clientCheck, w.check)
		return
	}
	w.timer.Reset(clientCheck)
}

func (w *clientWatch) stop() {
	w.mu.Lock()
	w.client, w.call = nil, nil
	w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}

// check runs on the timer's goroutine. The lock keeps the client
// connection open (its request cannot end meanwhile) while it is looked at.
func (w *clientWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.client == nil {
		return
	}
	if clientGone(w.client) {
		w.call.Abort()
		return
	}
	w.timer.Reset(clientCheck)
}

// socketOf finds the connection under TLS: sluice's clientConn, or the
// TCP connection where there is none (the admin listener).
func socketOf(c net.Conn) net.Conn {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok { // *tls.Conn
		return tc.NetConn()
	}
	return c
}
