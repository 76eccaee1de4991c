package lb

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// t0 is the tests' injected clock origin.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// build returns a snapshot of bc with one member per spec. A spec is a
// member name followed by options: lf=N, set=N, route=R, redirect=R,
// retry=DURATION, and Apache status strings such as +H or +D-E.
func build(t testing.TB, bc *config.Balancer, specs ...string) *pool.Snapshot {
	t.Helper()
	if bc.Name == "" {
		bc.Name = "test"
	}
	for _, spec := range specs {
		f := strings.Fields(spec)
		m := &config.Member{URL: "http://" + f[0]}
		for _, o := range f[1:] {
			k, v, _ := strings.Cut(o, "=")
			var err error
			switch {
			case o[0] == '+' || o[0] == '-':
				m.Params.Status += o
			case k == "lf":
				m.Params.LoadFactor, err = strconv.ParseFloat(v, 64)
			case k == "set":
				m.Params.LBSet, err = strconv.Atoi(v)
			case k == "route":
				m.Params.Route = v
			case k == "redirect":
				m.Params.Redirect = v
			case k == "retry":
				var d time.Duration
				d, err = time.ParseDuration(v)
				m.Params.Retry, m.Params.RetrySet = config.Duration(d), true
			default:
				t.Fatalf("bad member option %q", o)
			}
			if err != nil {
				t.Fatalf("bad member option %q: %v", o, err)
			}
		}
		bc.Members = append(bc.Members, m)
	}
	s, err := pool.NewSnapshot(pool.NewRegistry(), bc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// snap builds a balancer with Apache's defaults (forcerecovery on).
func snap(t testing.TB, specs ...string) *pool.Snapshot {
	t.Helper()
	return build(t, &config.Balancer{ForceRecovery: true}, specs...)
}

// name is a member's spec name, "-" for nil.
func name(m *pool.Member) string {
	if m == nil {
		return "-"
	}
	return strings.TrimPrefix(m.Name, "http://")
}

// member returns the member called n.
func member(t testing.TB, s *pool.Snapshot, n string) *pool.Member {
	t.Helper()
	for _, m := range s.Members {
		if name(m) == n {
			return m
		}
	}
	t.Fatalf("no member %q", n)
	return nil
}

// method returns the lbmethod called n.
func method(t testing.TB, n string) Method {
	t.Helper()
	m, ok := MethodByName(n)
	if !ok {
		t.Fatalf("no method %q", n)
	}
	return m
}

// picks runs n sequential requests, each picked at now and finished with
// Done(sent, received), and returns the chosen members' names.
func picks(t testing.TB, s *pool.Snapshot, m Method, n int, sent, received int64) string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		mb := Pick(s, m, t0, nil)
		out[i] = name(mb)
		if mb != nil {
			Done(mb, sent, received)
		}
	}
	return strings.Join(out, " ")
}

// request runs one request with failover: members in dead fail their
// connect (MarkError, as the proxy does on 503) and the next attempt is
// picked, up to MaxAttempts extra attempts. It returns the member that
// served it, or "-".
func request(t testing.TB, s *pool.Snapshot, m Method, now time.Time, dead ...string) string {
	t.Helper()
	var tried Tried
	for range s.MaxAttempts + 1 {
		mb := Pick(s, m, now, &tried)
		if mb == nil {
			return "-"
		}
		Done(mb, 0, 0)
		if !contains(dead, name(mb)) {
			return name(mb)
		}
		mb.State.MarkError(now)
	}
	return "-"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// requests runs n requests with request and joins the results.
func requests(t testing.TB, s *pool.Snapshot, m Method, n int, dead ...string) string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = request(t, s, m, t0, dead...)
	}
	return strings.Join(out, " ")
}
