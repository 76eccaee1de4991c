package lb

import "github.com/sluiceproxy/sluice/pool"

// bybusyness sends each request to the member with the fewest requests in
// flight (Busy, raised per attempt by Pick and ElectRoute and lowered by
// Done). Ties on Busy are broken byrequests-style: every offered candidate
// gets lbstatus += lbfactor, the highest lbstatus wins among the least busy
// (strictly, so the earlier member wins a full tie), and the chosen member
// pays lbstatus -= total. Equal members under sequential load therefore
// alternate instead of piling onto the first one.
//
// Worked schedule, two equal members (lbfactor 100), each request finishing
// before the next one starts (Busy is 0 at every pick):
//
//	pick  busy   lbstatus after +lbfactor  chosen  lbstatus after -total
//	1     0  0   B1 100  B2 100            B1      B1 -100  B2 100
//	2     0  0   B1   0  B2 200            B2      B1    0  B2   0
//	3     0  0   B1 100  B2 100            B1      ...
//
// giving B1 B2 B1 B2 (apache.md Appendix A). With a slow request still in
// flight on B1, every pick goes to B2 until B1 finishes.
type byBusyness struct{}

func (byBusyness) Name() string { return "bybusyness" }

func (byBusyness) score(m *pool.Member) score {
	return score{load: m.State.Busy.Load(), urgency: m.State.LBStatus.Add(m.LBFactor)}
}

func (byBusyness) elect(m *pool.Member, total int64) { m.State.LBStatus.Add(-total) }

var _ Method = byBusyness{}
