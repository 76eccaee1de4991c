package server

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/pool"
)

// clientCheck is how often the clients of requests that are with a member
// are looked at, and how long a request is there before its client is.
const clientCheck = 250 * time.Millisecond

// watchShards spreads the registry's lock over this many lists.
const watchShards = 16

// clientWatches cancels member exchanges whose client has gone (threats.md
// RES-08): fasthttp gives a handler no signal when its client closes. A
// request registers while it is with a member (a lock and a list insert,
// no timer, no system call); one goroutine looks every clientCheck at the
// clients of requests registered for longer than that, and once a client
// has closed, reset or half-closed its connection it aborts that request's
// call, which closes the member connection: the member stops working for
// nobody, and its busy count falls at once.
type clientWatches struct {
	shards [watchShards]watchShard
	next   atomic.Uint32 // spreads exchanges over the shards
}

type watchShard struct {
	mu   sync.Mutex
	head *clientWatch
	_    [40]byte // one cache line each
}

// clientWatch is an exchange's entry, linked while it is registered.
// Exchanges are pooled process-wide, so the entry keeps a shard number, not
// a server's shard.
type clientWatch struct {
	shard      uint32 // 1 + shard number; 0 until first registered
	prev, next *clientWatch
	client     net.Conn
	call       *pool.Call
	since      time.Time
}

// start registers w until stop: client is the request's connection, call
// its hold on the member connection.
func (ws *clientWatches) start(w *clientWatch, client net.Conn, call *pool.Call, now time.Time) {
	if w.shard == 0 {
		w.shard = 1 + ws.next.Add(1)%watchShards
	}
	w.client, w.call, w.since = client, call, now
	sh := &ws.shards[w.shard-1]
	sh.mu.Lock()
	w.prev, w.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = w
	}
	sh.head = w
	sh.mu.Unlock()
}

// stop unregisters w; afterwards the watcher no longer touches its client.
func (ws *clientWatches) stop(w *clientWatch) {
	sh := &ws.shards[w.shard-1]
	sh.mu.Lock()
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		sh.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	sh.mu.Unlock()
	w.client, w.call = nil, nil
}

// run looks at the clients every clientCheck until ctx ends.
func (ws *clientWatches) run(ctx context.Context, now func() time.Time) {
	tick := time.NewTicker(clientCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			ws.sweep(now().Add(-clientCheck))
		}
	}
}

// sweep aborts the requests registered before since whose client has
// gone. A registered request has not returned, so its client connection is
// still open while the shard's lock is held.
func (ws *clientWatches) sweep(since time.Time) {
	for i := range ws.shards {
		sh := &ws.shards[i]
		sh.mu.Lock()
		for w := sh.head; w != nil; w = w.next {
			if w.since.Before(since) && clientGone(w.client) {
				w.call.Abort()
			}
		}
		sh.mu.Unlock()
	}
}

// clientOf is the clientConn of a client connection (the one fasthttp
// serves, ctx.Conn()), TLS or not, or nil. It knows the connections
// userAgentOf knows: where it finds one, mod_remoteip marks the requests
// whose client it found (tookFor).
func clientOf(c net.Conn) *clientConn {
	if cc, ok := c.(*clientConn); ok { // first: a type switch costs more
		return cc
	}
	if tc, ok := c.(*tlsConn); ok {
		cc, _ := tc.NetConn().(*clientConn)
		return cc
	}
	return nil
}

// socketOf finds the connection under TLS: sluice's clientConn, or the
// TCP connection where there is none (the admin listener).
func socketOf(c net.Conn) net.Conn {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok { // *tls.Conn
		return tc.NetConn()
	}
	return c
}
