package pool

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// closeCounted is a connection that only records its close.
type closeCounted struct {
	net.Conn
	closed atomic.Bool
}

func (c *closeCounted) Close() error {
	c.closed.Store(true)
	return nil
}

// testPool is a connPool over closeCounted connections; dials counts them
// and fail, when set, makes the next dial fail.
type testPool struct {
	*connPool
	dials atomic.Int32
	fail  atomic.Bool
}

func newTestPool(max int, wait, ttl time.Duration) *testPool {
	tp := &testPool{}
	tp.connPool = newConnPool(BackendOptions{MaxConns: max, Acquire: wait, IdleConn: ttl, HeaderBytes: 1024},
		func() (net.Conn, error) {
			if tp.fail.Swap(false) {
				return nil, errors.New("refused")
			}
			tp.dials.Add(1)
			return &closeCounted{}, nil
		})
	return tp
}

func (tp *testPool) mustAcquire(t *testing.T) *pooledConn {
	t.Helper()
	pc, err := tp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func TestConnPoolReuse(t *testing.T) {
	tp := newTestPool(4, 0, time.Minute)
	a, b := tp.mustAcquire(t), tp.mustAcquire(t)
	if a == b || a.used || b.used || tp.dials.Load() != 2 {
		t.Fatalf("two fresh connections wanted: %p %p used %v %v, %d dials", a, b, a.used, b.used, tp.dials.Load())
	}
	tp.release(a)
	tp.release(b)
	// Last in, first out: the connection released last is the warmest.
	if got := tp.mustAcquire(t); got != b || !got.used {
		t.Fatalf("acquire after releasing a then b: %p (used %v), want b %p", got, got.used, b)
	}
	if got := tp.mustAcquire(t); got != a {
		t.Fatalf("next acquire: %p, want a %p", got, a)
	}
	if tp.dials.Load() != 2 {
		t.Fatalf("%d dials, want 2", tp.dials.Load())
	}
	tp.discard(a)
	if !a.conn.(*closeCounted).closed.Load() {
		t.Fatal("discard did not close the connection")
	}
	if got := tp.mustAcquire(t); got == a || got.used || tp.dials.Load() != 3 {
		t.Fatalf("after a discard: %p used %v, %d dials; want a third fresh connection", got, got.used, tp.dials.Load())
	}
}

func TestConnPoolReader(t *testing.T) {
	tp := newTestPool(4, 0, time.Minute)
	pc := tp.mustAcquire(t)
	br := tp.reader(pc)
	if br.Size() != 1024 {
		t.Fatalf("reader size %d, want the pool's 1024", br.Size())
	}
	tp.release(pc)
	pc = tp.mustAcquire(t)
	if tp.reader(pc) != br {
		t.Fatal("a pooled connection got another reader: it keeps its own")
	}
	over := tp.readerOver(pc, strings.NewReader("answer"))
	if over != br {
		t.Fatal("readerOver took another reader than the connection's")
	}
	if b, err := over.ReadByte(); err != nil || b != 'a' {
		t.Fatalf("readerOver reads %q, %v: want its source's first byte", b, err)
	}
	if n := testing.AllocsPerRun(100, func() {
		pc := tp.mustAcquire(t)
		tp.reader(pc)
		tp.release(pc)
	}); n != 0 {
		t.Fatalf("acquire, reader and release allocate %.0f times", n)
	}
	tp.discard(pc)
	if pc.br != nil {
		t.Fatal("a closed connection kept its reader")
	}
}

func TestConnPoolMax(t *testing.T) {
	tp := newTestPool(1, 0, time.Minute)
	pc := tp.mustAcquire(t)
	if _, err := tp.acquire(); !errors.Is(err, ErrNoFreeConns) {
		t.Fatalf("max=1 with one in use, no wait: %v, want ErrNoFreeConns", err)
	}
	tp.discard(pc)
	tp.fail.Store(true)
	if _, err := tp.acquire(); err == nil || errors.Is(err, ErrNoFreeConns) {
		t.Fatalf("failed dial: %v, want its error", err)
	}
	// The failed dial gave its slot back.
	tp.mustAcquire(t)
}

func TestConnPoolWait(t *testing.T) {
	wait := func(tp *testPool) (got chan *pooledConn, failed chan error) {
		got, failed = make(chan *pooledConn, 1), make(chan error, 1)
		go func() {
			pc, err := tp.acquire()
			if err != nil {
				failed <- err
				return
			}
			got <- pc
		}()
		synctest.Wait()
		return got, failed
	}
	// run runs f in a bubble, with max=1 and its connection pc in use.
	run := func(name string, wait time.Duration, f func(t *testing.T, tp *testPool, pc *pooledConn)) {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tp := newTestPool(1, wait, time.Minute)
				f(t, tp, tp.mustAcquire(t))
			})
		})
	}
	run("a release serves the waiter", 200*time.Millisecond, func(t *testing.T, tp *testPool, pc *pooledConn) {
		got, _ := wait(tp)
		time.Sleep(150 * time.Millisecond)
		tp.release(pc)
		if w := <-got; w != pc {
			t.Fatalf("waiter got %p, want the released %p", w, pc)
		}
	})
	run("a close gives the waiter its slot", 200*time.Millisecond, func(t *testing.T, tp *testPool, pc *pooledConn) {
		got, _ := wait(tp)
		tp.discard(pc)
		if w := <-got; w == pc || w.used || tp.dials.Load() != 2 {
			t.Fatalf("waiter got %p (used %v) after %d dials, want a fresh connection", w, w.used, tp.dials.Load())
		}
	})
	run("first come, first served", time.Second, func(t *testing.T, tp *testPool, pc *pooledConn) {
		first, _ := wait(tp)
		second, _ := wait(tp)
		tp.release(pc)
		if w := <-first; w != pc {
			t.Fatalf("first waiter got %p, want %p", w, pc)
		}
		select {
		case w := <-second:
			t.Fatalf("second waiter served with %p while the first holds the only connection", w)
		default:
		}
		tp.release(pc)
		if w := <-second; w != pc {
			t.Fatalf("second waiter got %p, want %p", w, pc)
		}
	})
	run("the wait runs out", 200*time.Millisecond, func(t *testing.T, tp *testPool, pc *pooledConn) {
		start := time.Now()
		_, failed := wait(tp)
		if err := <-failed; !errors.Is(err, ErrNoFreeConns) {
			t.Fatalf("%v, want ErrNoFreeConns", err)
		}
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Fatalf("gave up after %v, want acquire's 200ms", d)
		}
		// The waiter left the queue: the connection goes back to idle.
		tp.release(pc)
		if got := tp.mustAcquire(t); got != pc {
			t.Fatalf("after the timed-out wait: %p, want the released %p", got, pc)
		}
	})
}

func TestConnPoolTTL(t *testing.T) {
	const ttl = 800 * time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		tp := newTestPool(4, 0, ttl)
		pc := tp.mustAcquire(t)
		tp.release(pc)
		time.Sleep(ttl * (ttlTicks - 1) / ttlTicks / 2)
		if got := tp.mustAcquire(t); got != pc {
			t.Fatalf("idle for under ttl: got %p, want the pooled %p", got, pc)
		}
		tp.release(pc)
		released := time.Now()
		closed := pc.conn.(*closeCounted)
		for !closed.closed.Load() {
			time.Sleep(time.Millisecond)
			synctest.Wait()
		}
		if idle := time.Since(released); idle < ttl*(ttlTicks-1)/ttlTicks || idle > ttl {
			t.Fatalf("closed after %v idle, want between %v and ttl %v", idle, ttl*(ttlTicks-1)/ttlTicks, ttl)
		}
		if got := tp.mustAcquire(t); got == pc || tp.dials.Load() != 2 {
			t.Fatalf("after ttl: %p, %d dials; want a new connection", got, tp.dials.Load())
		}
	})
	// A connection past ttl is not handed out even before a sweep closed
	// it: acquire closes the pooled ones instead.
	synctest.Test(t, func(t *testing.T) {
		tp := newTestPool(4, 0, ttl)
		a, b := tp.mustAcquire(t), tp.mustAcquire(t)
		tp.release(a)
		tp.release(b)
		tp.epoch += ttlTicks // as if the sweeps had counted ttl without closing
		if got := tp.mustAcquire(t); got == a || got == b {
			t.Fatalf("got %p, a connection past its ttl", got)
		}
		if !a.conn.(*closeCounted).closed.Load() || !b.conn.(*closeCounted).closed.Load() || tp.open != 1 {
			t.Fatalf("expired connections not closed, or not counted out: %d open", tp.open)
		}
	})
}

func TestConnPoolCloseIdle(t *testing.T) {
	tp := newTestPool(2, 0, time.Minute)
	a, b := tp.mustAcquire(t), tp.mustAcquire(t)
	tp.release(a)
	tp.closeIdle()
	if !a.conn.(*closeCounted).closed.Load() || b.conn.(*closeCounted).closed.Load() {
		t.Fatal("closeIdle must close the idle connection and only it")
	}
	// a's slot is free again: max=2 allows a second connection beside b.
	if got := tp.mustAcquire(t); got == a || got.used {
		t.Fatalf("after closeIdle: %p, want a fresh connection", got)
	}
}

// TestConnPoolConcurrent lends max connections to more goroutines than
// that, which give them back or close them: never more than max in use or
// open, every acquire served within the wait, and nothing left open once
// the idle ones are closed.
func TestConnPoolConcurrent(t *testing.T) {
	const max, workers, rounds = 4, 16, 300
	tp := newTestPool(max, 5*time.Second, time.Minute)
	var inUse atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				pc, err := tp.acquire()
				if err != nil {
					errs <- err
					return
				}
				if n := inUse.Add(1); n > max {
					errs <- fmt.Errorf("%d connections in use, max %d", n, max)
				}
				inUse.Add(-1)
				if (w+i)%5 == 0 {
					tp.discard(pc)
				} else {
					tp.release(pc)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	tp.mu.Lock()
	open, idle, waiting := tp.open, len(tp.idle), len(tp.waiters)
	tp.mu.Unlock()
	if open > max || open != idle || waiting != 0 {
		t.Fatalf("after the load: %d open, %d idle, %d waiting; want the open ones idle, at most %d", open, idle, waiting, max)
	}
	tp.closeIdle()
	if tp.open != 0 {
		t.Fatalf("%d open after closeIdle", tp.open)
	}
}
