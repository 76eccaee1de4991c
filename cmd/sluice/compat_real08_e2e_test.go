package main

// Real config 08 (a HEIG-VD lab template): two balancers in one vhost,
// single-quoted arguments, no lbmethod (byrequests), ProxyPassReverse for
// both, and a balancer-manager <Location> with "Require host" that the
// file does not exclude from ProxyPass '/'.

import (
	"bufio"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

const real08Conf = "08-heig-manager-require-host.conf"

// real08Members are the four backends: r1, r2 behind
// balancer://myclusterrandom, w1, w2 behind balancer://mycluster.
type real08Members struct{ r1, r2, w1, w2 *rawBackend }

// real08Backend answers "<name> METHOD URI" with X-Backend, and a URI
// ending in /redir with a 302 to its own absolute URL (the Host it was
// sent, ProxyPreserveHost being off) with /redir replaced by /landed.
func real08Backend(t *testing.T, name string) *rawBackend {
	return newBackend(t, name, func(w *bufio.Writer, r *backendReq) bool {
		if rest, ok := strings.CutSuffix(r.URI, "/redir"); ok {
			writeResp(w, 302, []string{"X-Backend: " + name, "Location: http://" + r.Get("Host") + rest + "/landed"}, "")
			return false
		}
		writeResp(w, 200, []string{"X-Backend: " + name}, name+" "+r.Method+" "+r.URI)
		return false
	})
}

func real08Start(t *testing.T, extra ...string) (*sluiceProc, real08Members) {
	t.Helper()
	b := real08Members{real08Backend(t, "r1"), real08Backend(t, "r2"), real08Backend(t, "w1"), real08Backend(t, "w2")}
	s := startReal(t, real08Conf, append([]string{
		"172.17.0.4:3000", b.r1.addr, "172.17.0.5:3000", b.r2.addr,
		"172.17.0.2:80", b.w1.addr, "172.17.0.3:80", b.w2.addr}, extra...)...)
	return s, b
}

func (b real08Members) total() int { return b.r1.count() + b.r2.count() + b.w1.count() + b.w2.count() }

// TestCompatReal08Routing: '/api/random/' goes to myclusterrandom with the
// prefix replaced by '/', everything else (including /api/random without
// its slash) to mycluster unchanged; each balancer alternates its own two
// members (no lbmethod: byrequests); ProxyPassReverse maps both.
func TestCompatReal08Routing(t *testing.T) {
	s, b := real08Start(t)
	const host = "demo.example.com"

	// byrequests, two members at loadfactor 1, per balancer: first, second,
	// first, second (apache.md §4.2, ties go to the earlier member); the
	// interleaving shows the two balancers keep separate state.
	var got []string
	for _, uri := range []string{"/api/random/a", "/a", "/api/random/b", "/b", "/api/random/c", "/c", "/api/random/d", "/d"} {
		m := hostGet(t, s, host, uri)
		wantStatus(t, m, 200)
		got = append(got, m.Get("X-Backend"))
	}
	wantSequence(t, "interleaved balancers", got, "r1", "w1", "r2", "w2", "r1", "w1", "r2", "w2")

	random := map[string]*rawBackend{"r1": b.r1, "r2": b.r2}
	main := map[string]*rawBackend{"w1": b.w1, "w2": b.w2}
	for _, c := range []struct {
		uri     string
		bal     map[string]*rawBackend
		wantURI string
	}{
		{"/api/random/", random, "/"},
		{"/api/random/x?n=1", random, "/x?n=1"},
		{"/api/random/deep/er/", random, "/deep/er/"},
		// ProxyPass '/api/random/' does not match /api/random (apache.md
		// §1.1): ProxyPass '/' takes it, path unchanged.
		{"/api/random", main, "/api/random"},
		{"/api/randomx", main, "/api/randomx"},
		{"/", main, "/"},
		{"/index.html?a=b&c", main, "/index.html?a=b&c"},
		{"/api/other", main, "/api/other"},
	} {
		m := hostGet(t, s, host, c.uri)
		wantStatus(t, m, 200)
		be := c.bal[m.Get("X-Backend")]
		if be == nil {
			t.Errorf("%s went to %q, want one of %v", c.uri, m.Get("X-Backend"), slices.Sorted(maps.Keys(c.bal)))
			continue
		}
		if r := be.last(); r.URI != c.wantURI || r.Method != "GET" {
			t.Errorf("%s: member %s got %s %s, want GET %s", c.uri, be.name, r.Method, r.URI, c.wantURI)
		}
	}

	// ProxyPassReverse '/api/random/' 'balancer://myclusterrandom/': Apache
	// gives /api/random//landed; sluice drops one slash
	// (docs/compatibility.md "ProxyPassReverse double slash"). The absolute
	// form comes from the client's Host.
	for uri, want := range map[string]string{
		"/api/random/redir":   "http://demo.example.com/api/random/landed",
		"/api/random/x/redir": "http://demo.example.com/api/random/x/landed",
		"/redir":              "http://demo.example.com/landed",
		"/app/redir":          "http://demo.example.com/app/landed",
	} {
		m := hostGet(t, s, host, uri)
		wantStatus(t, m, 302)
		if got := m.Get("Location"); got != want {
			t.Errorf("%s: Location %q, want %q", uri, got, want)
		}
	}
}

// real08Balancers decodes GET …/api/balancers into name → member ids and
// checks the default lbmethod.
func real08Balancers(t *testing.T, m *wireMsg) map[string][]string {
	t.Helper()
	var out managerBalancers
	if err := json.Unmarshal(m.Body, &out); err != nil {
		t.Fatalf("manager API answered %d %q: %v", m.Status, m.Body, err)
	}
	if out.ServerName != "demo.example.com" {
		t.Errorf("server_name %q, want the vhost's ServerName", out.ServerName)
	}
	got := map[string][]string{}
	for _, b := range out.Balancers {
		if b.LBMethod != "byrequests" {
			t.Errorf("balancer %s: lbmethod %q, want the default byrequests", b.Name, b.LBMethod)
		}
		for _, mem := range b.Members {
			got[b.Name] = append(got[b.Name], mem.ID)
		}
	}
	return got
}

// TestCompatReal08ManagerRequireHost: the manager <Location> has
// "Require host demo.example.com" and no "ProxyPass /balancer-manager !".
// In Apache, ProxyPass '/' takes the manager URL (the README's note);
// sluice answers its manager locations before ProxyPass
// (docs/compatibility.md "Manager location vs ProxyPass /"). Either way
// the Require is enforced: 127.0.0.1's forward-confirmed name is not
// demo.example.com, so the file as is gives 403 and nothing reaches a
// member; with the name replaced by localhost the page and the API answer.
func TestCompatReal08ManagerRequireHost(t *testing.T) {
	t.Run("as written", func(t *testing.T) {
		s, b := real08Start(t)
		for _, uri := range []string{"/balancer-manager", "/balancer-manager/", "/balancer-manager/api/balancers"} {
			m := hostGet(t, s, "demo.example.com", uri)
			wantStatus(t, m, 403)
		}
		if n := b.total(); n != 0 {
			t.Errorf("refused manager requests reached members %d times", n)
		}
		// The Location and its Require stop at the path segment.
		m := hostGet(t, s, "demo.example.com", "/balancer-managerx")
		wantStatus(t, m, 200)
		if be := m.Get("X-Backend"); be != "w1" && be != "w2" {
			t.Errorf("/balancer-managerx went to %q, want mycluster", be)
		}
	})

	t.Run("Require host localhost", func(t *testing.T) {
		s, b := real08Start(t, "Require host demo.example.com", "Require host localhost")
		m := hostGet(t, s, "demo.example.com", "/balancer-manager/api/balancers")
		wantStatus(t, m, 200)
		got := real08Balancers(t, m)
		want := map[string][]string{
			"mycluster":       {"http://" + b.w1.addr, "http://" + b.w2.addr},
			"myclusterrandom": {"http://" + b.r1.addr, "http://" + b.r2.addr},
		}
		for name, ids := range want {
			if !slices.Equal(got[name], ids) {
				t.Errorf("balancer %s members %v, want %v", name, got[name], ids)
			}
		}
		if len(got) != len(want) {
			t.Errorf("manager shows balancers %v, want exactly mycluster and myclusterrandom", got)
		}

		m = hostGet(t, s, "demo.example.com", "/balancer-manager/")
		wantStatus(t, m, 200)
		if !strings.HasPrefix(m.Get("Content-Type"), "text/html") || !strings.Contains(string(m.Body), "<title>") {
			t.Errorf("manager page: type %q body %.80q", m.Get("Content-Type"), m.Body)
		}
		// A Host that is not the vhost's name (DNS rebinding) is refused
		// even where Require grants (docs/admin.md "Who may change what").
		wantStatus(t, hostGet(t, s, "rebind.evil.example", "/balancer-manager/api/balancers"), 403)

		if n := b.total(); n != 0 {
			t.Errorf("manager requests reached members %d times", n)
		}
		// Proxying is unaffected.
		wantStatus(t, hostGet(t, s, "demo.example.com", "/api/random/x"), 200)
	})
}
