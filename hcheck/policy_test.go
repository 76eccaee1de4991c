package hcheck

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/pool"
)

// TestChecksDialThroughPolicy (threats.md ADM-04): the health checks of a
// member added through the admin obey the admin's destination policy, and
// check it again at every dial, as the member's requests do: a refused
// destination is never connected to, whatever the check method.
func TestChecksDialThroughPolicy(t *testing.T) {
	b := newBackend(t, func(int, string) string { return reply(200, "") })
	policy := &pool.DialPolicy{} // no admin.member_networks: loopback is refused
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	c := New(Options{})
	reg := pool.NewRegistry()
	for _, method := range []string{"TCP", "GET", "HEAD11"} {
		m := member(t, reg, "http://"+b.addr, hc(method, time.Second, 1, 1))
		m.Backend = pool.NewBackend(m, pool.BackendOptions{Timeout: time.Second, Policy: policy})
		policy.SetRules(nil, nil)
		out, cn := probeOnce(t, c, m, nil, nil)
		closeConn(cn)
		if out.ok || !strings.Contains(out.why, "is a loopback address") {
			t.Errorf("%s, refused: %+v, want a failed check naming the policy", method, out)
		}
		policy.SetRules(loopback, nil) // admin.member_networks: [127.0.0.0/8]
		out, cn = probeOnce(t, c, m, nil, nil)
		closeConn(cn)
		if !out.ok {
			t.Errorf("%s, allowed: %+v, want a passing check", method, out)
		}
	}
	if _, accepted, _ := b.stats(); accepted != 3 {
		t.Errorf("the backend accepted %d connections, want 3 (one per allowed check)", accepted)
	}
}
