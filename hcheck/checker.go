package hcheck

import (
	"container/heap"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sluiceproxy/sluice/pool"
)

// DefaultMaxBody is how much of a GET check's body hcexpr sees.
const DefaultMaxBody = 64 << 10

// Options configure a Checker. The zero value works.
type Options struct {
	// Log gets one line per state change; nil discards.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TLSConfig is the base for https and wss members: it is cloned and
	// ServerName set per member. Nil means the system roots, TLS 1.2+.
	TLSConfig *tls.Config
	// MaxBody bounds the body a GET check keeps for hcexpr; the rest is
	// drained (up to a bound) so the connection can be reused.
	// 0 means DefaultMaxBody.
	MaxBody int
	// Observe, when set, is called with every probe after it is recorded
	// (checks and RecordPassive), outside the checker's lock. It must be
	// fast; metrics hook in here.
	Observe func(id string, p Probe)
}

// Checker runs health checks for a changing set of members. Its methods
// are safe for concurrent use.
type Checker struct {
	log     *slog.Logger
	now     func() time.Time
	tls     *tls.Config
	maxBody int
	observe func(string, Probe)
	// probe runs one check; tests replace it.
	probe func(ctx context.Context, p *plan, cn *conn) (outcome, *conn)
	// jitter spreads checks: a random delay below a tenth of interval.
	jitter func(interval time.Duration) time.Duration

	wake chan struct{}
	wg   sync.WaitGroup // running checks

	mu      sync.Mutex
	entries map[string]*entry
	queue   dueQueue // idle checked members by due time
	ready   []*entry // due, waiting for a free slot
	running int
	limit   int
	stats   Counters
}

// entry is one member's checker state, kept across Updates by member ID.
type entry struct {
	id     string
	member *pool.Member
	plan   *plan // nil: not checked
	next   time.Time
	index  int // in queue; -1 when not queued

	running bool
	gone    bool  // removed while its check ran
	conn    *conn // kept-alive check connection, held by the running check meanwhile

	passStreak int // consecutive passes while down
	failStreak int // consecutive failures while up
	checks     uint64
	hist       history
}

// New returns a checker with no members; Update gives it some and Run
// checks them.
func New(o Options) *Checker {
	c := &Checker{
		log:     o.Log,
		now:     o.Now,
		tls:     o.TLSConfig,
		maxBody: o.MaxBody,
		observe: o.Observe,
		wake:    make(chan struct{}, 1),
		entries: make(map[string]*entry),
		limit:   1,
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBody
	}
	c.probe = c.netProbe
	c.jitter = func(d time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(d/10) + 1)) }
	return c
}

// Update replaces the members to watch and the ProxyHCTPsize bound
// (concurrency; 0 means one check at a time, as Apache's serial mode).
// Pass every balancer member: those with hcmethod NONE are not checked but
// still keep a history for RecordPassive. State (streaks, history, the
// schedule) is kept by member ID; a member whose check settings changed
// starts its streaks again and is next checked one interval from now, as a
// new member is. A member that is no longer checked has C cleared, since
// nothing would clear it later.
func (c *Checker) Update(members []*pool.Member, exprs Exprs, concurrency int) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = max(concurrency, 1)
	seen := make(map[string]struct{}, len(members))
	for _, m := range members {
		if _, dup := seen[m.ID]; dup {
			continue
		}
		seen[m.ID] = struct{}{}
		e := c.entries[m.ID]
		if e == nil {
			e = &entry{id: m.ID, index: -1}
			c.entries[m.ID] = e
		}
		e.member = m
		p := newPlan(m, exprs)
		if p != nil && e.plan != nil && p.same(e.plan) {
			continue
		}
		if p == nil && e.plan != nil && m.State.Flags()&pool.FlagHCFail != 0 {
			m.State.ClearFlags(pool.FlagHCFail)
			c.log.Info("health check removed, clearing C", "member", m.ID)
		}
		e.plan = p
		e.passStreak, e.failStreak = 0, 0
		c.unqueue(e)
		if !e.running {
			e.closeConn()
			if p != nil {
				e.next = now.Add(p.interval + c.jitter(p.interval))
				heap.Push(&c.queue, e)
			}
		}
	}
	for id, e := range c.entries {
		if _, ok := seen[id]; ok {
			continue
		}
		c.unqueue(e)
		delete(c.entries, id)
		if e.running {
			e.gone = true
		} else {
			e.closeConn()
		}
	}
	c.signal()
}

// Run schedules checks until ctx is done, then cancels the checks in
// flight, waits for them and closes the check connections. Call it once.
func (c *Checker) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		wait := c.dispatch(ctx, c.now())
		c.mu.Unlock()
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			c.wg.Wait()
			c.mu.Lock()
			for _, e := range c.entries {
				e.closeConn()
			}
			c.mu.Unlock()
			return
		case <-timer.C:
		case <-c.wake:
		}
	}
}

// dispatch starts the checks due at now, as far as the concurrency bound
// allows, and returns how long until the next one is due (-1: none). It
// does not allocate once its queues have grown; c.mu is held.
func (c *Checker) dispatch(ctx context.Context, now time.Time) time.Duration {
	for len(c.queue) > 0 && !c.queue[0].next.After(now) {
		e := heap.Pop(&c.queue).(*entry)
		if e.member.State.Flags()&pool.FlagStopped != 0 {
			// Apache skips S members; look again an interval later.
			e.next = now.Add(e.plan.interval)
			heap.Push(&c.queue, e)
			continue
		}
		c.ready = append(c.ready, e)
	}
	for c.running < c.limit && len(c.ready) > 0 {
		e := c.ready[0]
		c.ready = c.ready[:copy(c.ready, c.ready[1:])]
		c.start(ctx, e)
	}
	if len(c.queue) == 0 {
		return -1
	}
	return c.queue[0].next.Sub(now)
}

func (c *Checker) start(ctx context.Context, e *entry) {
	e.running = true
	c.running++
	p, cn := e.plan, e.conn
	e.conn = nil
	c.wg.Add(1)
	go c.check(ctx, e, p, cn)
}

// check runs one probe and applies its result. A result that arrives
// after shutdown began, for a removed member or for check settings that
// changed meanwhile is dropped.
func (c *Checker) check(ctx context.Context, e *entry, p *plan, cn *conn) {
	defer c.wg.Done()
	start := c.now()
	out, cn, crashed := c.safeProbe(ctx, e.id, p, cn)
	end := c.now()

	c.mu.Lock()
	c.running--
	e.running = false
	var pr Probe
	recorded := false
	switch {
	case e.gone || ctx.Err() != nil || e.plan == nil:
		// Nothing will check with cn again: no member, no run, or no check.
		if cn != nil {
			cn.Close()
		}
	default:
		if e.plan == p {
			e.conn = cn
		} else if cn != nil {
			cn.Close() // made for the check as it was: another starts anew
		}
		if e.plan == p && !crashed {
			pr = c.apply(e, out, start, end.Sub(start))
			recorded = true
		}
		// The next check is an interval after this one started, or
		// after it ended when it overran the interval.
		next := start.Add(e.plan.interval)
		if end.After(next) {
			next = end.Add(e.plan.interval)
		}
		e.next = next.Add(c.jitter(e.plan.interval))
		heap.Push(&c.queue, e)
	}
	c.mu.Unlock()
	if recorded && c.observe != nil {
		c.observe(e.id, pr)
	}
	c.signal()
}

// safeProbe runs c.probe and contains a panic in it, which is a sluice
// bug (in reading the answer or in an hcexpr, say): it is logged with its
// stack, and crashed tells check to record no result, so that the member
// keeps its state and is checked again an interval later. One check must
// not end the process that carries the traffic, nor take a member out.
func (c *Checker) safeProbe(ctx context.Context, id string, p *plan, cn *conn) (out outcome, keep *conn, crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			if cn != nil {
				cn.Close()
			}
			c.log.Error("health check failed inside sluice (a sluice bug, please report it)",
				"member", id, "panic", r, "stack", string(debug.Stack()))
			out, keep, crashed = outcome{}, nil, true
		}
	}()
	out, keep = c.probe(ctx, p, cn)
	return out, keep, false
}

func (c *Checker) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Checker) unqueue(e *entry) {
	if e.index >= 0 {
		heap.Remove(&c.queue, e.index)
	}
	for i, r := range c.ready {
		if r == e {
			c.ready = append(c.ready[:i], c.ready[i+1:]...)
			break
		}
	}
}

func (e *entry) closeConn() {
	if e.conn != nil {
		e.conn.Close()
		e.conn = nil
	}
}
