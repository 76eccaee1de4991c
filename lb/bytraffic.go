package lb

import "github.com/sluiceproxy/sluice/pool"

// bytraffic sends each request to the member that has moved the fewest
// bytes relative to its loadfactor:
//
//	traffic = transferred/lbfactor + read/lbfactor   (integer division)
//
// where transferred counts bytes sent to the member and read bytes received
// from it, both cumulative (Done adds them). The lowest traffic wins,
// strictly, so ties go to the earlier member; lbstatus is not used. Because
// of the integer division a member's traffic only grows once it has moved
// lbfactor bytes, which is why small requests alternate in runs.
//
// Worked schedule, B1 lbfactor 100, B2 lbfactor 200, every request sending
// 150 bytes and reading 25 (the status line "HTTP/1.1 200 OK" without its
// CRLF, as Apache counts it, and a 10-byte body):
//
//	pick  traffic B1  traffic B2  chosen
//	1     0           0           B1  (tie: earlier member)
//	2     1+0 = 1     0           B2
//	3     1           0+0 = 0     B2
//	4     1           1+0 = 1     B1  (tie)
//	5     3+0 = 3     1           B2
//	6     3           2+0 = 2     B2
//
// giving B1 B2 B2 B1 B2 B2 (apache.md Appendix A). One 100 KB response read
// from B1 adds about 1024 to its traffic, so every following request goes
// to B2 until B2 has caught up.
type byTraffic struct{}

func (byTraffic) Name() string { return "bytraffic" }

func (byTraffic) score(m *pool.Member) score {
	lf := uint64(max(m.LBFactor, 1))
	t := m.State.Transferred.Load()/lf + m.State.Read.Load()/lf
	return score{load: int64(min(t, 1<<63-1))}
}

func (byTraffic) elect(*pool.Member, int64) {}

var _ Method = byTraffic{}
