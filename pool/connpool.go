package pool

// A member's pool of keep-alive connections: what fasthttp's HostClient
// did for sluice (a bound on open connections, a wait for a free one, idle
// connections taken last in first out and closed after ttl), with each
// connection keeping its response reader while it lives. The HostClient
// took a reader from a sync.Pool for every answer and gave it back, read
// the clock at every release, and set up a deferred call in every acquire:
// about 550 instructions per proxied request more than this pool.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// ErrNoFreeConns is returned when a member's connections are all in use
// (max=) and none became free within the wait (acquire=).
var ErrNoFreeConns = errors.New("pool: no free connections to the member")

// ttlTicks is how many sweeps one ttl is divided into: a connection is not
// handed out once it may have been idle for ttl, and is closed once it has
// been idle for at least (ttlTicks-1)/ttlTicks of ttl. The sweeps count
// idle time, so that a release need not read the clock.
const ttlTicks = 8

// connPool is one member's connections. It is safe for concurrent use.
type connPool struct {
	dial     func() (net.Conn, error)
	max      int           // connections open or being dialled, at most
	wait     time.Duration // for a free connection when max are open; 0: none
	tick     time.Duration // ttl / ttlTicks
	readSize int           // a response reader's buffer (the largest head)
	readers  sync.Pool     // *bufio.Reader of readSize, of closed connections

	mu        sync.Mutex
	idle      []*pooledConn // the most recently released last
	open      int
	waiters   []*connWaiter // first come, first served
	epoch     uint64        // sweeps so far
	sweeper   *time.Timer   // sweeps while idle connections are held
	scheduled bool          // sweeper is set to run
}

// pooledConn is a member connection as the pool holds it.
type pooledConn struct {
	conn  net.Conn
	br    *bufio.Reader // the connection's response reader, once asked for
	used  bool          // it carried a request before the current one
	epoch uint64        // the pool's epoch when it was last released
	lease lease         // an HTTP answer's body being read from it
}

// connWaiter is an acquire waiting for a connection to be released, or
// closed (which frees a slot to dial one).
type connWaiter struct {
	ready chan struct{}
	pc    *pooledConn // nil: the slot of a closed connection
}

func newConnPool(o BackendOptions, dial func() (net.Conn, error)) *connPool {
	// A millisecond at least: a ttl of a few nanoseconds must not make the
	// sweeps spin.
	tick := max(o.IdleConn/ttlTicks, time.Millisecond)
	return &connPool{dial: dial, max: o.MaxConns, wait: o.Acquire, tick: tick, readSize: o.HeaderBytes}
}

// acquire returns an idle connection, the most recently released, or a
// new one; with max connections open, it waits for one to be freed.
func (p *connPool) acquire() (*pooledConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		pc := p.idle[n-1]
		if p.epoch-pc.epoch < ttlTicks {
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return pc, nil
		}
		// The most recent one is past its ttl: every other one is too.
		p.mu.Unlock()
		p.closeIdle()
		p.mu.Lock()
	}
	if p.open < p.max {
		p.open++
		p.mu.Unlock()
		return p.dialConn()
	}
	if p.wait <= 0 {
		p.mu.Unlock()
		return nil, ErrNoFreeConns
	}
	w := &connWaiter{ready: make(chan struct{}, 1)}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	t := time.NewTimer(p.wait)
	defer t.Stop()
	select {
	case <-w.ready:
	case <-t.C:
		p.mu.Lock()
		queued := p.dequeue(w)
		p.mu.Unlock()
		if queued {
			return nil, ErrNoFreeConns
		}
		<-w.ready // served as the wait ran out
	}
	if w.pc != nil {
		return w.pc, nil
	}
	return p.dialConn()
}

// acquireNew is acquire for a connection never used: pooled ones met on
// the way are closed, since the member just failed to answer a ping on
// one of them.
func (p *connPool) acquireNew() (*pooledConn, error) {
	for n := 0; ; n++ {
		pc, err := p.acquire()
		if err != nil || !pc.used || n >= p.max {
			return pc, err
		}
		p.discard(pc)
	}
}

// dialConn opens a connection in a slot already counted in open.
func (p *connPool) dialConn() (*pooledConn, error) {
	conn, err := p.dial()
	if err != nil {
		p.freeSlot()
		return nil, err
	}
	return &pooledConn{conn: conn}, nil
}

// dequeue removes w from the waiters; false when it was served already.
func (p *connPool) dequeue(w *connWaiter) bool {
	for i, q := range p.waiters {
		if q == w {
			p.waiters = slices.Delete(p.waiters, i, i+1)
			return true
		}
	}
	return false
}

// serve hands pc (nil: a slot to dial in) to the first waiter, if any.
// p.mu is held.
func (p *connPool) serve(pc *pooledConn) bool {
	if len(p.waiters) == 0 {
		return false
	}
	w := p.waiters[0]
	p.waiters = slices.Delete(p.waiters, 0, 1)
	w.pc = pc
	w.ready <- struct{}{}
	return true
}

// release gives pc back for the next request: to a waiter, else to the
// idle ones.
func (p *connPool) release(pc *pooledConn) {
	pc.used = true
	p.mu.Lock()
	if p.serve(pc) {
		p.mu.Unlock()
		return
	}
	pc.epoch = p.epoch
	p.idle = append(p.idle, pc)
	if !p.scheduled {
		p.scheduled = true
		if p.sweeper == nil {
			p.sweeper = time.AfterFunc(p.tick, p.sweep)
		} else {
			p.sweeper.Reset(p.tick)
		}
	}
	p.mu.Unlock()
}

// done pools pc when keep is set, else closes it.
func (p *connPool) done(pc *pooledConn, keep bool) {
	if keep {
		p.release(pc)
	} else {
		p.discard(pc)
	}
}

// discard closes pc and frees its slot.
func (p *connPool) discard(pc *pooledConn) {
	p.closeConn(pc)
	p.freeSlot()
}

// closeConn closes pc, whose slot the caller frees, and keeps its reader
// for another connection's.
func (p *connPool) closeConn(pc *pooledConn) {
	_ = pc.conn.Close()
	if pc.br != nil {
		pc.br.Reset(nil)
		p.readers.Put(pc.br)
		pc.br = nil
	}
}

// freeSlot gives a slot of max to a waiter, which dials, else frees it.
func (p *connPool) freeSlot() {
	p.mu.Lock()
	if !p.serve(nil) {
		p.open--
	}
	p.mu.Unlock()
}

// closeIdle closes the idle connections (the member closed one: it most
// likely closed or lost them all; a reload retires the pool).
func (p *connPool) closeIdle() {
	p.mu.Lock()
	gone := p.idle
	p.idle = nil
	p.open -= len(gone)
	p.mu.Unlock()
	for _, pc := range gone {
		p.closeConn(pc)
	}
}

// sweep counts a tick of idle time and closes the connections idle for
// ttlTicks of them, the oldest first in idle.
func (p *connPool) sweep() {
	p.mu.Lock()
	p.epoch++
	n := 0
	for n < len(p.idle) && p.epoch-p.idle[n].epoch >= ttlTicks {
		n++
	}
	var gone []*pooledConn
	if n > 0 {
		gone = append(gone, p.idle[:n]...)
		k := copy(p.idle, p.idle[n:])
		clear(p.idle[k:])
		p.idle = p.idle[:k]
		p.open -= n
	}
	p.scheduled = len(p.idle) > 0
	if p.scheduled {
		p.sweeper.Reset(p.tick)
	}
	p.mu.Unlock()
	for _, pc := range gone {
		p.closeConn(pc)
	}
}

// reader is pc's response reader, over pc.conn.
func (p *connPool) reader(pc *pooledConn) *bufio.Reader {
	if pc.br == nil {
		pc.br = p.newReader(pc.conn)
	}
	return pc.br
}

// readerOver is pc's response reader over r, a wrapper of pc.conn that a
// FastCGI or AJP lease owns. A pooled connection's reader holds nothing
// (endsClean): nothing is lost when it changes what it reads.
func (p *connPool) readerOver(pc *pooledConn, r io.Reader) *bufio.Reader {
	if pc.br == nil {
		pc.br = p.newReader(r)
	} else {
		pc.br.Reset(r)
	}
	return pc.br
}

func (p *connPool) newReader(r io.Reader) *bufio.Reader {
	if br, _ := p.readers.Get().(*bufio.Reader); br != nil {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, p.readSize)
}

// writers are the request writers of requests not written whole.
var writers sync.Pool

// writeBufferSize is a request writer's buffer: a head, and a body when
// it fits beside it (fasthttp's default).
const writeBufferSize = 4096

func acquireWriter(w io.Writer) *bufio.Writer {
	if bw, _ := writers.Get().(*bufio.Writer); bw != nil {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, writeBufferSize)
}

func releaseWriter(bw *bufio.Writer) {
	if bw != nil {
		bw.Reset(nil)
		writers.Put(bw)
	}
}
