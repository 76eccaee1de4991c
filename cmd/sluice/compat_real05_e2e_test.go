package main

// Real config 05 (thomasdarimont/keycloak-project-example): members
// checked with GET on Keycloak's OpenID discovery document and
// ProxyHCExpr found_issuer {hc('body') =~ /issuer/}; ProxySet
// stickysession=ROUTEID overridden on the ProxyPass by
// stickysession=KC_ROUTEID|kc_routeid scolonpathdelim=On, with the
// KC_ROUTEID cookie set by the Header recipe; ProxyPass /server-status !.

import (
	"bufio"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const real05HCURI = "/auth/realms/master/.well-known/openid-configuration"

// real05Keycloak answers the discovery document with a switchable status
// and body; other requests are echoed, and /auth/redir redirects to the
// node's own absolute URL.
type real05Keycloak struct {
	*rawBackend
	status atomic.Int32
	body   atomic.Pointer[string]
	checks atomic.Int32
}

func real05NewKeycloak(t *testing.T, name string) *real05Keycloak {
	t.Helper()
	k := &real05Keycloak{}
	k.set(200, `{"issuer":"http://id.example.com/auth/realms/master"}`)
	k.rawBackend = newBackend(t, name, k.handle)
	return k
}

func (k *real05Keycloak) set(status int, body string) {
	k.status.Store(int32(status))
	k.body.Store(&body)
}

func (k *real05Keycloak) handle(w *bufio.Writer, r *backendReq) bool {
	switch r.URI {
	case real05HCURI:
		k.checks.Add(1)
		writeResp(w, int(k.status.Load()), []string{"Content-Type: application/json"}, *k.body.Load())
		return true
	case "/auth/redir":
		writeResp(w, 302, []string{"X-Backend: " + k.name, "Location: http://" + k.addr + "/auth/admin/"}, "")
		return false
	}
	return k.echo(w, r)
}

// traffic counts the requests k got other than health checks.
func (k *real05Keycloak) traffic() int {
	n := 0
	for _, r := range k.requests() {
		if r.URI != real05HCURI {
			n++
		}
	}
	return n
}

// real05Start runs the config with keycloak1/2 replaced by nodes named
// after their routes, "1" and "2". The members set no hcinterval (30 s);
// the test shortens it to 100ms.
func real05Start(t *testing.T) (*sluiceProc, *real05Keycloak, *real05Keycloak) {
	t.Helper()
	k1, k2 := real05NewKeycloak(t, "1"), real05NewKeycloak(t, "2")
	s := startReal(t, "05-keycloak-hc-body-sticky.conf",
		"keycloak1.example.com:8080", k1.addr, "keycloak2.example.com:8080", k2.addr,
		"hcmethod=GET", "hcmethod=GET hcinterval=100ms")
	return s, k1, k2
}

// real05WaitChecks waits until k has had n health checks.
func real05WaitChecks(t *testing.T, k *real05Keycloak, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for k.checks.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("node %s got %d health checks in 5 s, want %d", k.name, k.checks.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCompatReal05StickyOverride: the ProxyPass stickysession wins over the
// <Proxy> section's ProxySet, as Apache applies both in file order: the
// KC_ROUTEID cookie and the kc_routeid URL parameter (value ended by ";"
// too, scolonpathdelim=On) are sticky, ROUTEID is not.
func TestCompatReal05StickyOverride(t *testing.T) {
	s, _, _ := real05Start(t)
	m := hostGet(t, s, "id.example.com", "/auth/realms/acme/account")
	wantStatus(t, m, 200)
	route := m.Get("X-Backend")
	if got, want := strings.Join(m.Values("Set-Cookie"), " | "), "KC_ROUTEID=."+route+"; path=/"; got != want {
		t.Fatalf("first answer from %q set %q, want %q", route, got, want)
	}

	for _, r := range []string{"1", "2"} {
		for range 2 {
			m := hostGet(t, s, "id.example.com", "/auth/realms/acme/protocol/openid-connect/auth", "Cookie: KC_ROUTEID=."+r)
			wantBackend(t, m, r)
			if v := m.Values("Set-Cookie"); len(v) != 0 {
				t.Errorf("KC_ROUTEID=.%s stuck but got Set-Cookie %q", r, v)
			}
		}
	}

	for _, tc := range []struct{ uri, cookie, want string }{
		{"/auth/resources/x?kc_routeid=sess.2", "", "2"},
		{"/auth/resources/x?kc_routeid=sess.1;jsessionid=abc", "", "1"}, // ";" ends the value
		{"/auth/resources/x;kc_routeid=sess.2", "KC_ROUTEID=.1", "2"},   // the URL wins over the cookie
		{"/auth/resources/x?a=b&kc_routeid=sess.1", "KC_ROUTEID=.2", "1"},
	} {
		var h []string
		if tc.cookie != "" {
			h = append(h, "Cookie: "+tc.cookie)
		}
		for range 2 {
			m := hostGet(t, s, "id.example.com", tc.uri, h...)
			wantBackend(t, m, tc.want)
			if v := m.Values("Set-Cookie"); len(v) != 0 {
				t.Errorf("%s (cookie %q) stuck but got Set-Cookie %q", tc.uri, tc.cookie, v)
			}
		}
	}

	// ROUTEID, the ProxySet's name, was overridden; names are
	// case-sensitive (the cookie is KC_ROUTEID, the URL parameter
	// kc_routeid): none of these stick, so each is balanced and gets a
	// new cookie.
	for _, tc := range []struct{ uri, cookie string }{
		{"/auth/x", "ROUTEID=.2"},
		{"/auth/x", "kc_routeid=.2"},
		{"/auth/x?KC_ROUTEID=s.2", ""},
	} {
		seen := map[string]bool{}
		for range 4 {
			var h []string
			if tc.cookie != "" {
				h = append(h, "Cookie: "+tc.cookie)
			}
			m := hostGet(t, s, "id.example.com", tc.uri, h...)
			name := m.Get("X-Backend")
			seen[name] = true
			if got, want := m.Get("Set-Cookie"), "KC_ROUTEID=."+name+"; path=/"; got != want {
				t.Errorf("%s with cookie %q: went to %q with Set-Cookie %q, want %q", tc.uri, tc.cookie, name, got, want)
			}
		}
		if !seen["1"] || !seen["2"] {
			t.Errorf("%s with cookie %q must not stick: served by %v", tc.uri, tc.cookie, seen)
		}
	}
}

// TestCompatReal05Proxying: ProxyPass /server-status ! keeps that path
// (and only it: /server-statusx is proxied) away from Keycloak; sluice has
// no server-status handler (SetHandler server-status is warned and
// ignored, docs/config.md), so it answers 404. ProxyPreserveHost on sends
// the client's Host; X-Forwarded-Server is the main server's ServerName,
// which the vhost inherits; ProxyPassReverse maps Keycloak's redirects.
func TestCompatReal05Proxying(t *testing.T) {
	s, k1, k2 := real05Start(t)
	m := hostGet(t, s, "id.example.com", "/server-status")
	wantStatus(t, m, 404)
	m = hostGet(t, s, "id.example.com", "/server-status/x?auto")
	wantStatus(t, m, 404)
	if n := k1.traffic() + k2.traffic(); n != 0 {
		t.Errorf("/server-status reached Keycloak (%d requests)", n)
	}
	m = hostGet(t, s, "id.example.com", "/server-statusx")
	wantStatus(t, m, 200)
	if name := m.Get("X-Backend"); name != "1" && name != "2" {
		t.Errorf("/server-statusx went to %q", name)
	}

	m = hostGet(t, s, "id.example.com:443", "/auth/realms/acme/", "Cookie: KC_ROUTEID=.2")
	wantBackend(t, m, "2")
	r := k2.last()
	if r.URI != "/auth/realms/acme/" || r.Get("Host") != "id.example.com:443" {
		t.Errorf("Keycloak got %s with Host %q, want the client's Host (ProxyPreserveHost on)", r.URI, r.Get("Host"))
	}
	if r.Get("X-Forwarded-Host") != "id.example.com:443" || r.Get("X-Forwarded-Server") != "id.example.com" || r.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("X-Forwarded-Host %q, -Server %q, -For %q", r.Get("X-Forwarded-Host"), r.Get("X-Forwarded-Server"), r.Get("X-Forwarded-For"))
	}

	m = hostGet(t, s, "id.example.com", "/auth/redir", "Cookie: KC_ROUTEID=.1")
	wantStatus(t, m, 302)
	wantBackend(t, m, "1")
	if got, want := m.Get("Location"), "http://id.example.com/auth/admin/"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
}

// TestCompatReal05HealthBody: the check is GET <hcuri> HTTP/1.0, and
// found_issuer looks at the body only: a 503 whose body names the issuer
// passes, a 200 without it fails (C), taking the node out of rotation and
// moving its sticky sessions (new KC_ROUTEID cookie); with both nodes
// failing every request gets 503; a check that finds the issuer again
// brings a node back, sticky sessions included.
func TestCompatReal05HealthBody(t *testing.T) {
	s, k1, k2 := real05Start(t)
	real05WaitChecks(t, k1, 1)
	real05WaitChecks(t, k2, 1)
	for _, k := range []*real05Keycloak{k1, k2} {
		var hc *wireMsg
		for _, r := range k.requests() {
			if r.URI == real05HCURI {
				hc = r
				break
			}
		}
		if hc.Method != "GET" || hc.Proto != "HTTP/1.0" || hc.Get("Host") != k.addr {
			t.Errorf("node %s check: %s %s %s Host %q, want GET %s HTTP/1.0 Host %s", k.name, hc.Method, hc.URI, hc.Proto, hc.Get("Host"), real05HCURI, k.addr)
		}
	}

	from := s.lineCount()
	k1.set(503, `{"issuer":"http://id.example.com/auth/realms/master","note":"starting"}`)
	real05WaitChecks(t, k1, k1.checks.Load()+2)
	if _, err := s.waitLog(0, from, func(f map[string]string) bool { return f["msg"] == "health check failed, member disabled" }); err == nil {
		t.Errorf("a 503 whose body holds the issuer disabled a node; found_issuer only reads the body")
	}
	m := hostGet(t, s, "id.example.com", "/auth/x", "Cookie: KC_ROUTEID=.1")
	wantBackend(t, m, "1")

	from = s.lineCount()
	k1.set(200, "<html>Keycloak is starting</html>")
	f := s.waitMsg(from, "health check failed, member disabled")
	if !strings.Contains(f["member"], k1.addr) || !strings.Contains(f["why"], "found_issuer") {
		t.Fatalf("disabled %q because %q, want node 1 and found_issuer", f["member"], f["why"])
	}
	before := k1.traffic()
	for range 4 {
		wantBackend(t, hostGet(t, s, "id.example.com", "/auth/x"), "2")
	}
	m = hostGet(t, s, "id.example.com", "/auth/x", "Cookie: KC_ROUTEID=.1")
	wantBackend(t, m, "2")
	if got, want := m.Get("Set-Cookie"), "KC_ROUTEID=.2; path=/"; got != want {
		t.Errorf("session on the down node: Set-Cookie %q, want %q", got, want)
	}
	if n := k1.traffic() - before; n != 0 {
		t.Errorf("node 1 got %d requests while its check failed", n)
	}

	// Both nodes failing: C is not cleared by forcerecovery (only E is,
	// apache.md §4.5), so there is no member to use: 503.
	from = s.lineCount()
	k2.set(200, "<html>Keycloak is starting</html>")
	f = s.waitMsg(from, "health check failed, member disabled")
	if !strings.Contains(f["member"], k2.addr) {
		t.Fatalf("disabled %q, want node 2", f["member"])
	}
	before = k1.traffic() + k2.traffic()
	for _, h := range [][]string{nil, {"Cookie: KC_ROUTEID=.2"}} {
		m := hostGet(t, s, "id.example.com", "/auth/x", h...)
		wantStatus(t, m, 503)
		if m.Has("X-Backend") {
			t.Errorf("with every node down the 503 came from %q", m.Get("X-Backend"))
		}
	}
	if n := k1.traffic() + k2.traffic() - before; n != 0 {
		t.Errorf("%d requests reached a node while both checks failed", n)
	}

	from = s.lineCount()
	k1.set(200, `{"issuer":"http://id.example.com/auth/realms/master"}`)
	k2.set(200, `{"issuer":"http://id.example.com/auth/realms/master"}`)
	for _, k := range []*real05Keycloak{k1, k2} {
		if _, err := s.waitLog(startTimeout, from, func(f map[string]string) bool {
			return f["msg"] == "health check passed, member enabled" && strings.Contains(f["member"], k.addr)
		}); err != nil {
			t.Fatalf("node %s not enabled again: %v", k.name, err)
		}
	}
	m = hostGet(t, s, "id.example.com", "/auth/x", "Cookie: KC_ROUTEID=.1")
	wantBackend(t, m, "1")
	if v := m.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("sticky request to the recovered node got Set-Cookie %q", v)
	}
	// Unsticky requests reach node 1 again; byrequests credited node 2
	// while node 1 was out, so node 1's turn may take a few requests, as
	// in Apache (apache.md §4.2).
	seen := map[string]int{}
	for range 6 {
		seen[hostGet(t, s, "id.example.com", "/auth/x").Get("X-Backend")]++
	}
	if seen["1"] == 0 || seen["1"]+seen["2"] != 6 {
		t.Errorf("after recovery, six requests were served by %v; want node 1 among them", seen)
	}
}
