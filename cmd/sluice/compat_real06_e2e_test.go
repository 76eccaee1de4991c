package main

// Real config 06 (edechambrier/Teaching-HEIGVD-RES-2020-Labo-HTTPInfra):
// ProxyHCExpr ok234 {%{REQUEST_STATUS} =~ /^[234]/} with hcmethod=HEAD on
// every member of two balancers, one of them sticky on Application_STICKY
// (cookie value sticky.<route>), and a balancer-manager with no Require
// next to ProxyPass /balancer-manager !.

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// real06Member answers health checks (HEAD) with a switchable status and,
// as a static server does, the Content-Length of the page but no body;
// other requests are echoed, and /redir redirects to the member's
// own absolute URL.
type real06Member struct {
	*rawBackend
	hc     atomic.Int32 // status answered to HEAD
	checks atomic.Int32 // HEAD requests received
}

func real06NewMember(t *testing.T, name string) *real06Member {
	t.Helper()
	m := &real06Member{}
	m.hc.Store(200)
	m.rawBackend = newBackend(t, name, m.handle)
	return m
}

func (m *real06Member) handle(w *bufio.Writer, r *backendReq) bool {
	switch {
	case r.Method == "HEAD":
		m.checks.Add(1)
		s := int(m.hc.Load())
		fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: text/html\r\nContent-Length: 612\r\n\r\n", s, http.StatusText(s))
		return true
	case r.URI == "/redir":
		writeResp(w, 302, []string{"X-Backend: " + m.name, "Location: http://" + m.addr + "/landed"}, "")
		return false
	}
	return m.echo(w, r)
}

// traffic is how many requests other than health checks m received.
func (m *real06Member) traffic() int {
	n := 0
	for _, r := range m.requests() {
		if r.Method != "HEAD" {
			n++
		}
	}
	return n
}

// real06Start runs the config with its five hosts replaced by members
// named dyn0, dyn1 (balancer dynamic) and member0..member2 (staticapp, named
// after their routes). hcinterval=10 is shortened to 100ms.
func real06Start(t *testing.T) (*sluiceProc, map[string]*real06Member) {
	t.Helper()
	ms := map[string]*real06Member{}
	for _, n := range []string{"dyn0", "dyn1", "member0", "member1", "member2"} {
		ms[n] = real06NewMember(t, n)
	}
	s := startReal(t, "06-heig-hcheck-two-balancers.conf",
		"172.17.0.5:3000", ms["dyn0"].addr, "172.17.0.6:3000", ms["dyn1"].addr,
		"172.17.0.2:80", ms["member0"].addr, "172.17.0.3:80", ms["member1"].addr, "172.17.0.4:80", ms["member2"].addr,
		"hcinterval=10", "hcinterval=100ms")
	return s, ms
}

// real06WaitChecks waits until every member has had at least n checks.
func real06WaitChecks(t *testing.T, ms map[string]*real06Member, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, m := range ms {
		for m.checks.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("member %s got %d health checks in 5 s, want %d", m.name, m.checks.Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestCompatReal06Routing: /api/students/ goes to the non-sticky dynamic
// balancer (no cookie), the rest to staticapp, whose first answer sets
// Application_STICKY=sticky.<route> as the Header line writes it; the
// cookie sticks; ProxyPassReverse maps each balancer's redirects; the
// manager location answers itself and is not proxied.
func TestCompatReal06Routing(t *testing.T) {
	s, ms := real06Start(t)
	seen := map[string]bool{}
	for range 2 {
		m := hostGet(t, s, "demo.example.com", "/api/students/?page=2")
		wantStatus(t, m, 200)
		name := m.Get("X-Backend")
		seen[name] = true
		if !strings.HasPrefix(name, "dyn") {
			t.Fatalf("/api/students/ went to %q", name)
		}
		if r := ms[name].last(); r.URI != "/?page=2" || r.Get("Host") != ms[name].addr {
			t.Errorf("dynamic member got %s with Host %q, want /?page=2 and its own host:port (ProxyPreserveHost Off)", r.URI, r.Get("Host"))
		}
		if v := m.Values("Set-Cookie"); len(v) != 0 {
			t.Errorf("the dynamic balancer is not sticky, yet its answer set %q", v)
		}
	}
	if !seen["dyn0"] || !seen["dyn1"] {
		t.Errorf("byrequests should use both dynamic members in two requests: %v", seen)
	}

	m := hostGet(t, s, "demo.example.com", "/api/students")
	if name := m.Get("X-Backend"); !strings.HasPrefix(name, "member") || ms[name].last().URI != "/api/students" {
		t.Errorf("/api/students (no slash) went to %q (status %d), want staticapp with the path unchanged", name, m.Status)
	}

	m = hostGet(t, s, "demo.example.com", "/index.html")
	wantStatus(t, m, 200)
	route := m.Get("X-Backend")
	if got, want := strings.Join(m.Values("Set-Cookie"), " | "), "Application_STICKY=sticky."+route+";path=/;"; !strings.HasPrefix(route, "member") || got != want {
		t.Fatalf("first staticapp answer from %q set %q, want %q", route, got, want)
	}
	for range 3 {
		m := hostGet(t, s, "demo.example.com", "/css/site.css", "Cookie: Application_STICKY=sticky."+route)
		wantBackend(t, m, route)
		if v := m.Values("Set-Cookie"); len(v) != 0 {
			t.Errorf("sticky request got Set-Cookie %q", v)
		}
	}
	m = hostGet(t, s, "demo.example.com", "/", "Cookie: Application_STICKY=sticky.member9")
	if got, want := m.Get("Set-Cookie"), "Application_STICKY=sticky."+m.Get("X-Backend")+";path=/;"; got != want {
		t.Errorf("unknown route: Set-Cookie = %q, want %q", got, want)
	}

	m = hostGet(t, s, "demo.example.com", "/api/students/redir")
	wantStatus(t, m, 302)
	if got, want := m.Get("Location"), "http://demo.example.com/api/students/landed"; got != want {
		t.Errorf("dynamic redirect Location = %q, want %q", got, want)
	}
	m = hostGet(t, s, "demo.example.com", "/redir", "Cookie: Application_STICKY=sticky.member2")
	wantBackend(t, m, "member2")
	if got, want := m.Get("Location"), "http://demo.example.com/landed"; got != want {
		t.Errorf("staticapp redirect Location = %q, want %q", got, want)
	}

	// The manager has no Require: sluice makes it local only
	// (docs/compatibility.md), and the test client is local.
	before := 0
	for _, mb := range ms {
		before += mb.traffic()
	}
	m = hostGet(t, s, "demo.example.com", "/balancer-manager/")
	wantStatus(t, m, 200)
	if !strings.HasPrefix(m.Get("Content-Type"), "text/html") || m.Has("X-Backend") {
		t.Errorf("manager page: Content-Type %q, X-Backend %q", m.Get("Content-Type"), m.Get("X-Backend"))
	}
	m = hostGet(t, s, "demo.example.com", "/balancer-manager/api/balancers")
	wantStatus(t, m, 200)
	for _, want := range []string{`"name":"dynamic"`, `"name":"staticapp"`, `"route":"member1"`, `"stickysession":"Application_STICKY`} {
		if !strings.Contains(strings.ReplaceAll(string(m.Body), " ", ""), want) {
			t.Errorf("manager API answer lacks %s: %.400s", want, m.Body)
		}
	}
	m = hostGet(t, s, "demo.example.com", "/balancer-manager")
	if loc := m.Get("Location"); m.Status != 200 && !(m.Status/100 == 3 && strings.HasSuffix(loc, "/balancer-manager/")) {
		t.Errorf("/balancer-manager: status %d Location %q, want the page or a redirect to /balancer-manager/", m.Status, loc)
	}
	after := 0
	for _, mb := range ms {
		after += mb.traffic()
	}
	if after != before {
		t.Errorf("a manager request reached a member (%d requests before, %d after)", before, after)
	}
	// Neither the exclusion nor the manager location covers a longer
	// segment.
	m = hostGet(t, s, "demo.example.com", "/balancer-managerx")
	if name := m.Get("X-Backend"); !strings.HasPrefix(name, "member") || ms[name].last().URI != "/balancer-managerx" {
		t.Errorf("/balancer-managerx went to %q (status %d), want staticapp", name, m.Status)
	}
}

// TestCompatReal06HealthCheck: every member is checked with HEAD (sluice
// sends "/" where Apache sends an empty target, docs/health.md). ok234
// accepts 2xx, 3xx and 4xx, so a member answering its check 404 stays in;
// one answering 503 gets C, leaves the rotation, and its sticky cookie
// moves to another member with a new cookie; once its check passes again
// it is back, sticky cookie included.
func TestCompatReal06HealthCheck(t *testing.T) {
	s, ms := real06Start(t)
	ms["dyn0"].hc.Store(404)
	real06WaitChecks(t, ms, 1)
	for name, m := range ms {
		var hc *wireMsg
		for _, r := range m.requests() {
			if r.Method == "HEAD" {
				hc = r
				break
			}
		}
		if hc.URI != "/" || hc.Proto != "HTTP/1.0" || hc.Get("Host") != m.addr {
			t.Errorf("%s health check: %s %s %s Host %q, want HEAD / HTTP/1.0 Host %s", name, hc.Method, hc.URI, hc.Proto, hc.Get("Host"), m.addr)
		}
	}

	mgr := s.Addr() + "/balancer-manager"
	from := s.lineCount()
	ms["member1"].hc.Store(503)
	f := s.waitMsg(from, "health check failed, member disabled")
	if !strings.Contains(f["member"], ms["member1"].addr) {
		t.Fatalf("disabled %q, want member1 (%s)", f["member"], ms["member1"].addr)
	}
	if flags := memberFlags(t, mgr, "staticapp")[ms["member1"].addr]; !strings.Contains(flags, "C") {
		t.Errorf("member1 flags %q after a failed check, want C", flags)
	}
	before := ms["member1"].traffic()
	for range 6 {
		m := hostGet(t, s, "demo.example.com", "/")
		if name := m.Get("X-Backend"); name != "member0" && name != "member2" {
			t.Errorf("with member1 down a request went to %q (status %d)", name, m.Status)
		}
	}
	m := hostGet(t, s, "demo.example.com", "/", "Cookie: Application_STICKY=sticky.member1")
	wantStatus(t, m, 200)
	if name, got := m.Get("X-Backend"), m.Get("Set-Cookie"); name == "member1" || got != "Application_STICKY=sticky."+name+";path=/;" {
		t.Errorf("sticky to a down member: went to %q with Set-Cookie %q, want another member and its cookie", name, got)
	}
	if n := ms["member1"].traffic(); n != before {
		t.Errorf("member1 got %d requests while down", n-before)
	}

	// dyn0 answers its checks 404 all along: ok234 passes it.
	n := ms["dyn0"].checks.Load()
	real06WaitChecks(t, map[string]*real06Member{"dyn0": ms["dyn0"]}, n+2)
	if flags := memberFlags(t, mgr, "dynamic")[ms["dyn0"].addr]; strings.Contains(flags, "C") {
		t.Errorf("dyn0 answering its checks 404 has flags %q; ok234 accepts 4xx", flags)
	}
	got := map[string]bool{}
	for range 2 {
		got[hostGet(t, s, "demo.example.com", "/api/students/x").Get("X-Backend")] = true
	}
	if !got["dyn0"] || !got["dyn1"] {
		t.Errorf("dynamic members serving: %v, want both", got)
	}

	from = s.lineCount()
	ms["member1"].hc.Store(200)
	f = s.waitMsg(from, "health check passed, member enabled")
	if !strings.Contains(f["member"], ms["member1"].addr) {
		t.Fatalf("enabled %q, want member1", f["member"])
	}
	if flags := memberFlags(t, mgr, "staticapp")[ms["member1"].addr]; strings.ContainsAny(flags, "CE") {
		t.Errorf("member1 flags %q after passing again", flags)
	}
	m = hostGet(t, s, "demo.example.com", "/", "Cookie: Application_STICKY=sticky.member1")
	wantBackend(t, m, "member1")
	if v := m.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("sticky request to the recovered member got Set-Cookie %q", v)
	}
}
