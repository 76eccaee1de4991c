package main

// Real config 02 (codeclou/docker-atlassian-confluence-data-center): a
// sticky Confluence balancer on "/", ProxyPass /synchrony into the
// sub-path /synchron of an http:// balancer (a typo kept as found), the
// bayeux-sync1 WebSocket URL rewritten [P] to a ws:// balancer over the
// same nodes, ErrorDocument 502/503 served from DocumentRoot with
// ProxyPass … ! exclusions, and a balancer-manager location with
// Require all granted but no ProxyPass /balancer-manager !.

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

const (
	real02Page502 = "<html><body>Confluence is not reachable (502)</body></html>"
	real02Page503 = "<html><body>Confluence is starting (503)</body></html>"
)

// real02Start runs the config with its Listen 0.0.0.0:9980 line commented
// out (startReal's Listen 127.0.0.1:0 stands for it; sluice does not match
// vhosts by address, so <VirtualHost 0.0.0.0:9980> serves it), node hosts replaced by addrs (confluence-nodeN:8090 by
// cluster[N-1], :8091 by sync[N-1]), and DocumentRoot
// /work-private/document-root/ (the image's error pages) replaced by a
// directory holding errors/error502.html and errors/error503.html.
func real02Start(t *testing.T, cluster, sync [3]string) *sluiceProc {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "errors"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"error502.html": real02Page502, "error503.html": real02Page503} {
		if err := os.WriteFile(filepath.Join(root, "errors", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	oldnew := []string{"Listen 0.0.0.0:9980", "# Listen 0.0.0.0:9980", "/work-private/document-root/", root + "/"}
	for i := range 3 {
		n := string(rune('1' + i))
		oldnew = append(oldnew, "confluence-node"+n+".example.com:8090", cluster[i], "confluence-node"+n+".example.com:8091", sync[i])
	}
	return startReal(t, "02-confluence-dc-synchrony.conf", oldnew...)
}

// real02Get sends a GET for the vhost's ServerName.
func real02Get(t *testing.T, s *sluiceProc, uri string, header ...string) *wireMsg {
	t.Helper()
	return hostGet(t, s, "confluencecluster", uri, header...)
}

// TestCompatReal02Routing: "/" is the sticky Confluence balancer (ROUTEID
// cookie recipe, client Host preserved, redirects mapped back);
// /synchrony is synchrony-http with /synchrony replaced by /synchron and
// no cookie; a bayeux-sync1 URL (any case, [NC]) goes to the ws://
// balancer with its upgrade and its path unchanged; the manager answers
// itself although ProxyPass / would take it in Apache
// (docs/compatibility.md); the error pages are never proxied.
func TestCompatReal02Routing(t *testing.T) {
	nodes := map[string]*rawBackend{}
	var cluster, sync [3]string
	for i := range 3 {
		n := string(rune('1' + i))
		nodes[n], nodes["synnode"+n] = redirectingBackend(t, n), redirectingBackend(t, "synnode"+n)
		cluster[i], sync[i] = nodes[n].addr, nodes["synnode"+n].addr
	}
	s := real02Start(t, cluster, sync)
	traffic := func() int {
		n := 0
		for _, b := range nodes {
			n += b.count()
		}
		return n
	}

	m := real02Get(t, s, "/dashboard.action")
	wantStatus(t, m, 200)
	route := m.Get("X-Backend")
	if got, want := strings.Join(m.Values("Set-Cookie"), " | "), "ROUTEID=."+route+"; path=/"; len(route) != 1 || got != want {
		t.Fatalf("first answer from %q set %q, want a Confluence node and %q", route, got, want)
	}
	if r := nodes[route].last(); r.URI != "/dashboard.action" || r.Get("Host") != "confluencecluster" ||
		r.Get("X-Forwarded-Host") != "confluencecluster" || r.Get("X-Forwarded-Server") != "confluencecluster" {
		t.Errorf("node got %s with Host %q, X-Forwarded-Host %q, X-Forwarded-Server %q; want the client's Host (ProxyPreserveHost on) and the ServerName",
			r.URI, r.Get("Host"), r.Get("X-Forwarded-Host"), r.Get("X-Forwarded-Server"))
	}
	for range 3 {
		m := real02Get(t, s, "/pages/viewpage.action?pageId=1", "Cookie: ROUTEID=.3")
		wantBackend(t, m, "3")
		if v := m.Values("Set-Cookie"); len(v) != 0 {
			t.Errorf("sticky request got Set-Cookie %q", v)
		}
	}
	m = real02Get(t, s, "/redir", "Cookie: ROUTEID=.2")
	wantStatus(t, m, 302)
	wantBackend(t, m, "2")
	if got, want := m.Get("Location"), "http://confluencecluster/landed"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}

	seen := map[string]bool{}
	for range 3 {
		m := real02Get(t, s, "/synchrony/v1/heartbeat?x=1", "Cookie: ROUTEID=.1")
		wantStatus(t, m, 200)
		name := m.Get("X-Backend")
		seen[name] = true
		if b := nodes[name]; !strings.HasPrefix(name, "synnode") {
			t.Errorf("/synchrony/v1/heartbeat went to %q", name)
		} else if r := b.last(); r.URI != "/synchron/v1/heartbeat?x=1" || r.Has("Upgrade") {
			t.Errorf("synchrony node got %s (Upgrade %q), want /synchron/v1/heartbeat?x=1", r.URI, r.Values("Upgrade"))
		}
		if v := m.Values("Set-Cookie"); len(v) != 0 {
			t.Errorf("synchrony-http is not sticky, yet its answer set %q", v)
		}
	}
	if len(seen) != 3 {
		t.Errorf("three requests to synchrony-http reached %v, want each node once (byrequests)", seen)
	}
	for uri, want := range map[string]string{"/synchrony": "/synchron", "/synchronyx/y": "/synchronyx/y"} {
		m := real02Get(t, s, uri)
		name := m.Get("X-Backend")
		if b := nodes[name]; b == nil || b.last().URI != want || strings.HasPrefix(name, "synnode") != (want == "/synchron") {
			t.Errorf("%s went to %q (status %d), want %s on a %s node", uri, name, m.Status, want,
				map[bool]string{true: "synchrony", false: "Confluence"}[want == "/synchron"])
		}
	}

	for _, uri := range []string{"/synchrony/v1/bayeux-sync1?MESSAGE_HANDLER=x", "/Synchrony/v2/Bayeux-Sync1"} {
		m := real02Get(t, s, uri, wsHeaders...)
		name := m.Get("X-Backend")
		if !strings.HasPrefix(name, "synnode") {
			t.Errorf("WebSocket %s went to %q (status %d), want a synchrony node", uri, name, m.Status)
			continue
		}
		if r := nodes[name].last(); r.URI != uri || r.Get("Upgrade") != "websocket" || r.Get("Host") != "confluencecluster" {
			t.Errorf("WebSocket %s reached %s as %s with Upgrade %q, Host %q; want the path unchanged, the upgrade and the client's Host",
				uri, name, r.URI, r.Get("Upgrade"), r.Get("Host"))
		}
	}
	// An upgrade elsewhere under /synchrony is not rewritten: synchrony-http
	// has no member that may upgrade, so the node gets a plain request
	// (docs/compatibility.md, Upgrade through a balancer).
	m = real02Get(t, s, "/synchrony/v1/presence", wsHeaders...)
	if name := m.Get("X-Backend"); !strings.HasPrefix(name, "synnode") {
		t.Errorf("an upgrade to /synchrony/v1/presence went to %q (status %d)", name, m.Status)
	} else if r := nodes[name].last(); r.URI != "/synchron/v1/presence" || r.Has("Upgrade") {
		t.Errorf("synchrony-http node got %s with Upgrade %q, want /synchron/v1/presence as a plain request", r.URI, r.Values("Upgrade"))
	}

	before := traffic()
	m = real02Get(t, s, "/balancer-manager/")
	wantStatus(t, m, 200)
	if !strings.HasPrefix(m.Get("Content-Type"), "text/html") || m.Has("X-Backend") {
		t.Errorf("manager page: Content-Type %q, X-Backend %q", m.Get("Content-Type"), m.Get("X-Backend"))
	}
	m = real02Get(t, s, "/balancer-manager/api/balancers")
	wantStatus(t, m, 200)
	body := strings.ReplaceAll(string(m.Body), " ", "")
	for _, want := range []string{`"name":"confluence-cluster"`, `"name":"synchrony-http"`, `"name":"synchrony-ws"`, `"route":"synnode3"`} {
		if !strings.Contains(body, want) {
			t.Errorf("manager API answer lacks %s: %.400s", want, m.Body)
		}
	}
	// The error pages are excluded from proxying; sluice serves no files
	// (docs/config.md: DocumentRoot is read only for ErrorDocument).
	wantStatus(t, real02Get(t, s, "/errors/error503.html"), 404)
	if n := traffic() - before; n != 0 {
		t.Errorf("manager or error page requests reached %d node requests", n)
	}
	if m := real02Get(t, s, "/errors/other.html"); len(m.Get("X-Backend")) != 1 {
		t.Errorf("/errors/other.html is not excluded, but went to %q (status %d)", m.Get("X-Backend"), m.Status)
	}
}

// TestCompatReal02ErrorDocuments: errors sluice itself produces use the
// configured pages with their status: 503 when every synchrony node
// refuses (http and ws balancers), 502 when a node answers a malformed
// head (Apache: ProxyBadHeader IsError); such a page carries no sticky
// cookie (the Header line is onsuccess). A node's own 503 is relayed as it
// is (no ProxyErrorOverride), with the cookie, as a proxied response.
func TestCompatReal02ErrorDocuments(t *testing.T) {
	bad := newBackend(t, "1", func(w *bufio.Writer, _ *backendReq) bool {
		w.WriteString("HTTP/1.1 200 OK\r\nX-Backend: 1\r\nthis line has no colon\r\nContent-Length: 2\r\n\r\nhi")
		return true
	})
	ok := newBackend(t, "2", nil)
	busy := newBackend(t, "3", func(w *bufio.Writer, _ *backendReq) bool {
		writeResp(w, 503, []string{"X-Backend: 3", "Retry-After: 30"}, "node 3 is reindexing")
		return false
	})
	dead := [3]string{testnet.ClosedAddr(t), testnet.ClosedAddr(t), testnet.ClosedAddr(t)}
	s := real02Start(t, [3]string{bad.addr, ok.addr, busy.addr}, dead)

	// Without a cookie byrequests takes the nodes in order: 1, 2, 3
	// (apache.md §4.2).
	m := real02Get(t, s, "/x")
	wantStatus(t, m, 502)
	if string(m.Body) != real02Page502 || !strings.HasPrefix(m.Get("Content-Type"), "text/html") {
		t.Errorf("502 body %q, Content-Type %q, want errors/error502.html", m.Body, m.Get("Content-Type"))
	}
	if v := m.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("the 502 error page got Set-Cookie %q", v)
	}
	if bad.count() != 1 {
		t.Errorf("the malformed node was asked %d times, want once", bad.count())
	}
	m = real02Get(t, s, "/x")
	wantStatus(t, m, 200)
	wantBackend(t, m, "2")
	if got := m.Get("Set-Cookie"); got != "ROUTEID=.2; path=/" {
		t.Errorf("Set-Cookie %q, want ROUTEID=.2; path=/", got)
	}
	m = real02Get(t, s, "/x")
	wantStatus(t, m, 503)
	if string(m.Body) != "node 3 is reindexing" || m.Get("Retry-After") != "30" || m.Get("Set-Cookie") != "ROUTEID=.3; path=/" {
		t.Errorf("a node's own 503 became %q (Retry-After %q, Set-Cookie %q), want it relayed with ROUTEID=.3", m.Body, m.Get("Retry-After"), m.Get("Set-Cookie"))
	}

	for _, tc := range []struct {
		uri    string
		header []string
	}{
		{"/synchrony/v1/heartbeat", nil},
		{"/synchrony/v1/bayeux-sync1", wsHeaders},
	} {
		m := real02Get(t, s, tc.uri, tc.header...)
		wantStatus(t, m, 503)
		if string(m.Body) != real02Page503 || !strings.HasPrefix(m.Get("Content-Type"), "text/html") {
			t.Errorf("%s: 503 body %q, Content-Type %q, want errors/error503.html", tc.uri, m.Body, m.Get("Content-Type"))
		}
	}

	m = real02Get(t, s, "/x", "Cookie: ROUTEID=.1")
	wantStatus(t, m, 502)
	if string(m.Body) != real02Page502 {
		t.Errorf("sticky 502 body %q, want errors/error502.html", m.Body)
	}
	m = real02Get(t, s, "/x", "Cookie: ROUTEID=.3")
	wantStatus(t, m, 503)
	if string(m.Body) != "node 3 is reindexing" || m.Has("Set-Cookie") {
		t.Errorf("sticky request to node 3: body %q, Set-Cookie %q", m.Body, m.Values("Set-Cookie"))
	}
}
