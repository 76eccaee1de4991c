package lb

import (
	"time"

	"github.com/sluiceproxy/sluice/pool"
)

// FindRouteMember is Apache's find_route_worker (apache.md §4.7): the
// member whose route is route, looking first at members without H and then
// at hot standbys, in config order. A match that is unusable is given
// State.Retry; if it is still unusable (or already in tried) and has a
// redirect, the member for the redirect route is looked up the same way,
// following at most len(Members)-1 redirects. Draining members are usable
// here: they keep their sessions. It returns nil when no usable member
// serves the route. A redirect route already searched in vain is not
// searched again (routeMemo), which keeps the result and bounds the work.
//
// FindRouteMember runs Recover first, as Apache runs force_recovery before
// the route lookup. It does not elect the member; call ElectRoute. It does
// not allocate.
func FindRouteMember(s *pool.Snapshot, route []byte, now time.Time, tried *Tried) *pool.Member {
	if len(route) == 0 {
		return nil
	}
	Recover(s, now)
	var memo routeMemo
	return findRoute(s, route, now, tried, 1, &memo)
}

// findRoute is generic so that following a redirect (a string) and the
// request's route (bytes) share the code without a conversion.
func findRoute[T string | []byte](s *pool.Snapshot, route T, now time.Time, tried *Tried, depth int, memo *routeMemo) *pool.Member {
	for _, standby := range [...]bool{false, true} {
		for _, mb := range s.Members {
			if mb.State.Flags()&pool.FlagHotStandby != 0 != standby {
				continue
			}
			if mb.Route == "" || mb.Route != string(route) {
				continue
			}
			if !tried.Has(mb.Index) && (mb.State.Usable() || mb.State.Retry(now, mb.Retry) && mb.State.Usable()) {
				return mb
			}
			if mb.Redirect != "" && depth < len(s.Members) && !memo.failed(mb.Redirect, depth+1) {
				if r := findRoute(s, mb.Redirect, now, tried, depth+1, memo); r != nil {
					return r
				}
				memo.fail(mb.Redirect, depth+1)
			}
		}
	}
	return nil
}

// routeMemo records the redirect routes one lookup searched in vain, each
// with the least depth it was searched at. A search from a depth at least
// that finds nothing either: it may follow fewer redirects, and members,
// tried and the clock are the same. Without it, members sharing routes
// that redirect to each other (route=a redirect=b, route=b redirect=a,
// all down) made the search exponential: six of each took 38 s a request.
// Routes past its capacity are searched again, as before.
type routeMemo struct {
	route [16]string
	depth [16]int
	n     int
}

func (m *routeMemo) failed(route string, depth int) bool {
	for i, r := range m.route[:m.n] {
		if r == route {
			return depth >= m.depth[i]
		}
	}
	return false
}

func (m *routeMemo) fail(route string, depth int) {
	for i, r := range m.route[:m.n] {
		if r == route {
			m.depth[i] = min(m.depth[i], depth)
			return
		}
	}
	if m.n < len(m.route) {
		m.route[m.n], m.depth[m.n] = route, depth
		m.n++
	}
}

// HasRoute reports whether some member has route as its route. With
// nofailover, a request whose route HasRoute but for which FindRouteMember
// found nothing gets 503 instead of being balanced.
func HasRoute(s *pool.Snapshot, route []byte) bool {
	for _, mb := range s.Members {
		if mb.Route != "" && mb.Route == string(route) {
			return true
		}
	}
	return false
}

// ElectRoute does Apache's accounting for a member chosen by sticky route,
// whatever the lbmethod: every usable member gets lbstatus += lbfactor and
// chosen pays the sum, so sticky traffic counts in byrequests' rotation;
// chosen's Elected and Busy are incremented and it is added to tried (which
// may be nil). Pair it with one Done.
func ElectRoute(s *pool.Snapshot, chosen *pool.Member, tried *Tried) {
	var total int64
	for _, mb := range s.Members {
		if mb.State.Usable() {
			mb.State.LBStatus.Add(mb.LBFactor)
			total += mb.LBFactor
		}
	}
	chosen.State.LBStatus.Add(-total)
	chosen.State.Elected.Add(1)
	chosen.State.Busy.Add(1)
	tried.Add(chosen.Index)
}
