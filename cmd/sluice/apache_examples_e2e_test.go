package main

// The apache.md §9 example configs from examples/, with their hostnames
// pointed at local backends, doing what the Apache docs say they do.

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// startExample loads examples/<name> with Listen on 127.0.0.1:0 and each
// old URL prefix replaced by its new one.
func startExample(t *testing.T, name string, oldnew ...string) *sluiceProc {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("../../examples", name))
	if err != nil {
		t.Fatal(err)
	}
	oldnew = append(oldnew, "Listen 127.0.0.1:8080", "Listen 127.0.0.1:0")
	return startSluice(t, writeConfig(t, t.TempDir(), name, string(text), oldnew...))
}

// cookieBackend sets a cookie scoped to the docs' backend host, and
// redirects /redir to its own absolute URL.
func cookieBackend(addr *string) handlerFunc {
	return func(w *bufio.Writer, r *backendReq) bool {
		if strings.HasSuffix(r.URI, "/redir") {
			writeResp(w, 302, []string{"Location: http://" + *addr + "/landed"}, "")
			return false
		}
		writeResp(w, 200, []string{"Set-Cookie: id=7; Domain=backend.example.com; Path=/"}, "got "+r.URI)
		return false
	}
}

func TestApacheExample01Simple(t *testing.T) {
	var addr string
	b := newBackend(t, "foo", func(w *bufio.Writer, r *backendReq) bool {
		if r.URI == "/bar/redir" {
			writeResp(w, 302, []string{"Location: http://" + addr + "/bar/landed"}, "")
			return false
		}
		writeResp(w, 200, nil, "got "+r.URI)
		return false
	})
	addr = b.addr
	s := startExample(t, "apache-01-simple.conf", "http://foo.example.com", "http://"+b.addr)

	m := getURI(t, s.Addr(), "/foo/x?q=1")
	wantStatus(t, m, 200)
	if got := b.last().URI; got != "/bar/x?q=1" || string(m.Body) != "got /bar/x?q=1" {
		t.Errorf("backend received %q, client got %q; want /bar/x?q=1", got, m.Body)
	}
	m = getURI(t, s.Addr(), "/foo/redir")
	wantStatus(t, m, 302)
	wantRewritten(t, m.Get("Location"), "/foo/landed", b.addr)
}

func TestApacheExample02Exclusion(t *testing.T) {
	b := newBackend(t, "backend", nil)
	s := startExample(t, "apache-02-exclusion.conf", "http://backend.example.com", "http://"+b.addr)

	for _, uri := range []string{"/mirror/foo/i", "/mirror/foo/i/deeper"} {
		wantStatus(t, getURI(t, s.Addr(), uri), 404)
	}
	if n := b.count(); n != 0 {
		t.Fatalf("excluded paths reached the backend %d times", n)
	}
	for uri, want := range map[string]string{"/mirror/foo/bar": "/bar", "/mirror/foo/index.html": "/index.html"} {
		m := getURI(t, s.Addr(), uri)
		wantStatus(t, m, 200)
		if got := b.last().URI; got != want {
			t.Errorf("%s: backend received %q, want %q", uri, got, want)
		}
	}
}

func TestApacheExample03ReverseCookies(t *testing.T) {
	var addr string
	b := newBackend(t, "backend", cookieBackend(&addr))
	addr = b.addr
	s := startExample(t, "apache-03-reverse-cookies.conf", "http://backend.example.com", "http://"+b.addr)

	m := getURI(t, s.Addr(), "/mirror/foo/page")
	wantStatus(t, m, 200)
	if got := b.last().URI; got != "/page" {
		t.Errorf("backend received %q, want /page", got)
	}
	if got, want := m.Values("Set-Cookie"), []string{"id=7; Domain=public.example.com; Path=/mirror/foo/"}; !slices.Equal(got, want) {
		t.Errorf("Set-Cookie %q, want %q", got, want)
	}
	m = getURI(t, s.Addr(), "/mirror/foo/redir")
	wantStatus(t, m, 302)
	wantRewritten(t, m.Get("Location"), "/mirror/foo/landed", b.addr)
}

// spread sends n requests to uri and returns how many each backend took.
func spread(t *testing.T, s *sluiceProc, uri string, n int, bs ...*rawBackend) []int {
	t.Helper()
	before := make([]int, len(bs))
	for i, b := range bs {
		before[i] = b.count()
	}
	for range n {
		wantStatus(t, getURI(t, s.Addr(), uri), 200)
	}
	got := make([]int, len(bs))
	for i, b := range bs {
		got[i] = b.count() - before[i]
	}
	return got
}

func TestApacheExample04Bytraffic(t *testing.T) {
	b1, b2 := newBackend(t, "www2", nil), newBackend(t, "www3", nil)
	s := startExample(t, "apache-04-bytraffic.conf",
		"http://www2.example.com:8080", "http://"+b1.addr, "http://www3.example.com:8080", "http://"+b2.addr)

	got := spread(t, s, "/images/pic.png", 8, b1, b2)
	if got[0] < 2 || got[1] < 2 {
		t.Errorf("bytraffic with equal members sent %v, want both used", got)
	}
	if u := b1.last().URI; u != "/pic.png" {
		t.Errorf("member received %q, want /pic.png", u)
	}
}

func TestApacheExample05Loadfactor(t *testing.T) {
	b1, b2 := newBackend(t, "www2", nil), newBackend(t, "www3", nil)
	s := startExample(t, "apache-05-loadfactor.conf",
		"http://www2.example.com:8080", "http://"+b1.addr, "http://www3.example.com:8080", "http://"+b2.addr)

	got := spread(t, s, "/images/pic.png", 8, b1, b2)
	if got[0] < 1 || got[1] <= got[0] {
		t.Errorf("loadfactor 1:3 sent %v, want both used and www3 more", got)
	}
	// "/images" → "balancer://myset/" keeps the slash after the prefix:
	// Apache's asymmetric-slash rule gives "//pic.png".
	if u := b2.last().URI; !strings.HasSuffix(u, "/pic.png") {
		t.Errorf("member received %q, want …/pic.png", u)
	}
}

func TestApacheExample06Failover(t *testing.T) {
	www3, spare1, spare2 := newBackend(t, "www3", nil), newBackend(t, "spare1", nil), newBackend(t, "spare2", nil)
	standby, bkup1, bkup2 := newBackend(t, "hstandby", nil), newBackend(t, "bkup1", nil), newBackend(t, "bkup2", nil)
	s := startExample(t, "apache-06-failover.conf",
		"http://www2.example.com:8080", "http://"+testnet.ClosedAddr(t), // the dead regular member
		"http://www3.example.com:8080", "http://"+www3.addr,
		"http://spare1.example.com:8080", "http://"+spare1.addr,
		"http://spare2.example.com:8080", "http://"+spare2.addr,
		"http://hstandby.example.com:8080", "http://"+standby.addr,
		"http://bkup1.example.com:8080", "http://"+bkup1.addr,
		"http://bkup2.example.com:8080", "http://"+bkup2.addr)

	got := spread(t, s, "/images/x", 12, www3, spare1, spare2, standby, bkup1, bkup2)
	if got[0] == 0 || got[1] == 0 {
		t.Errorf("sent %v (www3, spare1, spare2, standby, bkup1, bkup2): want www3 and the first spare replacing the dead www2", got)
	}
	if got[2]+got[3]+got[4]+got[5] != 0 {
		t.Errorf("sent %v (www3, spare1, spare2, standby, bkup1, bkup2): the second spare, the standby and lbset 1 must stay unused", got)
	}
}

func TestApacheExample08Sticky(t *testing.T) {
	n1, n2 := newBackend(t, "node1", nil), newBackend(t, "node2", nil)
	s := startExample(t, "apache-08-sticky-tomcat.conf",
		"http://192.168.1.50:80", "http://"+n1.addr, "http://192.168.1.51:80", "http://"+n2.addr)

	for range 3 {
		m := getURI(t, s.Addr(), "/test/app", "Cookie: JSESSIONID=abc.node2")
		wantStatus(t, m, 200)
		if b := m.Get("X-Backend"); b != "node2" {
			t.Errorf("cookie JSESSIONID=abc.node2 went to %q", b)
		}
	}
	for _, uri := range []string{"/test/app;jsessionid=abc.node1", "/test/app?jsessionid=abc.node1"} {
		for range 2 {
			m := getURI(t, s.Addr(), uri)
			wantStatus(t, m, 200)
			if b := m.Get("X-Backend"); b != "node1" {
				t.Errorf("%s went to %q", uri, b)
			}
		}
	}
	if got := n2.last().URI; got != "/app" {
		t.Errorf("node2 received %q, want /app", got)
	}
}

func TestApacheExample12PoolWebSocket(t *testing.T) {
	b := newBackend(t, "backend", nil)
	ws := newWSBackend(t, "/some/ws/capable/path/")
	s := startExample(t, "apache-12-pool-websocket.conf",
		"http://backend.example.com", "http://"+b.addr, "http://example.com", "http://"+hostPort(ws.URL))

	m := getURI(t, s.Addr(), "/example/x")
	wantStatus(t, m, 200)
	if got := b.last().URI; got != "/x" {
		t.Errorf("backend received %q, want /x", got)
	}
	wsEcho(t, "ws://"+s.Addr()+"/some/ws/capable/path/echo")
	if path, up := ws.last(); path != "/some/ws/capable/path/echo" || !strings.EqualFold(up, "websocket") {
		t.Errorf("ws backend received %q with Upgrade %q", path, up)
	}
}
