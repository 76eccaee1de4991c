package main

// Real config 07 (DavidGL17/InfraHTTP): two sticky balancers defined at
// server level and used from a <VirtualHost>, single-quoted arguments, the
// same routes (1, 2) in both balancers, and Apache's ROUTEID cookie recipe.

import (
	"strings"
	"testing"
)

// real07Start runs the config with its four hosts replaced by backends
// named after balancer and route: dyn1, dyn2, st1, st2.
func real07Start(t *testing.T) (s *sluiceProc, bs map[string]*rawBackend) {
	t.Helper()
	bs = map[string]*rawBackend{}
	for _, n := range []string{"dyn1", "dyn2", "st1", "st2"} {
		bs[n] = redirectingBackend(t, n)
	}
	s = startReal(t, "07-heig-sticky-routeid.conf",
		"172.17.0.4:3000", bs["dyn1"].addr, "172.17.0.5:3000", bs["dyn2"].addr,
		"172.17.0.2:80", bs["st1"].addr, "172.17.0.3:80", bs["st2"].addr)
	return s, bs
}

// real07Route is the route of a backend named dynN/stN.
func real07Route(name string) string {
	if name == "" {
		return ""
	}
	return name[len(name)-1:]
}

// TestCompatReal07Routing: /api/animals/ goes to the dynamic balancer with
// its prefix replaced by the member's "/", everything else (including
// /api/animals without its slash) to the static one; the backend Host is
// the member's (ProxyPreserveHost Off); redirects are mapped back by the
// ProxyPassReverse of each balancer; the only vhost also answers other
// host names.
func TestCompatReal07Routing(t *testing.T) {
	s, bs := real07Start(t)
	seen := map[string]bool{}
	for range 2 {
		m := hostGet(t, s, "demo.example.com", "/api/animals/list?kind=cat")
		wantStatus(t, m, 200)
		name := m.Get("X-Backend")
		seen[name] = true
		if b := bs[name]; b == nil || !strings.HasPrefix(name, "dyn") {
			t.Fatalf("/api/animals/list went to %q, want a dynamic member", name)
		} else if r := b.last(); r.URI != "/list?kind=cat" || r.Get("Host") != b.addr ||
			r.Get("X-Forwarded-Host") != "demo.example.com" || r.Get("X-Forwarded-Server") != "demo.example.com" {
			t.Errorf("dynamic member got %s Host %q X-Forwarded-Host %q X-Forwarded-Server %q",
				r.URI, r.Get("Host"), r.Get("X-Forwarded-Host"), r.Get("X-Forwarded-Server"))
		}
	}
	if !seen["dyn1"] || !seen["dyn2"] {
		t.Errorf("byrequests should use both dynamic members in two requests: %v", seen)
	}

	for _, uri := range []string{"/", "/index.html", "/api/animals", "/api/animalsx/y"} {
		m := hostGet(t, s, "demo.example.com", uri)
		wantStatus(t, m, 200)
		name := m.Get("X-Backend")
		if !strings.HasPrefix(name, "st") {
			t.Errorf("%s went to %q, want a static member", uri, name)
		} else if got := bs[name].last().URI; got != uri {
			t.Errorf("%s reached the static member as %q", uri, got)
		}
	}

	// A Host that names no vhost gets the first (only) vhost, as in Apache.
	m := hostGet(t, s, "other.example.org", "/api/animals/x")
	if name := m.Get("X-Backend"); !strings.HasPrefix(name, "dyn") {
		t.Errorf("unknown Host: /api/animals/x went to %q (status %d)", name, m.Status)
	}

	// ProxyPassReverse: each balancer's member URLs map back to its path;
	// sluice joins /api/animals/ and /landed with one slash
	// (docs/compatibility.md, ProxyPassReverse double slash).
	m = hostGet(t, s, "demo.example.com", "/api/animals/redir", "Cookie: ROUTEID=.1")
	wantStatus(t, m, 302)
	wantBackend(t, m, "dyn1")
	if got, want := m.Get("Location"), "http://demo.example.com/api/animals/landed"; got != want {
		t.Errorf("dynamic redirect Location = %q, want %q", got, want)
	}
	m = hostGet(t, s, "demo.example.com", "/redir", "Cookie: ROUTEID=.2")
	wantStatus(t, m, 302)
	wantBackend(t, m, "st2")
	if got, want := m.Get("Location"), "http://demo.example.com/landed"; got != want {
		t.Errorf("static redirect Location = %q, want %q", got, want)
	}
}

// TestCompatReal07StickyRoutes: the first response sets ROUTEID=.<route>;
// the same cookie then picks route N in whichever balancer the path goes
// to (the route names repeat across balancers), and sticky requests get no
// new cookie. A route no member has, and a value without the "."
// separator, are balanced and get a new cookie (apache.md §4.7).
func TestCompatReal07StickyRoutes(t *testing.T) {
	s, _ := real07Start(t)
	for _, uri := range []string{"/", "/api/animals/"} {
		m := hostGet(t, s, "demo.example.com", uri)
		wantStatus(t, m, 200)
		route := real07Route(m.Get("X-Backend"))
		if got, want := strings.Join(m.Values("Set-Cookie"), " | "), "ROUTEID=."+route+"; path=/"; route == "" || got != want {
			t.Errorf("%s: first response from %q set %q, want %q", uri, m.Get("X-Backend"), got, want)
		}
	}

	for _, route := range []string{"1", "2"} {
		for range 2 {
			for _, tc := range []struct{ uri, want string }{
				{"/api/animals/x", "dyn" + route},
				{"/page", "st" + route},
			} {
				m := hostGet(t, s, "demo.example.com", tc.uri, "Cookie: lang=fr; ROUTEID=."+route)
				wantStatus(t, m, 200)
				wantBackend(t, m, tc.want)
				if v := m.Values("Set-Cookie"); len(v) != 0 {
					t.Errorf("%s with ROUTEID=.%s stuck but got Set-Cookie %q", tc.uri, route, v)
				}
			}
		}
	}

	// stickysession=ROUTEID also names the URL parameter; it wins over the cookie.
	m := hostGet(t, s, "demo.example.com", "/page?ROUTEID=x.2", "Cookie: ROUTEID=.1")
	wantBackend(t, m, "st2")
	if v := m.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("URL route: got Set-Cookie %q", v)
	}

	for _, cookie := range []string{"ROUTEID=.3", "ROUTEID=2"} {
		for range 2 {
			m := hostGet(t, s, "demo.example.com", "/api/animals/x", "Cookie: "+cookie)
			wantStatus(t, m, 200)
			name := m.Get("X-Backend")
			if got, want := m.Get("Set-Cookie"), "ROUTEID=."+real07Route(name)+"; path=/"; !strings.HasPrefix(name, "dyn") || got != want {
				t.Errorf("Cookie %s went to %q with Set-Cookie %q, want a dynamic member and %q", cookie, name, got, want)
			}
		}
	}
}
