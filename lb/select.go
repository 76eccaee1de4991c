package lb

import (
	"time"

	"github.com/sluiceproxy/sluice/pool"
)

// Pick chooses a member for one attempt of a request with method m, or
// returns nil when no member is usable (Apache then answers 503). It runs
// forcerecovery (Recover), then the selection skeleton; the chosen member's
// Elected and Busy are incremented, it is added to tried, and the method's
// accounting is applied. Members already in tried are treated as unusable.
// tried may be nil. Every non-nil result must be paired with one Done.
//
// Pick is safe for concurrent use and does not allocate.
func Pick(s *pool.Snapshot, m Method, now time.Time, tried *Tried) *pool.Member {
	Recover(s, now)
	var c contest
	c.run(s, m, now, tried)
	if c.best == nil {
		return nil
	}
	m.elect(c.best, c.total)
	c.best.State.Elected.Add(1)
	c.best.State.Busy.Add(1)
	tried.Add(c.best.Index)
	return c.best
}

// Done ends an attempt started by Pick or ElectRoute: Busy is decremented
// (never below zero) and the bytes sent to and read from the member are
// added to its traffic counters.
func Done(m *pool.Member, sent, received int64) {
	st := m.State
	for {
		b := st.Busy.Load()
		if b <= 0 || st.Busy.CompareAndSwap(b, b-1) {
			break
		}
	}
	if sent > 0 {
		st.Transferred.Add(uint64(sent))
	}
	if received > 0 {
		st.Read.Add(uint64(received))
	}
}

// contest is one run of Apache's proxy_balancer_get_best_worker (apache.md
// §4.1): lbsets from the lowest up, stopping at the first that yields a
// member. Within an lbset, config order:
//   - a draining (N) member is never offered; unless it is a spare or a
//     standby it counts as unusable, so a spare may replace it;
//   - an unusable member is first given State.Retry, which may clear E;
//   - usable regular members are offered to the method;
//   - unusable regular members (and tried ones) are counted;
//   - then the first N usable spares (R), N being that count, are offered
//     and compete with the healthy members;
//   - only if nothing was offered, the usable standbys (H) are.
//
// Spares and standbys are counted in the first scan and revisited only when
// they can matter, so the common case is a single scan with no buffer.
type contest struct {
	best  *pool.Member
	score score
	total int64
}

func (c *contest) run(s *pool.Snapshot, m Method, now time.Time, tried *Tried) {
	// Apache starts at lbset 0 and steps by one; jumping to the next lbset
	// present visits the same tiers in the same order.
	for set := 0; set >= 0 && c.best == nil; {
		next := -1
		unusable, spares, standbys := 0, 0, 0
		for _, mb := range s.Members {
			if mb.LBSet > set && (next < 0 || mb.LBSet < next) {
				next = mb.LBSet
			}
			if mb.LBSet != set {
				continue
			}
			f := mb.State.Flags()
			role := f & (pool.FlagHotSpare | pool.FlagHotStandby)
			if f&pool.FlagDrain != 0 || tried.Has(mb.Index) {
				if role == 0 {
					unusable++
				}
				continue
			}
			if !f.Usable() {
				mb.State.Retry(now, mb.Retry)
				f = mb.State.Flags()
			}
			switch {
			case role != 0:
				if f.Usable() {
					if f&pool.FlagHotSpare != 0 {
						spares++
					} else {
						standbys++
					}
				}
			case f.Usable():
				c.offer(m, mb)
			default:
				unusable++
			}
		}
		if spares > 0 && unusable > 0 {
			c.offerRole(s, m, set, pool.FlagHotSpare, unusable, tried)
		}
		if c.best == nil && standbys > 0 {
			c.offerRole(s, m, set, pool.FlagHotStandby, standbys, tried)
		}
		set = next
	}
}

// offerRole offers up to limit usable, untried, non-draining members of
// lbset set whose role (spare or standby) is role, in config order. A
// member with both R and H is a spare, as in Apache.
func (c *contest) offerRole(s *pool.Snapshot, m Method, set int, role pool.Flags, limit int, tried *Tried) {
	for _, mb := range s.Members {
		if limit == 0 {
			return
		}
		if mb.LBSet != set {
			continue
		}
		f := mb.State.Flags()
		isSpare := f&pool.FlagHotSpare != 0
		if (role == pool.FlagHotSpare) != isSpare || f&role == 0 {
			continue
		}
		if f&pool.FlagDrain != 0 || !f.Usable() || tried.Has(mb.Index) {
			continue
		}
		c.offer(m, mb)
		limit--
	}
}

// offer scores mb and keeps it if it beats the best so far.
func (c *contest) offer(m Method, mb *pool.Member) {
	sc := m.score(mb)
	c.total += mb.LBFactor
	if c.best == nil || sc.beats(c.score) {
		c.best, c.score = mb, sc
	}
}
