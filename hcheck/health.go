package hcheck

import "time"

// Counters are totals since New, for metrics.
type Counters struct {
	Checks  uint64 // checks completed
	Passed  uint64
	Failed  uint64
	Down    uint64 // C set by a check
	Up      uint64 // C and E cleared by a check
	Passive uint64 // failures reported by RecordPassive
}

// Health is a member's health-check state, for the admin API.
type Health struct {
	Method     string // hcmethod; "" when the member is not checked
	Target     string // request target sent ("/status", "*"); "" for TCP
	Expr       string // hcexpr name
	Interval   time.Duration
	Passes     int // hcpasses
	Fails      int // hcfails
	PassStreak int // consecutive passes while down
	FailStreak int // consecutive failures while up
	Checks     uint64
	Running    bool
	Next       time.Time // zero when no check is scheduled
	History    []Probe   // oldest first, at most HistorySize
}

// Health returns the state of member id; ok is false for an unknown id.
func (c *Checker) Health(id string) (h Health, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[id]
	if e == nil {
		return Health{}, false
	}
	h = Health{
		PassStreak: e.passStreak,
		FailStreak: e.failStreak,
		Checks:     e.checks,
		Running:    e.running,
		History:    e.hist.list(),
	}
	if p := e.plan; p != nil {
		h.Method, h.Target, h.Expr = p.method, p.target, p.exprName
		h.Interval, h.Passes, h.Fails = p.interval, p.passes, p.fails
		if e.index >= 0 {
			h.Next = e.next
		}
	}
	return h, true
}

// Counters returns the totals since New.
func (c *Checker) Counters() Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// RecordPassive adds a failure seen on the request path (failonstatus,
// failontimeout) to member id's history; status is 0 for a timeout. It does
// not change flags or streaks: the request path sets E itself. Unknown ids
// are ignored. It does not allocate.
func (c *Checker) RecordPassive(id string, at time.Time, status int, why string) {
	pr := Probe{Time: at, Passive: true, Status: status, Why: why}
	c.mu.Lock()
	e := c.entries[id]
	if e != nil {
		e.hist.add(pr)
		c.stats.Passive++
	}
	c.mu.Unlock()
	if e != nil && c.observe != nil {
		c.observe(id, pr)
	}
}
