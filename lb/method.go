package lb

import "github.com/sluiceproxy/sluice/pool"

// Method is an lbmethod: a score the selection skeleton compares, plus the
// accounting Apache does on the winner. The skeleton calls score exactly
// once for every candidate it offers (it may have side effects, as
// byrequests' lbstatus += lbfactor does) and elect once on the chosen member
// with the sum of the offered candidates' lbfactors.
//
// Implementations are stateless values, safe for concurrent use.
type Method interface {
	// Name is the lbmethod name as configured ("byrequests").
	Name() string
	score(m *pool.Member) score
	elect(m *pool.Member, total int64)
}

// score orders candidates: lower load wins, and on equal load higher
// urgency wins. A candidate must be strictly better to replace the current
// best, so ties go to the earlier member in config order, as in Apache.
type score struct {
	load    int64
	urgency int64
}

func (s score) beats(best score) bool {
	return s.load < best.load || (s.load == best.load && s.urgency > best.urgency)
}

// MethodByName returns the lbmethod called name; "" is the default,
// byrequests. heartbeat is not implemented and reports false, as does any
// unknown name.
func MethodByName(name string) (Method, bool) {
	switch name {
	case "", "byrequests":
		return byRequests{}, true
	case "bytraffic":
		return byTraffic{}, true
	case "bybusyness":
		return byBusyness{}, true
	}
	return nil, false
}
