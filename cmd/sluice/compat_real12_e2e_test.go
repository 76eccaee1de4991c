package main

// Real config 12 (hupratt/aws-scripting): five name-based *:80 vhosts,
// each defining its own <Proxy balancer://mycluster> over the same two
// members (route=1, route=2, stickysession=ROUTEID) with the mod_headers
// cookie recipe, and "ProxyPass / balancer://mycluster" (no slash on the
// target). Each vhost's balancer has a state of its own, as in Apache.

import (
	"net/url"
	"strings"
	"syscall"
	"testing"
)

const real12Conf = "12-multi-vhost-same-balancer.conf"

var real12Hosts = []string{"www.example.com", "shop.example.com", "www.example.org", "rural.example.org", "portfolio.example.org"}

func real12Start(t *testing.T) (s *sluiceProc, n1, n2 *rawBackend) {
	t.Helper()
	n1, n2 = newBackend(t, "1", nil), newBackend(t, "2", nil)
	s = startReal(t, real12Conf, "192.0.2.21:80", n1.addr, "192.0.2.22:80", n2.addr)
	return s, n1, n2
}

// real12Cookie checks the Header recipe's cookie: ROUTEID=.<route> when
// the route changed, none otherwise. Backends are named by their route.
func real12Cookie(t *testing.T, what string, m *wireMsg, changed bool) {
	t.Helper()
	got := m.Values("Set-Cookie")
	switch {
	case changed && (len(got) != 1 || got[0] != "ROUTEID=."+m.Get("X-Backend")+"; path=/"):
		t.Errorf("%s: answered by %q with Set-Cookie %q, want one ROUTEID=.%s; path=/", what, m.Get("X-Backend"), got, m.Get("X-Backend"))
	case !changed && len(got) != 0:
		t.Errorf("%s: a request that stuck got Set-Cookie %q", what, got)
	}
}

// TestCompatReal12BalancerPerVhost: the five vhosts' balancer://mycluster
// are five balancers, as in Apache: from a fresh start the first request to
// each goes to member 1 (byrequests turns in each vhost on its own; until
// the twelfth session they shared the members' state and went 1 2 1 2 1),
// the manager of one vhost lists its own as mycluster@www.example.com:80,
// and disabling a member there leaves the other vhosts' members alone.
func TestCompatReal12BalancerPerVhost(t *testing.T) {
	n1, n2 := newBackend(t, "1", nil), newBackend(t, "2", nil)
	text, err := readReal(t, real12Conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, t.TempDir(), real12Conf, "Listen 127.0.0.1:0\nBalancerPersist On\n"+string(text),
		"192.0.2.21:80", n1.addr, "192.0.2.22:80", n2.addr,
		"    DocumentRoot /home/ubuntu/Dev/la_petite_portugaise/\n",
		"    <Location /balancer-manager>\n        SetHandler balancer-manager\n        Require local\n    </Location>\n")
	state := t.TempDir()
	s := startSluiceArgs(t, "-config", cfg, "-state-dir", state)
	var first []string
	for _, host := range real12Hosts {
		m := hostGet(t, s, host, "/")
		wantStatus(t, m, 200)
		first = append(first, m.Get("X-Backend"))
	}
	wantSequence(t, "the first request to each vhost", first, "1", "1", "1", "1", "1")

	m := hostGet(t, s, "www.example.com", "/balancer-manager/api/balancers")
	wantStatus(t, m, 200)
	if body := strings.ReplaceAll(string(m.Body), " ", ""); !strings.Contains(body, `"name":"mycluster@www.example.com:80"`) || strings.Count(body, `"name":"mycluster`) != 1 {
		t.Fatalf("www.example.com's manager lists %.600s, want its own mycluster@www.example.com:80 alone", body)
	}
	member := "/balancer-manager/api/balancers/mycluster@www.example.com:80/members/" + url.PathEscape("http://"+n1.addr)
	m = rawDo(t, s.Addr(), buildReq("PATCH", member, "www.example.com",
		[]string{"If-Match: *", "Content-Type: application/json"}, `{"status":"+D"}`))
	wantStatus(t, m, 200)
	for range 4 {
		wantBackend(t, hostGet(t, s, "www.example.com", "/"), "2")
	}
	seen := map[string]int{}
	for range 4 {
		seen[hostGet(t, s, "shop.example.com", "/").Get("X-Backend")]++
	}
	if seen["1"] == 0 {
		t.Errorf("shop.example.com after www.example.com disabled its member 1: %v, want member 1 still used", seen)
	}

	// BalancerPersist keeps the change for www.example.com's balancer alone.
	s.signal(syscall.SIGTERM)
	if _, err := s.waitExit(stopTimeout); err != nil {
		t.Fatal(err)
	}
	s = startSluiceArgs(t, "-config", cfg, "-state-dir", state)
	clear(seen)
	for range 4 {
		seen[hostGet(t, s, "www.example.com", "/").Get("X-Backend")]++
		seen["shop "+hostGet(t, s, "shop.example.com", "/").Get("X-Backend")]++
	}
	if seen["1"] != 0 || seen["shop 1"] == 0 {
		t.Errorf("after a restart: %v, want www.example.com only on member 2 and shop.example.com on both", seen)
	}
}

// TestCompatReal12StickyPerVhost: every vhost proxies / to its
// balancer://mycluster, sticks on ROUTEID=.<route>, and sets the cookie
// only when the route changed (apache.md §4.7).
func TestCompatReal12StickyPerVhost(t *testing.T) {
	s, n1, n2 := real12Start(t)
	byRoute := map[string]*rawBackend{"1": n1, "2": n2}

	// One vhost from a fresh start: byrequests (no lbmethod), and a sticky
	// pick is charged to lbstatus like a balanced one (mod_proxy_balancer's
	// pre_request: "so that even session routes get into account"), so
	// after two sticky requests to 2 the next three go 1, 1, 2.
	var seq []string
	for i, cookie := range []string{"", "ROUTEID=.2", "ROUTEID=.2", "", "", ""} {
		var hdr []string
		if cookie != "" {
			hdr = []string{"Cookie: " + cookie}
		}
		m := hostGet(t, s, "www.example.com", "/", hdr...)
		wantStatus(t, m, 200)
		real12Cookie(t, "www request "+string(rune('1'+i)), m, cookie == "")
		seq = append(seq, m.Get("X-Backend"))
	}
	wantSequence(t, "www.example.com", seq, "1", "2", "2", "1", "1", "2")

	for _, host := range append(real12Hosts, "Shop.Example.com:80", "unknown.example.net") {
		for _, route := range []string{"1", "2"} {
			m := hostGet(t, s, host, "/?q="+route, "Cookie: other=x; ROUTEID=sess."+route)
			wantStatus(t, m, 200)
			wantBackend(t, m, route)
			real12Cookie(t, host+" route "+route, m, false)
			if r := byRoute[route].last(); r.URI != "/?q="+route {
				t.Errorf("%s: member %s got %s, want /?q=%s", host, route, r.URI, route)
			}
		}
		// An unknown route, a value without the "." separator, and one
		// whose route is the text after the first "." (".a.2" is route
		// "a.2") are balanced and get a new cookie (apache.md surprise 4).
		for _, cookie := range []string{"ROUTEID=.9", "ROUTEID=2", "ROUTEID=.a.2"} {
			m := hostGet(t, s, host, "/", "Cookie: "+cookie)
			wantStatus(t, m, 200)
			if byRoute[m.Get("X-Backend")] == nil {
				t.Errorf("%s with %s went to %q", host, cookie, m.Get("X-Backend"))
			}
			real12Cookie(t, host+" with "+cookie, m, true)
		}
	}
}

// TestCompatReal12RootWithoutSlash: "ProxyPass / balancer://mycluster"
// maps /foo to real + uri[len("/"):] = "balancer://myclusterfoo" in Apache
// (apache.md §1.1 "Rewrite result"; mod_proxy.c ap_proxy_trans_match), a
// balancer that does not exist, so Apache answers 500 (AH01144) for
// everything but / itself. sluice puts one slash at the join, sends /foo
// to a member as /foo, and warns at load (docs/compatibility.md).
func TestCompatReal12RootWithoutSlash(t *testing.T) {
	s, n1, n2 := real12Start(t)
	for _, uri := range []string{"/foo", "/static/app.css?v=1"} {
		m := hostGet(t, s, "www.example.com", uri)
		wantStatus(t, m, 200)
		b := map[string]*rawBackend{"1": n1, "2": n2}[m.Get("X-Backend")]
		if b == nil || b.last().URI != uri {
			t.Errorf("%s went to %q", uri, m.Get("X-Backend"))
		}
	}
	// One warning per vhost, each naming its line.
	if n := strings.Count(s.log(), real12Conf+":"); n != len(real12Hosts) || strings.Count(s.log(), "ProxyPass / balancer://mycluster: one ends in / and the other does not") != n {
		t.Errorf("%d warnings naming the file, want one per vhost (%d)", n, len(real12Hosts))
	}
}
