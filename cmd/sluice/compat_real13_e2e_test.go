package main

// Real config 13 (pjbaur/reverse-proxy-cluster): the main file is one
// `IncludeOptional conf/sites/*.conf`, relative to ServerRoot; the twelve
// included files hold everything, at server level: RequestHeader with
// expr=, plain ProxyPass with retry=0, and seven balancers (round robin,
// hot standby, sticky with scolonpathdelim, bybusyness, a sticky pair with
// and without nofailover, mixed members) plus a balancer-manager and a
// server-status location restricted with `Require ip`.

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

const real13Sites = "../../testdata/config/real/13-include-sites/conf/sites"

// real13Root copies the included files into a fresh ServerRoot (conf/sites/
// under it), hostnames replaced per oldnew. The files are written in
// reverse order, so directory order cannot stand in for the sorted glob.
func real13Root(t *testing.T, oldnew ...string) string {
	t.Helper()
	entries, err := os.ReadDir(real13Sites)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dst := filepath.Join(root, "conf", "sites")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer(oldnew...)
	for i := len(entries) - 1; i >= 0; i-- {
		text, err := os.ReadFile(filepath.Join(real13Sites, entries[i].Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, entries[i].Name()), []byte(r.Replace(string(text))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// real13Main is the main file, in its own directory, after the README's
// wrapper lines (prefix).
func real13Main(t *testing.T, prefix string) string {
	t.Helper()
	text, err := readReal(t, "13-include-sites.conf")
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, t.TempDir(), "13-include-sites.conf", prefix+string(text))
}

var real13RouteLine = regexp.MustCompile(`(?m)^    - path: (\S+)\n      target: `)

// TestCompatReal13IncludeOrder: the relative IncludeOptional resolves
// against ServerRoot (the README's wrapper), against -d DIR without it,
// and against the main file's directory without either
// (compatibility.md), and the glob's files load in name order: the
// ProxyPass rules come out in the order 20-java … 29-mixed, the
// RequestHeader rules of 10-proxy.conf are there, and the SetHandler of
// 00-server-status.conf is warned about with its own file and line.
func TestCompatReal13IncludeOrder(t *testing.T) {
	root := real13Root(t)
	want := []string{"/java/", "/nginx/", "/node/", "/python/", "/balanced/", "/failover/", "/sticky/", "/busy/",
		"/stickyfailover/", "/stickyfailover-strict/", "/mixed/"}
	inRoot := filepath.Join(root, "13-include-sites.conf")
	text, err := readReal(t, "13-include-sites.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inRoot, []byte("Listen 127.0.0.1:8080\n"+string(text)), 0o644); err != nil {
		t.Fatal(err)
	}
	for what, args := range map[string][]string{
		"ServerRoot":            {"-config", real13Main(t, "ServerRoot "+root+"\nListen 127.0.0.1:8080\n")},
		"-d":                    {"-d", root, "-config", real13Main(t, "Listen 127.0.0.1:8080\n")},
		"main file's directory": {"-config", inRoot},
	} {
		out, errOut, code := runSluice(t, append(args, "-dump-config")...)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", what, code, errOut)
			continue
		}
		var got []string
		for _, m := range real13RouteLine.FindAllStringSubmatch(out, -1) {
			got = append(got, m[1])
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: routes %v, want %v", what, got, want)
		}
		if !strings.Contains(out, "name: X-Forwarded-Proto\n      value: expr=%{REQUEST_SCHEME}") ||
			!strings.Contains(out, "name: X-Forwarded-Port\n      value: expr=%{SERVER_PORT}") {
			t.Errorf("%s: the RequestHeader rules of 10-proxy.conf are missing:\n%s", what, out)
		}
		if !strings.Contains(errOut, filepath.Join("conf", "sites", "00-server-status.conf")+":6: SetHandler server-status ignored") {
			t.Errorf("%s: no warning naming 00-server-status.conf:6:\n%s", what, errOut)
		}
	}
	// An IncludeOptional glob that matches nothing is not an error
	// (Apache: IncludeOptional); the file then has nothing to serve, but
	// it parses.
	_, errOut, code := runSluice(t, "-t", "-config", real13Main(t, "ServerRoot "+t.TempDir()+"\nListen 127.0.0.1:8080\n"))
	if code != 0 {
		t.Errorf("IncludeOptional with no match: exit %d\n%s", code, errOut)
	}
}

// real13Backends are the members, by the name each answers with.
type real13Backends struct {
	raw  map[string]*rawBackend
	flap map[string]*flappingMember
	hold chan struct{} // closed to release the busy members' /hold requests
}

// real13Start starts every backend and sluice on the config. java, the
// failover actives and the sticky-failover primary can be killed; java
// starts down.
func real13Start(t *testing.T) (*sluiceProc, *real13Backends) {
	t.Helper()
	bs := &real13Backends{raw: map[string]*rawBackend{}, flap: map[string]*flappingMember{}, hold: make(chan struct{})}
	var oldnew []string
	for _, n := range []string{"nginx-backend", "node-backend", "python-backend",
		"node-backend-1", "node-backend-2", "node-backend-3", "node-backend-4", "node-backend-5",
		"node-backend-standby", "node-backend-sticky-1", "node-backend-sticky-2",
		"node-backend-busy-1", "node-backend-busy-2", "node-backend-sf-standby",
		"node-backend-mixed-1", "python-backend-mixed-1"} {
		var b *rawBackend
		b = newBackend(t, n, func(w *bufio.Writer, r *backendReq) bool {
			switch r.URI {
			case "/hold":
				select {
				case <-bs.hold:
				case <-r.Done:
					return true
				}
			case "/redir":
				writeResp(w, 302, []string{"X-Backend: " + b.name, "Location: http://" + b.addr + "/landed"}, "")
				return false
			}
			return b.echo(w, r)
		})
		bs.raw[n] = b
		port := ":8080"
		if n == "nginx-backend" {
			port = ":80"
		}
		oldnew = append(oldnew, n+".example.com"+port, b.addr)
	}
	for _, n := range []string{"java-backend", "node-backend-primary", "node-backend-secondary", "node-backend-sf-primary"} {
		f := &flappingMember{name: n, addr: testnet.ClosedAddr(t)}
		if n != "java-backend" {
			f.start(t)
		}
		t.Cleanup(f.kill)
		bs.flap[n] = f
		oldnew = append(oldnew, n+".example.com:8080", f.addr)
	}
	t.Cleanup(func() {
		select {
		case <-bs.hold:
		default:
			close(bs.hold)
		}
	})
	root := real13Root(t, oldnew...)
	return startSluice(t, real13Main(t, "ServerRoot "+root+"\nListen 127.0.0.1:0\n")), bs
}

// real13Who names the member that answered (X-Backend, or X-Member for a
// flappingMember), failing the test on any status but 200.
func real13Who(t *testing.T, s *sluiceProc, uri string, header ...string) string {
	t.Helper()
	m := hostGet(t, s, "front.example.com", uri, header...)
	wantStatus(t, m, 200)
	if n := m.Get("X-Member"); n != "" {
		return n
	}
	return m.Get("X-Backend")
}

// TestCompatReal13Routes: each prefix reaches its backend with the prefix
// replaced, RequestHeader's expr= value and mod_proxy's X-Forwarded-*
// fields added, redirects mapped back by ProxyPassReverse; byrequests
// rotates demo's five members and mixed's two.
func TestCompatReal13Routes(t *testing.T) {
	s, bs := real13Start(t)
	for prefix, name := range map[string]string{"/nginx/": "nginx-backend", "/node/": "node-backend", "/python/": "python-backend"} {
		m := hostGet(t, s, "front.example.com", prefix+"a/b?c=d")
		wantBackend(t, m, name)
		r := bs.raw[name].last()
		if r.URI != "/a/b?c=d" {
			t.Errorf("%s: backend asked for %q", prefix, r.URI)
		}
		if r.Get("X-Forwarded-Proto") != "http" || r.Get("X-Forwarded-For") != "127.0.0.1" || r.Get("X-Forwarded-Host") != "front.example.com" {
			t.Errorf("%s: X-Forwarded-Proto %q, -For %q, -Host %q", prefix, r.Get("X-Forwarded-Proto"), r.Get("X-Forwarded-For"), r.Get("X-Forwarded-Host"))
		}
	}
	m := hostGet(t, s, "front.example.com", "/node/redir")
	wantStatus(t, m, 302)
	if got := m.Get("Location"); got != "http://front.example.com/node/landed" {
		t.Errorf("ProxyPassReverse /node/: Location %q", got)
	}
	// ProxyPass /balanced/ does not match /balanced.
	wantStatus(t, hostGet(t, s, "front.example.com", "/balanced"), 404)

	var got []string
	for range 10 {
		got = append(got, real13Who(t, s, "/balanced/x"))
	}
	wantSequence(t, "balancer://demo", got, "node-backend-1", "node-backend-2", "node-backend-3", "node-backend-4", "node-backend-5",
		"node-backend-1", "node-backend-2", "node-backend-3", "node-backend-4", "node-backend-5")
	if r := bs.raw["node-backend-5"].last(); r.URI != "/x" {
		t.Errorf("demo member asked for %q", r.URI)
	}
	got = got[:0]
	for range 4 {
		got = append(got, real13Who(t, s, "/mixed/x"))
	}
	wantSequence(t, "balancer://mixed", got, "node-backend-mixed-1", "python-backend-mixed-1", "node-backend-mixed-1", "python-backend-mixed-1")

	// The balancer dashboard answers 127.0.0.1 (Require ip 127.0.0.1/8 …)
	// when the Host is an address or localhost; another name is refused,
	// the file having no ServerName (admin.md: DNS-rebinding check).
	// server-status has no handler in sluice (warned), so 404.
	n := 0
	for _, b := range bs.raw {
		n += b.count()
	}
	wantStatus(t, hostGet(t, s, "127.0.0.1", "/balancer-manager/"), 200)
	wantStatus(t, hostGet(t, s, "localhost", "/balancer-manager/"), 200)
	wantStatus(t, hostGet(t, s, "front.example.com", "/balancer-manager/"), 403)
	wantStatus(t, hostGet(t, s, "127.0.0.1", "/server-status"), 404)
	for _, b := range bs.raw {
		n -= b.count()
	}
	if n != 0 {
		t.Errorf("the manager or server-status requests reached a backend")
	}
}

// TestCompatReal13RetryZero: a plain ProxyPass with retry=0 (its backend
// not started yet) answers 503, and the request right after the backend
// comes up is served: a direct worker is never held in error (apache.md
// surprise 9).
func TestCompatReal13RetryZero(t *testing.T) {
	s, bs := real13Start(t)
	for range 2 {
		wantStatus(t, hostGet(t, s, "front.example.com", "/java/api"), 503)
	}
	bs.flap["java-backend"].start(t)
	if who := real13Who(t, s, "/java/api"); who != "java-backend" {
		t.Errorf("/java/ answered by %q", who)
	}
}

// TestCompatReal13Sticky: stickysession=SESSIONID with scolonpathdelim=On
// routes by the text after the first "." of the cookie, the ;SESSIONID=
// path parameter or the ?SESSIONID= query parameter (URL first); the URL
// value ends at ";" as well; an unknown route is balanced.
func TestCompatReal13Sticky(t *testing.T) {
	s, bs := real13Start(t)
	for _, tc := range []struct {
		uri, cookie, want string
	}{
		{"/sticky/a", "SESSIONID=abc.node-backend-sticky-2", "node-backend-sticky-2"},
		{"/sticky/a", "SESSIONID=abc.node-backend-sticky-2", "node-backend-sticky-2"},
		{"/sticky/a;SESSIONID=abc.node-backend-sticky-1", "", "node-backend-sticky-1"},
		{"/sticky/a;SESSIONID=abc.node-backend-sticky-1", "", "node-backend-sticky-1"},
		{"/sticky/a?SESSIONID=abc.node-backend-sticky-1", "SESSIONID=abc.node-backend-sticky-2", "node-backend-sticky-1"},
		// scolonpathdelim=On: the value stops at ";", so the route is
		// node-backend-sticky-2, not "node-backend-sticky-2;v=1".
		{"/sticky/a?SESSIONID=abc.node-backend-sticky-2;v=1", "", "node-backend-sticky-2"},
		{"/sticky/a?SESSIONID=abc.node-backend-sticky-2;v=1", "", "node-backend-sticky-2"},
	} {
		var h []string
		if tc.cookie != "" {
			h = append(h, "Cookie: "+tc.cookie)
		}
		if who := real13Who(t, s, tc.uri, h...); who != tc.want {
			t.Errorf("%s (cookie %q) went to %s, want %s", tc.uri, tc.cookie, who, tc.want)
		}
	}
	if r := bs.raw["node-backend-sticky-1"].requests()[0]; r.URI != "/a;SESSIONID=abc.node-backend-sticky-1" {
		t.Errorf("the path parameter reached the member as %q", r.URI)
	}
	seen := map[string]bool{}
	for range 4 {
		seen[real13Who(t, s, "/sticky/b", "Cookie: SESSIONID=abc.node-backend-gone")] = true
	}
	if !seen["node-backend-sticky-1"] || !seen["node-backend-sticky-2"] {
		t.Errorf("an unknown route must be balanced over both members: %v", seen)
	}
}

// TestCompatReal13Busy: bybusyness skips the member holding a long
// request until it finishes.
func TestCompatReal13Busy(t *testing.T) {
	s, bs := real13Start(t)
	done := make(chan *wireMsg, 1)
	c, err := net.DialTimeout("tcp", s.Addr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(buildReq("GET", "/busy/hold", "front.example.com", nil, ""))); err != nil {
		t.Fatal(err)
	}
	go func() {
		m, _ := readResponse(bufio.NewReader(c), false)
		done <- m
	}()
	b1, b2 := bs.raw["node-backend-busy-1"], bs.raw["node-backend-busy-2"]
	deadline := time.Now().Add(ioTimeout)
	for b1.count()+b2.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the long request reached no busy member")
		}
		time.Sleep(5 * time.Millisecond)
	}
	holder, other := b1, b2
	if b2.count() > 0 {
		holder, other = b2, b1
	}
	for range 4 {
		if who := real13Who(t, s, "/busy/x"); who != other.name {
			t.Errorf("went to %s while %s holds a request, want %s", who, holder.name, other.name)
		}
	}
	close(bs.hold)
	if m := <-done; m == nil || m.Status != 200 || m.Get("X-Backend") != holder.name {
		t.Errorf("the long request ended with %+v", m)
	}
}

// TestCompatReal13HotStandby runs balancer://failover and the two
// sticky-failover balancers through their members going down and coming
// back:
//   - all up: the two actives alternate and the +H standby idles;
//   - primary down: the secondary serves everything, the standby still
//     idles; a session pinned to the sticky primary moves to the standby
//     (stickyfailover) or gets 503 (stickyfailover-strict, nofailover=On),
//     whose session-less requests still reach the standby;
//   - both actives down: the standby serves;
//   - primary back: with retry=5 it stays in error, so the standby keeps
//     serving and the strict session keeps its 503, until 5 s after the
//     failure; then the primary serves again.
func TestCompatReal13HotStandby(t *testing.T) {
	s, bs := real13Start(t)
	primary, secondary, sfPrimary := bs.flap["node-backend-primary"], bs.flap["node-backend-secondary"], bs.flap["node-backend-sf-primary"]
	standby := bs.raw["node-backend-standby"]
	const pinned = "Cookie: SESSIONID=abc.node-backend-sf-primary"

	var got []string
	for range 4 {
		got = append(got, real13Who(t, s, "/failover/x"))
	}
	wantSequence(t, "failover, all up", got, "node-backend-primary", "node-backend-secondary", "node-backend-primary", "node-backend-secondary")
	for _, p := range []string{"/stickyfailover/x", "/stickyfailover-strict/x"} {
		if who := real13Who(t, s, p, pinned); who != "node-backend-sf-primary" {
			t.Errorf("%s pinned to sf-primary went to %s", p, who)
		}
	}

	primary.kill()
	sfPrimary.kill()
	failed := time.Now()
	for range 4 {
		if who := real13Who(t, s, "/failover/x"); who != "node-backend-secondary" {
			t.Errorf("primary down: went to %s, want the secondary", who)
		}
	}
	if n := standby.count(); n != 0 {
		t.Errorf("the standby got %d requests while the secondary was up", n)
	}
	manager := s.Addr() + "/balancer-manager"
	wantErrorFlag(t, manager, "failover", primary.addr, true)
	wantErrorFlag(t, manager, "failover", secondary.addr, false)
	if who := real13Who(t, s, "/stickyfailover/x", pinned); who != "node-backend-sf-standby" {
		t.Errorf("stickyfailover: a session pinned to the dead primary went to %s, want the standby", who)
	}
	wantStatus(t, hostGet(t, s, "front.example.com", "/stickyfailover-strict/x", pinned), 503)
	if who := real13Who(t, s, "/stickyfailover-strict/x"); who != "node-backend-sf-standby" {
		t.Errorf("stickyfailover-strict without a session went to %s, want the standby", who)
	}

	secondary.kill()
	for range 3 {
		if who := real13Who(t, s, "/failover/x"); who != "node-backend-standby" {
			t.Errorf("both actives down: went to %s, want the standby", who)
		}
	}

	primary.start(t)
	sfPrimary.start(t)
	who := real13Who(t, s, "/failover/x")
	m := hostGet(t, s, "front.example.com", "/stickyfailover-strict/x", pinned)
	if early := time.Since(failed) < 4*time.Second; early && who != "node-backend-standby" {
		t.Errorf("primary back within its retry=5: went to %s, want the standby", who)
	} else if early && m.Status != 503 {
		t.Errorf("strict session within the primary's retry=5: status %d from %q, want 503", m.Status, m.Get("X-Member"))
	}
	deadline := failed.Add(5*time.Second + ioTimeout)
	for real13Who(t, s, "/failover/x") != "node-backend-primary" {
		if time.Now().After(deadline) {
			t.Fatal("the primary was not used again after its retry=5")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(failed); d < 4900*time.Millisecond {
		t.Errorf("the primary was used again %v after its failure, want after retry=5", d)
	}
	wantErrorFlag(t, manager, "failover", primary.addr, false)
	for {
		m := hostGet(t, s, "front.example.com", "/stickyfailover-strict/x", pinned)
		if m.Status == 200 && m.Get("X-Member") == "node-backend-sf-primary" {
			break
		}
		if m.Status != 503 || time.Now().After(deadline) {
			t.Fatalf("the strict session got %d from %q, want it back on its primary", m.Status, m.Get("X-Member")+m.Get("X-Backend"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if who := real13Who(t, s, "/stickyfailover/x", pinned); who != "node-backend-sf-primary" {
		t.Errorf("stickyfailover: the pinned session went to %s after the primary recovered", who)
	}
}

// TestCompatReal13ForwardedPortFromHost: 10-proxy.conf sets
// `RequestHeader set X-Forwarded-Port "expr=%{SERVER_PORT}"` because the
// project publishes the proxy's port 80 on another host port (Docker), and
// the backends build their own URLs from it. Apache's SERVER_PORT is
// ap_get_server_port(): with the defaults UseCanonicalName Off and
// UseCanonicalPhysicalPort Off it is the port of the client's Host header,
// else the server's configured port (ServerName's, or the <VirtualHost>
// address's), else the scheme's default, 80; it is never the socket's
// local port under these defaults. sluice put the listening socket's port
// there until the tenth session.
func TestCompatReal13ForwardedPortFromHost(t *testing.T) {
	s, bs := real13Start(t)
	node := bs.raw["node-backend"]

	wantBackend(t, hostGet(t, s, "localhost:8080", "/node/x"), "node-backend")
	if got := node.last().Get("X-Forwarded-Port"); got != "8080" {
		t.Errorf("Host localhost:8080: X-Forwarded-Port %q, want 8080 (the Host header's port)", got)
	}
	wantBackend(t, hostGet(t, s, "localhost", "/node/x"), "node-backend")
	if got := node.last().Get("X-Forwarded-Port"); got != "80" {
		t.Errorf("Host localhost: X-Forwarded-Port %q, want 80 (no port in Host or ServerName: http's default)", got)
	}
}
