package fuzz

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/lb"
	"github.com/sluiceproxy/sluice/pool"
)

// FuzzBalancer replays a byte string as a balancer's life: a member set
// (lbsets, roles, weights, retry), then actions (pick, failover pick, done,
// connect failure, flag set or clear, weight change through a snapshot
// rebuild that keeps member state, time passing, sticky lookup). After every
// action it checks the selection invariants of apache.md §4.1.
func FuzzBalancer(f *testing.F) {
	f.Add([]byte{0x03, 0x00, 0x10, 0x20, 0x00, 0x01, 0x02, 0x13, 0x04, 0x21, 0x00})
	f.Add([]byte{0x45, 0x00, 0x04, 0x08, 0x0c, 0x01, 0x00, 0x01, 0x1b, 0x01, 0x01, 0x07, 0x00})
	f.Add([]byte{0x84, 0x40, 0x44, 0x05, 0x09, 0x0b, 0x1b, 0x2b, 0x3b, 0x00, 0x0f, 0x00, 0x1c, 0x00})
	f.Add([]byte{0x06, 0x00, 0x00, 0x04, 0x08, 0x40, 0x80, 0x03, 0x13, 0x23, 0x33, 0x43, 0x53, 0x00, 0x07, 0x00, 0x08})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		r := &replay{t: t, data: data, reg: pool.NewRegistry(), now: time.Unix(1_700_000_000, 0)}
		r.setup()
		for r.more() {
			r.step()
			r.checkCounters()
		}
	})
}

var methods = []string{"byrequests", "bytraffic", "bybusyness"}

// flags the actions may set or clear.
var flags = []pool.Flags{
	pool.FlagDisabled, pool.FlagStopped, pool.FlagError, pool.FlagDrain,
	pool.FlagHotStandby, pool.FlagHotSpare, pool.FlagHCFail, pool.FlagIgnoreErrors,
}

type replay struct {
	t    *testing.T
	data []byte
	reg  *pool.Registry
	bc   config.Balancer
	snap *pool.Snapshot
	m    lb.Method
	now  time.Time

	tried   lb.Tried       // the current request's attempts
	pending []*pool.Member // attempts not yet done
}

func (r *replay) more() bool { return len(r.data) > 0 }

func (r *replay) next() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

// setup decodes the method and up to 8 members, one byte each:
// bits 0-1 lbset, 2-3 role (none, R, H, R+H), 4-5 loadfactor-1, 6-7 retry.
func (r *replay) setup() {
	h := r.next()
	r.m, _ = lb.MethodByName(methods[int(h>>6)%len(methods)])
	n := 1 + int(h&7)
	r.bc = config.Balancer{Name: "fuzz", ForceRecovery: h&8 == 0, StickyCookie: "ROUTEID", StickyURLParam: "routeid"}
	for i := range n {
		b := r.next()
		p := config.WorkerParams{
			LBSet:      int(b & 3),
			LoadFactor: float64(1 + (b>>4)&3),
			Route:      fmt.Sprintf("r%d", i),
			Redirect:   fmt.Sprintf("r%d", (i+1)%n),
			Retry:      config.Duration([]time.Duration{0, time.Second, 10 * time.Second, time.Minute}[b>>6]),
			RetrySet:   true,
		}
		switch (b >> 2) & 3 {
		case 1:
			p.Status = "+R"
		case 2:
			p.Status = "+H"
		case 3:
			p.Status = "+R+H"
		}
		r.bc.Members = append(r.bc.Members, &config.Member{URL: fmt.Sprintf("http://m%d", i), Params: p})
	}
	r.rebuild()
}

func (r *replay) rebuild() {
	bc := r.bc
	s, err := pool.NewSnapshot(r.reg, &bc)
	if err != nil {
		r.t.Fatalf("cannot build snapshot: %v", err)
	}
	r.snap = s
}

func (r *replay) member() *pool.Member {
	return r.snap.Members[int(r.next())%len(r.snap.Members)]
}

func (r *replay) step() {
	op := r.next()
	switch op & 15 {
	case 0, 1, 2: // a new request
		r.tried.Reset()
		r.pick()
	case 3, 4: // failover: another attempt of the same request
		r.pick()
	case 5, 6: // an attempt ends
		if len(r.pending) > 0 {
			i := int(r.next()) % len(r.pending)
			lb.Done(r.pending[i], int64(r.next())*10, int64(r.next())*100)
			r.pending = append(r.pending[:i], r.pending[i+1:]...)
		}
	case 7: // connect failure
		r.member().State.MarkError(r.now)
	case 8:
		m := r.member()
		m.State.SetFlags(flags[int(op>>4)%len(flags)])
	case 9:
		m := r.member()
		m.State.ClearFlags(flags[int(op>>4)%len(flags)])
	case 10: // change a weight; state must survive the new snapshot
		i := int(r.next()) % len(r.bc.Members)
		mc := *r.bc.Members[i]
		mc.Params.LoadFactor = float64(1 + op>>4)
		members := append([]*config.Member(nil), r.bc.Members...)
		members[i] = &mc
		r.bc.Members = members
		before := r.snap.Members[i].State
		r.rebuild()
		if r.snap.Members[i].State != before {
			r.t.Fatal("rebuild lost member state")
		}
	case 11: // time passes
		r.now = r.now.Add(time.Duration(op>>4) * 2 * time.Second)
	case 12: // a sticky request
		r.tried.Reset()
		route := []byte(fmt.Sprintf("r%d", int(op>>4)%(len(r.snap.Members)+1)))
		if m := lb.FindRouteMember(r.snap, route, r.now, &r.tried); m != nil {
			if !m.State.Usable() {
				r.t.Fatalf("route %s gave unusable %s (%s)", route, m.Name, m.State.Flags())
			}
			lb.ElectRoute(r.snap, m, &r.tried)
			r.pending = append(r.pending, m)
		}
	default:
		r.tried.Reset()
		r.pick()
	}
}

// pick makes one attempt and checks where it landed.
func (r *replay) pick() {
	before := r.tried
	m := lb.Pick(r.snap, r.m, r.now, &r.tried)
	// Pick may have cleared E (retry, forcerecovery); judge the state it left.
	for _, set := range r.tiers() {
		if m != nil && set > m.LBSet {
			break
		}
		regular, spare, standby, dead := r.tier(set, &before)
		if m == nil || set < m.LBSet {
			if len(regular) > 0 || len(standby) > 0 || len(spare) > 0 && dead > 0 {
				r.t.Fatalf("picked %v but lbset %d had a candidate", name(m), set)
			}
			continue
		}
		r.checkPicked(m, regular, spare[:min(len(spare), dead)], standby)
	}
	if m == nil {
		return
	}
	if before.Has(m.Index) {
		r.t.Fatalf("picked %s again in the same request", m.Name)
	}
	if !r.tried.Has(m.Index) {
		r.t.Fatalf("%s not recorded as tried", m.Name)
	}
	r.pending = append(r.pending, m)
}

func (r *replay) checkPicked(m *pool.Member, regular, spares, standbys []*pool.Member) {
	f := m.State.Flags()
	if !f.Usable() || f&pool.FlagDrain != 0 {
		r.t.Fatalf("picked %s with flags %q", m.Name, f)
	}
	switch {
	case in(m, regular), in(m, spares):
	case in(m, standbys):
		if len(regular) > 0 || len(spares) > 0 {
			r.t.Fatalf("picked standby %s while lbset %d has %d regular and %d eligible spare members",
				m.Name, m.LBSet, len(regular), len(spares))
		}
	default:
		r.t.Fatalf("picked %s (%q), not a candidate of lbset %d", m.Name, f, m.LBSet)
	}
}

// tiers are the lbsets present, ascending.
func (r *replay) tiers() []int {
	var seen [4]bool
	var out []int
	for _, m := range r.snap.Members {
		seen[m.LBSet] = true
	}
	for i, ok := range seen {
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// tier sorts the members of lbset set as apache.md §4.1 does: usable
// untried regular members, usable spares and standbys in config order, and
// the count of unusable regular ones (draining and tried included).
func (r *replay) tier(set int, tried *lb.Tried) (regular, spares, standbys []*pool.Member, dead int) {
	for _, m := range r.snap.Members {
		if m.LBSet != set {
			continue
		}
		f := m.State.Flags()
		role := f & (pool.FlagHotSpare | pool.FlagHotStandby)
		usable := f.Usable() && f&pool.FlagDrain == 0 && !tried.Has(m.Index)
		switch {
		case role == 0 && usable:
			regular = append(regular, m)
		case role == 0:
			dead++
		case !usable:
		case f&pool.FlagHotSpare != 0:
			spares = append(spares, m)
		default:
			standbys = append(standbys, m)
		}
	}
	return regular, spares, standbys, dead
}

// checkCounters: Busy never goes negative and matches the attempts not yet
// done.
func (r *replay) checkCounters() {
	want := map[*pool.State]int64{}
	for _, m := range r.pending {
		want[m.State]++
	}
	for _, m := range r.snap.Members {
		if b := m.State.Busy.Load(); b < 0 || b != want[m.State] {
			r.t.Fatalf("%s busy %d, want %d", m.Name, b, want[m.State])
		}
	}
}

func in(m *pool.Member, list []*pool.Member) bool {
	for _, x := range list {
		if x == m {
			return true
		}
	}
	return false
}

func name(m *pool.Member) string {
	if m == nil {
		return "nothing"
	}
	return m.Name
}
