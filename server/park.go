package server

import (
	"errors"
	"io"
	"net"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/sock"
)

// parkedSweep bounds how late a parked connection's idle timeout closes
// it, as deadline.Lazy bounds other timeouts.
const parkedSweep = time.Second

// idleLot parks idle keep-alive client connections. fasthttp serves a
// connection in one goroutine for its whole life, and with
// StreamRequestBody (which sluice needs to stream uploads) it keeps the
// connection's reader of max_header_bytes between requests, beside its
// RequestCtx and the goroutine's grown stack: some 25 KiB per idle
// connection, where nginx keeps about 1 KiB. A parked connection has left
// fasthttp's loop, which returned all three to their pools, and waits in
// the kernel's readiness list (readyPoller) with no goroutine of its own;
// its next request's bytes hand it back to fasthttp (ServeConn) in a new
// goroutine. Only plain TCP connections park: crypto/tls keeps buffers of
// its own, and fasthttp's close of the connection would end the session.
//
// A connection idle for timeouts.client_park (100 ms by default) parks.
// A request that wakes a parked connection costs some 7,000 more
// instructions than one that finds it waiting in fasthttp (about a quarter
// as much again), so client_park trades CPU on requests that follow a pause
// for memory: a client that sends its requests closer together, a
// browser loading a page's parts mostly included, meets it once per
// connection (a new one parks after its first answer, see startConn),
// and the connections that idle for seconds, as most keep-alive
// connections do, hold about 2 KiB each instead of 25 (docs/benchmarks.md,
// "Idle connections").
//
// A connection joins the lot's waiting list at a wait for a next request
// that does not park at once; the lot sweeps it four times per
// client_park, and kicks those that have waited through client_park: a
// read deadline in the past ends fasthttp's wait, and unless the next
// request's bytes are there already the read returns errParked and the
// Close that follows parks the connection. A new connection, and one
// whose wait lasted that long, parks as its next wait begins instead
// (parksAtOnce). The request path itself only stores the sweep count as a
// wait starts and ends; the lot's goroutine ticks only while connections
// wait unparked or parked, or workers wait for them.
type idleLot struct {
	serve func(net.Conn) error // fasthttp.Server.ServeConn
	// tick is the time between sweeps; a wait that began at sweep count s
	// parks at count s+ticks, after client_park. expire is parkedSweep,
	// retireEvery idleWorkerTime (both shorter in tests).
	tick, after, expire, retireEvery time.Duration
	ticks                            uint64
	// sweeps counts the sweeps, from 1.
	sweeps atomic.Uint64
	parks  *metrics.Counter // sluice_client_parks_total
	poll   *readyPoller

	mu      sync.Mutex
	waiting connList // served by fasthttp, waited at least once
	parked  connList // in the order they parked
	byFD    fdTable
	closed  bool
	// asleep: no sweep is due (the last one found nothing to do).
	asleep atomic.Bool
	// serving counts parked connections handed back to fasthttp, which
	// Shutdown waits for: fasthttp does not count them until ServeConn
	// runs.
	serving sync.WaitGroup
	// woken hands a woken connection to a worker that waits (work), or
	// nil to retire it; idleWorkers counts those, maxIdle bounds them.
	// The lot's goroutine retires, every retireEvery, as many as never
	// left the wait since the last time (fewestIdle).
	woken       chan *clientConn
	idleWorkers atomic.Int32
	maxIdle     int32
	fewestIdle  int32
	retireAt    time.Time
	stopped     chan struct{} // run has returned
}

// lotEntry is a client connection's part in the lot.
type lotEntry struct {
	lot        *idleLot // nil: the connection does not park
	prev, next *clientConn
	// idleSince is the sweep count when fasthttp's wait for the next
	// request began; 0 while it serves one.
	idleSince atomic.Uint64
	// listed: in the waiting list; changed under the lot's lock, by the
	// goroutine that serves the connection.
	listed atomic.Bool
	// kicked: a sweep moved the read deadline to make the wait end.
	kicked atomic.Bool
	// parking: a read ended the wait with errParked, and the Close that
	// follows parks instead. Atomic, as listed: fasthttp's Shutdown may
	// close an idle connection from another goroutine.
	parking atomic.Bool
	// sparse: the connection is new (startConn), or its last wait lasted
	// client_park or longer, so the next one parks at once if the next
	// request has not come (parkedAt is when such a wait began, or zero
	// for a wait the lot found long). A wait cut short ends that.
	sparse bool
	// yield: readConn yields before its read, the wait's first
	// (clientConn.awaits, connLimits.yields).
	yield bool
	// parkedAt and until are Unix nanoseconds (0: none), not time.Time:
	// the record is allocated per connection, and its size class is what
	// a new connection costs in garbage. parkedAt only tells a short wait
	// from a long one, where a step of the wall clock errs harmlessly.
	parkedAt int64
	// sock is the socket, once the lot has looked at it; until is the
	// idle deadline fasthttp asked for, kept while parked.
	sock  *clientSock
	until int64
	// requests counts the connection's requests across parks, where
	// fasthttp's count restarts.
	requests uint64
}

// newIdleLot starts a lot that parks connections idle for after, serving
// woken ones with serve, or returns nil (no parking) where idle
// connections have no timeout (idle), are closed sooner, or the kernel
// offers no readiness list.
func newIdleLot(serve func(net.Conn) error, idle, after time.Duration, parks *metrics.Counter, log interface{ Warn(string, ...any) }) *idleLot {
	if idle <= 0 || after >= idle || after <= 0 {
		return nil
	}
	p, err := newReadyPoller()
	if err != nil {
		log.Warn("idle keep-alive connections will not park", "err", err)
	}
	if p == nil {
		return nil
	}
	l := &idleLot{serve: serve, expire: parkedSweep, retireEvery: idleWorkerTime, parks: parks, poll: p, woken: make(chan *clientConn), maxIdle: int32(idleWorkersPerP * goruntime.GOMAXPROCS(0)), stopped: make(chan struct{})}
	l.setTick(max(after/4, time.Millisecond), after)
	l.sweeps.Store(1)
	l.asleep.Store(true)
	go l.run()
	return l
}

// errParked ends fasthttp's wait for the next request on a connection
// that parks. fasthttp takes io.EOF before any byte as the client's close
// and answers nothing; any other error it would wrap in an ErrNothingRead,
// an allocation per park.
var errParked = io.EOF

// connState is fasthttp's ConnState hook. fasthttp calls it for these two
// states from the goroutine that serves the connection: the client's read
// timeout moves with them, and the lot learns of waits. A close ends a
// hijack fasthttp did not hand over (hijack).
func connState(nc net.Conn, st fasthttp.ConnState) {
	if st == fasthttp.StateClosed {
		// A connection that parked did not close: its StateClosed may come
		// late, once it woke and a later request of its own hijacks it.
		if c := clientOf(nc); c != nil && !c.closed.Load() {
			return
		}
		if g := pendingHijacks.take(nc); g != nil {
			g.skipped()
		}
		return
	}
	c := clientOf(nc)
	if c == nil {
		return
	}
	switch st {
	case fasthttp.StateIdle:
		c.awaits()
		if c.lot != nil {
			c.lot.waits(c)
		}
	case fasthttp.StateActive:
		c.begins()
		if c.lot != nil {
			c.idleSince.Store(0)
			c.requests++
		}
	}
}

// waits notes that fasthttp now waits for c's next request. A sparse
// connection need not join the waiting list: its first read parks it.
func (l *idleLot) waits(c *clientConn) {
	c.idleSince.Store(l.sweeps.Load())
	if c.listed.Load() || c.sparse {
		return
	}
	l.mu.Lock()
	if !l.closed {
		if l.waiting.head == nil {
			l.sweepBy(time.Now().Add(l.tick)) // the lot may be asleep
		}
		l.waiting.push(c)
		c.listed.Store(true)
	}
	l.mu.Unlock()
}

// kickedWhileIdle reports, after a read failed on its deadline, whether
// the lot ended the wait for a next request to park c. A kick that finds
// a request begun, or its bytes waiting (the proxy is behind), is spent.
func (c *clientConn) kickedWhileIdle() bool {
	if !c.kicked.Load() {
		return false
	}
	c.kicked.Store(false)
	if c.idleSince.Load() == 0 {
		return false
	}
	if k, err := sockOf(c); err == nil {
		if sent, closed := k.Look(); sent || closed {
			return false
		}
	}
	c.parking.Store(true)
	return true
}

// parksAtOnce reports, for a sparse connection's first read of a wait for
// the next request, whether c parks now: nothing waits to be read. A read
// that finds the next request ends the sparse run; it reads what came,
// (n, err), in place of the read the caller would make.
func (c *clientConn) parksAtOnce(p []byte) (parks bool, n int, err error) {
	if c.idleSince.Load() == 0 {
		return false, 0, nil
	}
	if k, kerr := sockOf(c); kerr == nil {
		if n, err = k.ReadNow(p); !errors.Is(err, sock.ErrNothing) {
			c.sparse = false
			return false, n, err
		}
	}
	c.parking.Store(true)
	c.parkedAt = time.Now().UnixNano()
	return true, 0, nil
}

// park takes over c, which fasthttp has let go of (Close after
// errParked).
func (l *idleLot) park(c *clientConn) {
	l.mu.Lock()
	if c.listed.Load() {
		l.waiting.remove(c)
		c.listed.Store(false)
	}
	if l.closed {
		l.mu.Unlock()
		_ = c.Close()
		return
	}
	if !c.sparse {
		c.sparse, c.parkedAt = true, 0 // the lot found the wait long
	}
	c.until = c.rd.WantNano()
	// Whatever is armed is forgotten: wake arms the next deadline before
	// the connection goes back to fasthttp.
	c.rd.Armed(time.Time{})
	c.idleSince.Store(0)
	c.kicked.Store(false)
	if err := l.poll.add(c); err != nil {
		l.mu.Unlock()
		_ = c.Close()
		return
	}
	if l.parked.head == nil && l.waiting.head == nil {
		// The lot may sleep with nothing due: a connection that parks at
		// once (parksAtOnce) was never in the waiting list that ticks it.
		l.sweepBy(l.expiresBy(c.until, time.Now()))
	}
	l.parked.push(c)
	l.byFD.put(c.sock.fd, c)
	l.parks.Inc() // with the lock: the count never lags the parked gauge
	l.mu.Unlock()
}

// expiresBy is when to sweep for a parked connection idle until until
// (Unix nanoseconds): at most expire late, and not more often than every
// tick.
func (l *idleLot) expiresBy(until int64, now time.Time) time.Time {
	return now.Add(min(max(time.Duration(until-now.UnixNano()), l.tick), l.expire))
}

// run wakes parked connections whose next request has come and sweeps
// once a tick, until close.
func (l *idleLot) run() {
	defer close(l.stopped)
	for {
		ready, due, err := l.poll.wait()
		if err != nil {
			return // closed
		}
		now := time.Now()
		for _, r := range ready {
			l.wake(r, now)
		}
		if due {
			l.sweep(now)
		}
	}
}

// readyFD is a parked connection's socket that became readable; hup: the
// client closed it or it failed.
type readyFD struct {
	fd  int
	hup bool
}

// setTick sweeps every tick, parking connections idle for after: a wait
// that began just before a sweep is counted from that sweep.
func (l *idleLot) setTick(tick, after time.Duration) {
	l.tick, l.after, l.ticks = tick, after, uint64((after+tick-1)/tick)+1
}

// wake hands the parked connection on r back to fasthttp, or closes it
// when the client closed it with no request before the close.
func (l *idleLot) wake(r readyFD, now time.Time) {
	l.mu.Lock()
	c := l.byFD.get(r.fd)
	if c == nil {
		l.mu.Unlock()
		return
	}
	l.byFD.put(r.fd, nil)
	l.parked.remove(c)
	if c.parkedAt != 0 && time.Duration(now.UnixNano()-c.parkedAt) < l.after {
		c.sparse = false // parked at once, but the request soon followed
	}
	if r.hup {
		if sent, _ := c.sock.Look(); !sent {
			l.mu.Unlock()
			_ = c.Close()
			return
		}
	}
	// The request that woke c came now: client_header runs from its
	// head's first wait (begins), and till then from here.
	c.idleAt = now.UnixNano()
	c.readBy(c.idleAt, c.limits.header)
	l.serving.Add(1)
	l.mu.Unlock()
	select {
	case l.woken <- c: // a worker waits
		if n := l.idleWorkers.Add(-1); n < l.fewestIdle {
			l.fewestIdle = n
		}
	default:
		go l.work(c)
	}
}

// idleWorkersPerP bounds the goroutines that wait to serve woken
// connections, each with a grown stack (about 8 KiB), per GOMAXPROCS.
const idleWorkersPerP = 8

// work serves c, then the connections that wakes hand it while it waits,
// as fasthttp's worker pool does for new connections: a goroutine that
// has served a request already has its stack, where a new one for every
// wake cost a closure, a stack and its growth (some 4,500 instructions,
// over a third of a wake). At most maxIdle wait; the lot retires those
// that wait long (retire), and close ends them. The lot counts a worker
// out of idleWorkers as it hands it a connection.
func (l *idleLot) work(c *clientConn) {
	growStack()
	for {
		_ = l.serve(c) // fasthttp's Serve logs nothing of it either
		l.serving.Done()
		if l.idleWorkers.Add(1) > l.maxIdle {
			l.idleWorkers.Add(-1)
			return
		}
		if l.asleep.Load() {
			l.wakeToRetire()
		}
		var ok bool
		if c, ok = <-l.woken; !ok {
			l.idleWorkers.Add(-1)
			return
		}
		if c == nil {
			return // retired
		}
	}
}

// wakeToRetire makes a lot that sleeps with nothing due sweep in time to
// retire a worker that begins to wait.
func (l *idleLot) wakeToRetire() {
	l.mu.Lock()
	if l.asleep.Load() && !l.closed {
		l.sweepBy(time.Now().Add(l.retireEvery))
	}
	l.mu.Unlock()
}

// growStack grows a new goroutine's stack at once to what serving a
// request takes (some 5 KiB, docs/benchmarks.md "Memory"). Grown on
// demand deep in the request path instead, the stack would be copied
// twice with every frame below adjusted (Go's copystack), which cost more
// than the request itself: 8,654 instructions in pcvalue alone.
//
//go:noinline
func growStack() {
	var frame [5 << 10]byte
	touch(frame[:])
}

//go:noinline
func touch(b []byte) { b[0] = 1 }

// sweep kicks the connections that waited through client_park, closes
// parked ones whose idle time is up, and sets when to sweep next: in a
// tick while connections wait unparked, else when the first parked one's
// idle time is up.
func (l *idleLot) sweep(now time.Time) {
	n := l.sweeps.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := l.waiting.head; c != nil; c = c.next {
		if s := c.idleSince.Load(); s != 0 && n-s >= l.ticks && !c.kicked.Load() {
			c.kicked.Store(true)
			_ = c.Conn.SetReadDeadline(longAgo)
		}
	}
	// Deadlines come in about the order of parking, within a tick or two.
	for c, at := l.parked.head, now.UnixNano(); c != nil && c.until <= at; c = l.parked.head {
		l.parked.remove(c)
		l.byFD.put(c.sock.fd, nil)
		_ = c.Close()
	}
	l.retire(now)
	var next time.Time
	switch {
	case l.waiting.head != nil:
		next = now.Add(l.tick)
	case l.parked.head != nil:
		next = l.expiresBy(l.parked.head.until, now)
	case l.idleWorkers.Load() > 0:
		next = l.retireAt
	}
	l.sweepBy(next)
}

// sweepBy makes the lot sweep at t (the zero time: not until someone
// calls again); l.mu is held.
func (l *idleLot) sweepBy(t time.Time) {
	l.asleep.Store(t.IsZero())
	l.poll.wakeBy(t)
}

// idleWorkerTime is how long a worker may wait for a woken connection
// before it is retired (at most twice that): fasthttp's worker pool
// keeps its idle workers as long.
const idleWorkerTime = 10 * time.Second

// retire ends, every retireEvery, the workers that have waited since the
// last time: as many as the fewest that waited at once meanwhile.
func (l *idleLot) retire(now time.Time) {
	if now.Before(l.retireAt) {
		return
	}
	for n := l.fewestIdle; n > 0; n-- {
		select {
		case l.woken <- nil:
			l.idleWorkers.Add(-1)
		default:
			n = 1 // none waits after all
		}
	}
	l.fewestIdle = l.idleWorkers.Load()
	l.retireAt = now.Add(l.retireEvery)
}

// longAgo is a read deadline that has passed.
var longAgo = time.Unix(1, 0)

// close ends parking: parked connections close, and so do those that
// would park from now on.
func (l *idleLot) close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.closed = true
	for c := l.parked.head; c != nil; c = l.parked.head {
		l.parked.remove(c)
		l.byFD.put(c.sock.fd, nil)
		_ = c.Close()
	}
	l.mu.Unlock()
	l.poll.close()
	<-l.stopped
	close(l.woken) // run wakes no more: the idle workers end
}

// drain waits, until done, for the connections handed back to fasthttp
// as parking closed; once they idle they close.
func (l *idleLot) drain(done <-chan struct{}) {
	if l == nil {
		return
	}
	served := make(chan struct{})
	go func() { l.serving.Wait(); close(served) }()
	select {
	case <-served:
	case <-done:
	}
}

// parkedCount is how many connections are parked now.
func (l *idleLot) parkedCount() float64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.byFD.n)
}

// leave takes a closing connection out of the waiting list.
func (l *idleLot) leave(c *clientConn) {
	l.mu.Lock()
	if c.listed.Load() {
		l.waiting.remove(c)
		c.listed.Store(false)
	}
	l.mu.Unlock()
}

// clientSock is a parkable connection's socket: looked at and read
// without waiting (the connection's sock.Socket), and registered with the
// lot's poller by its descriptor.
type clientSock struct {
	*sock.Socket
	fd     int
	polled bool // registered with the lot's poller
}

// sockOf makes c's clientSock, once.
func sockOf(c *clientConn) (*clientSock, error) {
	if c.sock != nil {
		return c.sock, nil
	}
	k := &clientSock{Socket: &c.socket, fd: -1}
	rc := k.Raw()
	if rc == nil {
		return nil, errNotPollable
	}
	if err := rc.Control(func(fd uintptr) { k.fd = int(fd) }); err != nil {
		return nil, err
	}
	c.sock = k
	return k, nil
}

var errNotPollable = errors.New("server: connection has no socket to poll")

// fdTable finds parked connections by their socket's descriptor: the
// kernel hands out the lowest free descriptor, so a slice indexed by it
// stays about as long as the most descriptors open at once, and costs no
// hashing per park and wake.
type fdTable struct {
	byFD []*clientConn
	n    int // entries set
}

func (t *fdTable) get(fd int) *clientConn {
	if fd < 0 || fd >= len(t.byFD) {
		return nil
	}
	return t.byFD[fd]
}

// put sets fd's entry to c, or clears it for nil.
func (t *fdTable) put(fd int, c *clientConn) {
	if fd >= len(t.byFD) {
		if c == nil {
			return
		}
		t.byFD = append(t.byFD, make([]*clientConn, fd+1-len(t.byFD))...)
	}
	switch old := t.byFD[fd]; {
	case old == nil && c != nil:
		t.n++
	case old != nil && c == nil:
		t.n--
	}
	t.byFD[fd] = c
}

// connList is a list of client connections linked through their
// lotEntry: joining and leaving allocate nothing.
type connList struct{ head, tail *clientConn }

func (l *connList) push(c *clientConn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
}

func (l *connList) remove(c *clientConn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

// connRequests is how many requests ctx's connection has carried, ctx's
// included.
func connRequests(ctx *fasthttp.RequestCtx) uint64 {
	if c, ok := ctx.Conn().(*clientConn); ok && c.lot != nil {
		return c.requests
	}
	return ctx.ConnRequestNum()
}
