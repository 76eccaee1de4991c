package main

// Balancers through the real binary and real loopback backends, each
// answering with its name (X-Backend). Exact sequences come from Apache
// 2.4.71 (apache.md Appendix A); timings are only bounded generously.

import (
	"bufio"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// startBalancer writes conf (Apache syntax, or YAML when name ends in
// .yaml) with "{NAME}" placeholders replaced by addresses and starts
// sluice on it.
func startBalancer(t *testing.T, name, conf string, oldnew ...string) *sluiceProc {
	t.Helper()
	return startSluice(t, writeConfig(t, t.TempDir(), name, conf, oldnew...))
}

// members lists which backend answered each of n GETs of uri.
func members(t *testing.T, s *sluiceProc, uri string, n int, header ...string) []string {
	t.Helper()
	got := make([]string, n)
	for i := range got {
		m := getURI(t, s.Addr(), uri, header...)
		wantStatus(t, m, 200)
		got[i] = m.Get("X-Backend")
	}
	return got
}

func wantSequence(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: members %v, want %v", what, got, want)
	}
}

// closer reads each request and closes the connection without answering.
func closer(*bufio.Writer, *backendReq) bool { return true }

func TestBalancerWeights(t *testing.T) {
	b1, b2 := newBackend(t, "B1", nil), newBackend(t, "B2", nil)
	s := startBalancer(t, "w.conf", `Listen 127.0.0.1:0
<Proxy balancer://two>
    BalancerMember http://{B1} loadfactor=1
    BalancerMember http://{B2} loadfactor=2
</Proxy>
<Proxy balancer://three>
    BalancerMember http://{B1} loadfactor=1
    BalancerMember http://{B2} loadfactor=3
</Proxy>
ProxyPass /two balancer://two
ProxyPass /three balancer://three
`, "{B1}", b1.addr, "{B2}", b2.addr)

	wantSequence(t, "loadfactor 1:2", members(t, s, "/two", 9), "B2", "B1", "B2", "B2", "B1", "B2", "B2", "B1", "B2")
	// byrequests is exact over each period of sum(lbfactor)/gcd picks.
	got := members(t, s, "/three", 40)
	for period := range 10 {
		if n := strings.Count(strings.Join(got[4*period:4*period+4], " "), "B2"); n != 3 {
			t.Fatalf("loadfactor 1:3: period %d sent %v, want B2 three times of four", period, got[4*period:4*period+4])
		}
	}
}

func TestBalancerDeadMemberFailsOver(t *testing.T) {
	b1 := newBackend(t, "B1", nil)
	s := startBalancer(t, "dead.conf", `Listen 127.0.0.1:0
<Proxy balancer://b>
    BalancerMember http://{DEAD}
    BalancerMember http://{B1}
</Proxy>
ProxyPass / balancer://b/
`, "{DEAD}", testnet.ClosedAddr(t), "{B1}", b1.addr)
	wantSequence(t, "dead first member", members(t, s, "/x", 4), "B1", "B1", "B1", "B1")
}

func TestBalancerStandbyAndSpare(t *testing.T) {
	b1, b2, b3, b4 := newBackend(t, "B1", nil), newBackend(t, "B2", nil), newBackend(t, "B3", nil), newBackend(t, "B4", nil)
	dead := testnet.ClosedAddr(t)
	s := startBalancer(t, "roles.conf", `Listen 127.0.0.1:0
<Proxy balancer://alive>
    BalancerMember http://{B1}
    BalancerMember http://{B2} status=+H
</Proxy>
<Proxy balancer://onlystandby>
    BalancerMember http://{DEAD}
    BalancerMember http://{B2} status=+H
</Proxy>
<Proxy balancer://spares>
    BalancerMember http://{B1}
    BalancerMember http://{DEAD}
    BalancerMember http://{B3} status=+R
    BalancerMember http://{B4} status=+R
    BalancerMember http://{B2} status=+H
</Proxy>
ProxyPass /alive balancer://alive
ProxyPass /onlystandby balancer://onlystandby
ProxyPass /spares balancer://spares
`, "{DEAD}", dead, "{B1}", b1.addr, "{B2}", b2.addr, "{B3}", b3.addr, "{B4}", b4.addr)

	wantSequence(t, "standby while a member lives", members(t, s, "/alive", 4), "B1", "B1", "B1", "B1")
	wantSequence(t, "standby when all others are dead", members(t, s, "/onlystandby", 3), "B2", "B2", "B2")
	// Apache: request 2 finds DEAD and fails over to B1; then the first
	// spare replaces DEAD and competes with B1; B4 and the standby idle.
	wantSequence(t, "spare replaces a dead member", members(t, s, "/spares", 8), "B1", "B1", "B3", "B1", "B3", "B1", "B3", "B1")
}

func TestBalancerLBSetSpill(t *testing.T) {
	b1, b2, b3 := newBackend(t, "B1", nil), newBackend(t, "B2", nil), newBackend(t, "B3", nil)
	dead := testnet.ClosedAddr(t)
	s := startBalancer(t, "lbset.conf", `Listen 127.0.0.1:0
<Proxy balancer://spill>
    BalancerMember http://{DEAD} lbset=0
    BalancerMember http://{B1} lbset=1
    BalancerMember http://{B2} lbset=1
</Proxy>
<Proxy balancer://standbyfirst>
    BalancerMember http://{DEAD} lbset=0
    BalancerMember http://{B3} lbset=0 status=+H
    BalancerMember http://{B1} lbset=1
    BalancerMember http://{B2} lbset=1
</Proxy>
ProxyPass /spill balancer://spill
ProxyPass /standbyfirst balancer://standbyfirst
`, "{DEAD}", dead, "{B1}", b1.addr, "{B2}", b2.addr, "{B3}", b3.addr)

	wantSequence(t, "lbset 0 dead", members(t, s, "/spill", 4), "B1", "B2", "B1", "B2")
	wantSequence(t, "a standby of lbset 0 comes before lbset 1", members(t, s, "/standbyfirst", 4), "B3", "B3", "B3", "B3")
}

func TestBalancerAllDead(t *testing.T) {
	s := startBalancer(t, "alldead.conf", `Listen 127.0.0.1:0
<Proxy balancer://b>
    BalancerMember http://{D1}
    BalancerMember http://{D2}
</Proxy>
ProxyPass / balancer://b/
`, "{D1}", testnet.ClosedAddr(t), "{D2}", testnet.ClosedAddr(t))
	start := time.Now()
	for range 3 {
		// forcerecovery makes each request try the dead members again.
		wantStatus(t, getURI(t, s.Addr(), "/x"), 503)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("three 503s took %v, want them quickly", d)
	}
}

func TestBalancerMemberTimeout(t *testing.T) {
	slow := newBackend(t, "slow", func(w *bufio.Writer, r *backendReq) bool {
		select { // far beyond timeout=1, bounded by the test's end
		case <-time.After(4 * time.Second):
		case <-r.Done:
			return true
		}
		writeResp(w, 200, []string{"X-Backend: slow"}, "too late")
		return false
	})
	ok := newBackend(t, "ok", nil)
	s := startBalancer(t, "timeout.conf", `Listen 127.0.0.1:0
<Proxy balancer://b>
    BalancerMember http://{SLOW} timeout=1
    BalancerMember http://{OK}
</Proxy>
ProxyPass / balancer://b/
`, "{SLOW}", slow.addr, "{OK}", ok.addr)
	start := time.Now()
	wantStatus(t, getURI(t, s.Addr(), "/x"), 504)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("504 after %v, want about 1s", d)
	}
	if n := ok.count(); n != 0 {
		t.Errorf("a timeout failed over to the other member (%d requests); Apache does not", n)
	}
}

func TestBalancerFailOnStatus(t *testing.T) {
	sick := newBackend(t, "sick", func(w *bufio.Writer, _ *backendReq) bool {
		writeResp(w, 503, []string{"X-Backend: sick"}, "sick says 503")
		return false
	})
	well := newBackend(t, "well", nil)
	s := startBalancer(t, "fos.conf", `Listen 127.0.0.1:0
<Proxy balancer://b>
    BalancerMember http://{SICK}
    BalancerMember http://{WELL}
    ProxySet failonstatus=503
</Proxy>
ProxyPass / balancer://b/
`, "{SICK}", sick.addr, "{WELL}", well.addr)
	m := getURI(t, s.Addr(), "/x")
	wantStatus(t, m, 503)
	if string(m.Body) != "sick says 503" {
		t.Errorf("client got %q; the triggering response must be delivered", m.Body)
	}
	wantSequence(t, "after failonstatus", members(t, s, "/x", 4), "well", "well", "well", "well")
	if n := sick.count(); n != 1 {
		t.Errorf("sick member received %d requests, want 1", n)
	}
}

func TestBalancerTimeoutWaits(t *testing.T) {
	s := startBalancer(t, "wait.conf", `Listen 127.0.0.1:0
<Proxy balancer://b>
    BalancerMember http://{DEAD}
    ProxySet timeout=1 forcerecovery=Off
</Proxy>
ProxyPass / balancer://b/
`, "{DEAD}", testnet.ClosedAddr(t))
	wantStatus(t, getURI(t, s.Addr(), "/x"), 503) // puts the member in error
	start := time.Now()
	wantStatus(t, getURI(t, s.Addr(), "/x"), 503)
	// The wait ends at its deadline, never before; the upper bound is loose.
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("503 after %v, want it once the 1s balancer timeout passed", d)
	}
}

const stickyConf = `Listen 127.0.0.1:0
<Proxy balancer://s>
    BalancerMember http://{R1} route=r1
    BalancerMember http://{R2} route=r2
    BalancerMember http://{R3} route=r3 status=+N
    ProxySet stickysession=ROUTEID|routeid
</Proxy>
<Proxy balancer://fresh>
    BalancerMember http://{R1} route=r1
    BalancerMember http://{R2} route=r2
    BalancerMember http://{R3} route=r3 status=+N
    ProxySet stickysession=ROUTEID|routeid
</Proxy>
<Proxy balancer://nf>
    BalancerMember http://{R1} route=r1
    BalancerMember http://{DEAD} route=r2
    ProxySet stickysession=ROUTEID|routeid nofailover=On
</Proxy>
ProxyPass /s balancer://s
ProxyPass /fresh balancer://fresh
ProxyPass /nf balancer://nf
`

func TestBalancerSticky(t *testing.T) {
	r1, r2, r3 := newBackend(t, "r1", nil), newBackend(t, "r2", nil), newBackend(t, "r3", nil)
	s := startBalancer(t, "sticky.conf", stickyConf, "{R1}", r1.addr, "{R2}", r2.addr, "{R3}", r3.addr, "{DEAD}", testnet.ClosedAddr(t))

	routed := []struct {
		desc, uri, cookie, want string
	}{
		{"cookie", "/s/a", "ROUTEID=xyz.r2", "r2"},
		{"query parameter", "/s/a?routeid=abc.r1", "", "r1"},
		{"query parameter after another", "/s/a?foo=1&routeid=abc.r2", "", "r2"},
		{"path parameter", "/s/a;routeid=abc.r2", "", "r2"},
		{"URL wins over the cookie", "/s/a?routeid=abc.r1", "ROUTEID=.r2", "r1"},
		{"cookie among others, spaces around =", "/s/a", "foo=1; ROUTEID = q.r2", "r2"},
		{"draining member keeps its sessions", "/s/a", "ROUTEID=x.r3", "r3"},
	}
	for _, c := range routed {
		var hdr []string
		if c.cookie != "" {
			hdr = []string{"Cookie: " + c.cookie}
		}
		for range 3 {
			m := getURI(t, s.Addr(), c.uri, hdr...)
			wantStatus(t, m, 200)
			if got := m.Get("X-Backend"); got != c.want {
				t.Errorf("%s (%s, Cookie %q): went to %s, want %s", c.desc, c.uri, c.cookie, got, c.want)
			}
		}
	}

	// No usable route: the request is balanced over r1 and r2, and the
	// draining r3 is never chosen. A balancer of its own, as sticky traffic
	// shifts byrequests' scores (Apache counts it in the rotation).
	balanced := []struct{ desc, uri, cookie string }{
		{"unknown route", "/fresh/a", "ROUTEID=x.r9"},
		{"value without the separator", "/fresh/a", "ROUTEID=r2"},
		{"route after the first separator only", "/fresh/a", "ROUTEID=a.b.r2"},
		{"cookie name on a boundary", "/fresh/a", "XROUTEID=q.r2"},
		// Apache matches "routeid" inside "xrouteid" (apache.md §0.5);
		// sluice needs a boundary (docs/compatibility.md).
		{"URL parameter name on a boundary", "/fresh/a?xrouteid=abc.r2", ""},
	}
	for _, c := range balanced {
		var hdr []string
		if c.cookie != "" {
			hdr = []string{"Cookie: " + c.cookie}
		}
		wantSequence(t, c.desc, members(t, s, c.uri, 4, hdr...), "r1", "r2", "r1", "r2")
	}

	// nofailover: the routed member is dead, so 503 rather than another
	// member, now and once it is known to be in error.
	for range 2 {
		wantStatus(t, getURI(t, s.Addr(), "/nf/a", "Cookie: ROUTEID=.r2"), 503)
	}
	before := r1.count()
	wantSequence(t, "nofailover, live route", members(t, s, "/nf/a", 2, "Cookie: ROUTEID=.r1"), "r1", "r1")
	if n := r1.count() - before; n != 2 {
		t.Errorf("r1 received %d requests, want 2: the r2 requests must not reach it", n)
	}
}

func TestBalancerStickySetCookie(t *testing.T) {
	r1, r2 := newBackend(t, "r1", nil), newBackend(t, "r2", nil)
	s := startBalancer(t, "setcookie.yaml", `listen: ["127.0.0.1:0"]
server:
  routes:
    - {path: /s, target: balancer://s}
    - {path: /off, target: balancer://off}
  balancers:
    - name: s
      sticky_cookie: ROUTEID
      sticky_urlparam: routeid
      sticky_set_cookie: true
      members:
        - {url: "http://{R1}", route: r1}
        - {url: "http://{R2}", route: r2}
    - name: off
      sticky_cookie: ROUTEID
      sticky_urlparam: routeid
      stickysessionsep_off: true
      sticky_set_cookie: true
      members:
        - {url: "http://{R1}", route: r1}
`, "{R1}", r1.addr, "{R2}", r2.addr)

	cases := []struct {
		desc, uri, cookie, want string
	}{
		{"no cookie yet", "/s/a", "", "ROUTEID=.r1; Path=/"},
		{"routed by its cookie", "/s/a", "ROUTEID=.r2", ""},
		{"routed by the URL", "/s/a?routeid=x.r1", "", ""},
		{"unknown route", "/s/a", "ROUTEID=.r9", "ROUTEID=.r2; Path=/"},
		{"stickysessionsep Off", "/off/a", "", "ROUTEID=r1; Path=/"},
		{"stickysessionsep Off, routed", "/off/a", "ROUTEID=r1", ""},
	}
	for _, c := range cases {
		var hdr []string
		if c.cookie != "" {
			hdr = []string{"Cookie: " + c.cookie}
		}
		m := getURI(t, s.Addr(), c.uri, hdr...)
		wantStatus(t, m, 200)
		got := strings.Join(m.Values("Set-Cookie"), " | ")
		if got != c.want {
			t.Errorf("%s: Set-Cookie %q, want %q", c.desc, got, c.want)
		}
		if cookie, ok := strings.CutSuffix(c.want, "; Path=/"); ok && !strings.HasSuffix(cookie, m.Get("X-Backend")) {
			t.Errorf("%s: cookie %q names another member than %s", c.desc, cookie, m.Get("X-Backend"))
		}
	}
}

func TestBalancerRetryIdempotent(t *testing.T) {
	cut, alive := newBackend(t, "cut", closer), newBackend(t, "alive", nil)
	// One balancer per case, so that each starts at its first member, the
	// one that cuts the connection.
	s := startBalancer(t, "retry.yaml", `listen: ["127.0.0.1:0"]
server:
  routes:
    - {path: /get, target: balancer://get}
    - {path: /put, target: balancer://put}
    - {path: /post, target: balancer://post}
    - {path: /off, target: balancer://off}
  balancers:
    - {name: get, retry_idempotent: true, members: [{url: "http://{CUT}"}, {url: "http://{ALIVE}"}]}
    - {name: put, retry_idempotent: true, members: [{url: "http://{CUT}"}, {url: "http://{ALIVE}"}]}
    - {name: post, retry_idempotent: true, members: [{url: "http://{CUT}"}, {url: "http://{ALIVE}"}]}
    - {name: "off", members: [{url: "http://{CUT}"}, {url: "http://{ALIVE}"}]}
`, "{CUT}", cut.addr, "{ALIVE}", alive.addr)

	cases := []struct {
		desc, method, uri, body string
		status                  int
	}{
		{"GET is retried on the other member", "GET", "/get/x", "", 200},
		{"PUT body is replayed whole", "PUT", "/put/x", strings.Repeat("p", 20000), 200},
		{"POST is never retried", "POST", "/post/x", "data", 502},
		{"without the option, as Apache: no retry", "GET", "/off/x", "", 502},
	}
	for _, c := range cases {
		before, cutBefore := alive.count(), cut.count()
		m := rawDo(t, s.Addr(), buildReq(c.method, c.uri, "front.example.com", nil, c.body))
		wantStatus(t, m, c.status)
		if cut.count() == cutBefore {
			t.Fatalf("%s: the cutting member was not tried first", c.desc)
		}
		switch got := alive.count() - before; {
		case c.status != 200 && got != 0:
			t.Errorf("%s: the other member received %d requests, want none", c.desc, got)
		case c.status == 200 && (got != 1 || string(alive.last().Body) != c.body):
			t.Errorf("%s: the other member received %d requests, the last with %d body bytes; want 1 with %d", c.desc, got, len(alive.last().Body), len(c.body))
		}
	}
}
