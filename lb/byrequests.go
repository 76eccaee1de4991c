package lb

import "github.com/sluiceproxy/sluice/pool"

// byrequests (Apache's default) spreads requests in proportion to the
// members' loadfactors: weighted round robin with a running score.
//
// lbfactor is how much work a member is expected to do (loadfactor × 100);
// lbstatus is how urgently it should work next. Every candidate the skeleton
// offers gets lbstatus += lbfactor, and the sum of those lbfactors is total;
// the candidate with the highest lbstatus wins (strictly higher, so ties go
// to the earlier member) and pays lbstatus -= total. Over a cycle each member
// gains its lbfactor per pick and pays total per win, so it wins
// lbfactor/total of the picks, and lbstatus over all offered members sums to
// what it was before the pick.
//
// Worked schedule, B1 loadfactor 1 (lbfactor 100), B2 loadfactor 2 (200),
// lbstatus starting at 0:
//
//	pick  lbstatus after +lbfactor  chosen  lbstatus after -total
//	1     B1 100  B2 200            B2      B1  100  B2 -100
//	2     B1 200  B2 100            B1      B1 -100  B2  100
//	3     B1   0  B2 300            B2      B1    0  B2    0
//
// and then it repeats: B2 B1 B2 B2 B1 B2 B2 B1 B2 (apache.md Appendix A).
// A member that is not offered (disabled, in error, draining) neither gains
// nor pays: four equal members with the third disabled give B1 B2 B4 B1 B2 B4.
type byRequests struct{}

func (byRequests) Name() string { return "byrequests" }

func (byRequests) score(m *pool.Member) score {
	return score{urgency: m.State.LBStatus.Add(m.LBFactor)}
}

func (byRequests) elect(m *pool.Member, total int64) { m.State.LBStatus.Add(-total) }

var _ Method = byRequests{}
