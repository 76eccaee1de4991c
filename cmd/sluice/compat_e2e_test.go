package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// startReal runs testdata/config/real/<name> with Listen on 127.0.0.1:0
// (the README's wrapper supplies Listen) and hosts replaced by local
// backends.
func startReal(t *testing.T, name string, oldnew ...string) *sluiceProc {
	t.Helper()
	text, err := readReal(t, name)
	if err != nil {
		t.Fatal(err)
	}
	conf := "Listen 127.0.0.1:0\n" + string(text)
	return startSluice(t, writeConfig(t, t.TempDir(), name, conf, oldnew...))
}

// readReal reads real config name with its log files, which name
// /var/log/apache2, moved to a directory of the test's.
func readReal(t *testing.T, name string) (string, error) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("../../testdata/config/real", name))
	return strings.ReplaceAll(string(text), "/var/log/apache2/", t.TempDir()+"/"), err
}

func hostGet(t *testing.T, s *sluiceProc, host, uri string, header ...string) *wireMsg {
	t.Helper()
	return rawDo(t, s.Addr(), buildReq("GET", uri, host, header, ""))
}

var wsHeaders = []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}

func wantBackend(t *testing.T, m *wireMsg, want string) {
	t.Helper()
	if got := m.Get("X-Backend"); got != want {
		t.Errorf("went to %q (status %d), want %q", got, m.Status, want)
	}
}

func TestCompatVirtualHosts(t *testing.T) {
	a, b, c := newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)
	s := startSluice(t, writeConfig(t, t.TempDir(), "v.conf", `Listen 127.0.0.1:0
<VirtualHost *:80>
    ServerName a.example.com
    ProxyPass / http://{A}/
</VirtualHost>
<VirtualHost *:80>
    ServerName b.example.com
    ServerAlias www.b.example.com *.wild.example.com
    ProxyPass / http://{B}/
</VirtualHost>
<VirtualHost *:80>
    ServerName c.example.com
    ProxyPass / http://{C}/
</VirtualHost>
`, "{A}", a.addr, "{B}", b.addr, "{C}", c.addr))
	for _, tc := range []struct{ host, want string }{
		{"a.example.com", "a"}, {"B.Example.com:80", "b"}, {"www.b.example.com", "b"},
		{"x.wild.example.com", "b"}, {"c.example.com", "c"},
		{"unknown.example.com", "a"}, // the first vhost answers an unknown Host
	} {
		wantBackend(t, hostGet(t, s, tc.host, "/"), tc.want)
	}
}

func TestCompatRewriteRedirect(t *testing.T) {
	a := newBackend(t, "a", nil)
	s := startSluice(t, writeConfig(t, t.TempDir(), "r.conf", `Listen 127.0.0.1:0
RewriteEngine On
RewriteRule ^/old/(.*)$ /new/$1?from=old [R=301,QSA,L]
RewriteRule ^/gone - [G]
RewriteCond %{HTTP:X-Block} =yes [NC]
RewriteRule ^ - [F]
RewriteCond %{QUERY_STRING} ^id=([0-9]+)$
RewriteRule ^/item$ /items/%1? [PT]
ProxyPass / http://{A}/
`, "{A}", a.addr))
	m := hostGet(t, s, "front.example.com", "/old/x%20y?a=1")
	wantStatus(t, m, 301)
	if got, want := m.Get("Location"), "http://front.example.com/new/x%20y?from=old&a=1"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	wantStatus(t, hostGet(t, s, "front.example.com", "/gone"), 410)
	wantStatus(t, hostGet(t, s, "front.example.com", "/any", "X-Block: YES"), 403)
	m = hostGet(t, s, "front.example.com", "/item?id=42")
	wantStatus(t, m, 200)
	if got := string(m.Body); got != "a GET /items/42" {
		t.Errorf("internal rewrite reached %q", got)
	}
	// Apache 2.4.60: an encoded ? in the path must not become a query.
	wantStatus(t, hostGet(t, s, "front.example.com", "/old/a%3Fb"), 403)
}

// TestCompatReal01WebSocketSplit runs the socket.io config: Upgrade:
// websocket goes to the ws:// balancer, the rest to the polling one, and
// the sticky cookie recipe sets SERVERID once.
func TestCompatReal01WebSocketSplit(t *testing.T) {
	bs := []*rawBackend{newBackend(t, "john", nil), newBackend(t, "paul", nil), newBackend(t, "george", nil), newBackend(t, "ringo", nil)}
	var oldnew []string
	for i, b := range bs {
		oldnew = append(oldnew, "backend"+string(rune('1'+i))+".example.com:3000", b.addr)
	}
	s := startReal(t, "01-socketio-ws-sticky-rewrite.conf", oldnew...)
	m := hostGet(t, s, "front.example.com", "/socket.io/?EIO=4&transport=polling")
	wantStatus(t, m, 200)
	route := m.Get("X-Backend")
	if got, want := m.Get("Set-Cookie"), "SERVERID=sticky."+route+"; path=/"; got != want {
		t.Fatalf("Set-Cookie = %q, want %q", got, want)
	}
	if !strings.HasSuffix(string(m.Body), "GET /socket.io/?EIO=4&transport=polling") {
		t.Errorf("backend saw %q", m.Body)
	}
	for range 3 {
		m := hostGet(t, s, "front.example.com", "/socket.io/", "Cookie: SERVERID=sticky."+route)
		wantBackend(t, m, route)
		if v := m.Values("Set-Cookie"); len(v) != 0 {
			t.Errorf("a request that stuck got Set-Cookie %q", v)
		}
	}
	before := 0
	for _, b := range bs {
		before += b.count()
	}
	m = hostGet(t, s, "front.example.com", "/socket.io/?transport=websocket", append([]string{"Cookie: SERVERID=sticky." + route}, wsHeaders...)...)
	wantBackend(t, m, route)
	last := map[string]*rawBackend{}
	for _, b := range bs {
		last[b.name] = b
	}
	if r := last[route].last(); r.Get("Upgrade") != "websocket" {
		t.Errorf("the ws:// balancer did not get the upgrade: %+v", r.Header)
	}
}

// TestCompatReal04StickyRecipe is Apache's documented recipe: the first
// response sets ROUTEID=.<route>; a request carrying it sticks and gets no
// new cookie; an unknown route is balanced and gets a new one.
func TestCompatReal04StickyRecipe(t *testing.T) {
	n1, n2, n3 := newBackend(t, "1", nil), newBackend(t, "2", nil), newBackend(t, "3", nil)
	s := startReal(t, "04-jira-dc-sticky-routeid.conf", "jira-node1.example.com:8080", n1.addr,
		"jira-node2.example.com:8080", n2.addr, "jira-node3.example.com:8080", n3.addr)
	m := hostGet(t, s, "jiracluster", "/secure/Dashboard.jspa")
	wantStatus(t, m, 200)
	route := m.Get("X-Backend")
	if got, want := m.Values("Set-Cookie"), []string{"ROUTEID=." + route + "; path=/"}; strings.Join(got, "|") != want[0] {
		t.Fatalf("Set-Cookie = %q, want %q", got, want)
	}
	for range 4 {
		m := hostGet(t, s, "jiracluster", "/x", "Cookie: ROUTEID=."+route)
		wantBackend(t, m, route)
		if v := m.Values("Set-Cookie"); len(v) != 0 {
			t.Errorf("sticky request got Set-Cookie %q", v)
		}
	}
	m = hostGet(t, s, "jiracluster", "/x", "Cookie: ROUTEID=.9")
	if got, want := m.Get("Set-Cookie"), "ROUTEID=."+m.Get("X-Backend")+"; path=/"; got != want {
		t.Errorf("unknown route: Set-Cookie = %q, want %q", got, want)
	}
}

// TestCompatReal11BalancerRewrite: balancer://galaxy$1 with $1 starting
// with "/"; the query string is kept.
func TestCompatReal11BalancerRewrite(t *testing.T) {
	g1, g2 := newBackend(t, "g1", nil), newBackend(t, "g2", nil)
	s := startReal(t, "11-galaxy-rewrite-balancer.conf", "localhost:8400", g1.addr, "localhost:8401", g2.addr)
	seen := map[string]bool{}
	for range 4 {
		m := hostGet(t, s, "galaxy.example.com", "/api/tools?q=a%20b")
		wantStatus(t, m, 200)
		seen[m.Get("X-Backend")] = true
		if !strings.HasSuffix(string(m.Body), "GET /api/tools?q=a%20b") {
			t.Errorf("backend saw %q", m.Body)
		}
	}
	if !seen["g1"] || !seen["g2"] {
		t.Errorf("both members should serve: %v", seen)
	}
}

// TestCompatReal16PhoenixSplit: WebSocket (Upgrade and Connection, regex
// conditions) to the ws balancer, everything else to the http one with
// QSA.
func TestCompatReal16PhoenixSplit(t *testing.T) {
	h1, h2, w1, w2 := newBackend(t, "h1", nil), newBackend(t, "h2", nil), newBackend(t, "w1", nil), newBackend(t, "w2", nil)
	s := startReal(t, "16-phoenix-ws-http-balancers.conf",
		"http://192.0.2.41:4000", "http://"+h1.addr, "http://192.0.2.42:4000", "http://"+h2.addr,
		"ws://192.0.2.41:4000", "ws://"+w1.addr, "ws://192.0.2.42:4000", "ws://"+w2.addr)
	m := hostGet(t, s, "broker.example.com", "/live/websocket?vsn=2", wsHeaders...)
	if b := m.Get("X-Backend"); b != "w1" && b != "w2" {
		t.Errorf("WebSocket went to %q", b)
	}
	m = hostGet(t, s, "broker.example.com", "/page?x=1")
	if b := m.Get("X-Backend"); b != "h1" && b != "h2" {
		t.Errorf("HTTP went to %q", b)
	}
	if !strings.HasSuffix(string(m.Body), "GET /page?x=1") {
		t.Errorf("backend saw %q", m.Body)
	}
}

// TestCompatReal19Mattermost: URI AND (UPGRADE OR CONNECTION) goes to the
// ws:// target; the rest through the <Location /> ProxyPass.
func TestCompatReal19Mattermost(t *testing.T) {
	web, ws := newBackend(t, "web", nil), newBackend(t, "ws", nil)
	s := startReal(t, "19-mattermost-ws-location.conf", "ws://127.0.0.1:8065", "ws://"+ws.addr, "http://127.0.0.1:8065", "http://"+web.addr)
	wantBackend(t, hostGet(t, s, "mattermost.example.com", "/api/v4/websocket", wsHeaders...), "ws")
	wantBackend(t, hostGet(t, s, "mattermost.example.com", "/api/v4/users/websocket", "Connection: Upgrade"), "ws")
	wantBackend(t, hostGet(t, s, "mattermost.example.com", "/api/v4/websocket"), "web")
	wantBackend(t, hostGet(t, s, "mattermost.example.com", "/login", wsHeaders...), "web")
}

// TestCompatReal20CookOps: the port-80 vhost redirects with [R=301,NE];
// the other vhost sets request and response headers, some per
// <LocationMatch>.
func TestCompatReal20CookOps(t *testing.T) {
	api, spa := newBackend(t, "api", nil), newBackend(t, "spa", nil)
	s := startReal(t, "20-cookops-upgrade-websocket.conf", "127.0.0.1:8000", api.addr, "127.0.0.1:8080", spa.addr,
		"<VirtualHost *:443>\n    ServerName cookops.example", "<VirtualHost *:443>\n    ServerName secure.cookops.example")
	m := hostGet(t, s, "cookops.example", "/api/x?y=1")
	wantStatus(t, m, 301)
	if got := m.Get("Location"); got != "https://cookops.example/api/x?y=1" {
		t.Errorf("Location = %q", got)
	}
	m = hostGet(t, s, "secure.cookops.example", "/assets/app.js")
	wantBackend(t, m, "spa")
	if got := m.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control = %q", got)
	}
	if got := m.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	if r := spa.last(); r.Get("X-Forwarded-Proto") != "https" || r.Get("X-Forwarded-Host") != "cookops.example" {
		t.Errorf("request headers: %+v", r.Header)
	}
	m = hostGet(t, s, "secure.cookops.example", "/auth/mcp-grants/x")
	wantStatus(t, m, 404)
	if got := m.Get("Strict-Transport-Security"); got == "" {
		t.Errorf("Header always must reach sluice's own 404")
	}
}

func TestCompatErrorDocument(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "errors"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "errors", "503.html"), []byte("<p>down for maintenance</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSluice(t, writeConfig(t, t.TempDir(), "e.conf", `Listen 127.0.0.1:0
DocumentRoot {ROOT}
ErrorDocument 503 /errors/503.html
ErrorDocument 404 "nothing here"
ProxyPass /errors/ !
ProxyPass /app http://{DEAD}/
`, "{ROOT}", root, "{DEAD}", testnet.ClosedAddr(t)))
	m := hostGet(t, s, "front.example.com", "/app/x")
	wantStatus(t, m, 503)
	if string(m.Body) != "<p>down for maintenance</p>" || !strings.HasPrefix(m.Get("Content-Type"), "text/html") {
		t.Errorf("503 body %q type %q", m.Body, m.Get("Content-Type"))
	}
	m = hostGet(t, s, "front.example.com", "/errors/none")
	wantStatus(t, m, 404)
	if string(m.Body) != "nothing here" {
		t.Errorf("404 body %q", m.Body)
	}
}

// TestCompatRealConfigsCheck: every real config passes -t (a config
// sluice cannot serve would fail, naming the line and the reason).
func TestCompatRealConfigsCheck(t *testing.T) {
	refused := map[string]string{}
	files, _ := filepath.Glob("../../testdata/config/real/*.conf")
	if len(files) != 20 {
		t.Fatalf("found %d real configs", len(files))
	}
	for _, f := range files {
		base := filepath.Base(f)
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		conf := string(text)
		if base == "13-include-sites.conf" {
			abs, _ := filepath.Abs("../../testdata/config/real/13-include-sites")
			conf = "ServerRoot " + abs + "\n" + conf
		}
		path := writeConfig(t, t.TempDir(), base, "Listen 127.0.0.1:8080\n"+conf)
		out, errOut, code := runSluice(t, "-config", path, "-t")
		if want, ok := refused[base]; ok {
			if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, base+":") {
				t.Errorf("%s: exit %d %q, want a failure naming the line and %q", base, code, errOut, want)
			}
			continue
		}
		if code != 0 || !strings.Contains(out, "Syntax OK") {
			t.Errorf("%s: exit %d\n%s", base, code, errOut)
		}
	}
}

// TestCompatReal03LocationRewrite runs the Confluence config whose
// WebSocket split is a per-directory rewrite inside <Location /synchrony>:
// an upgrade under /synchrony goes to the ws:// balancer, a plain request
// there to the http:// one by its ProxyPass, and an upgrade elsewhere is
// not rewritten at all.
func TestCompatReal03LocationRewrite(t *testing.T) {
	s1, s2 := newBackend(t, "s1", nil), newBackend(t, "s2", nil)
	c1, c2 := newBackend(t, "c1", nil), newBackend(t, "c2", nil)
	s := startReal(t, "03-confluence-dc-location-rewrite.conf",
		"confluence-node1.example.com:8091", s1.addr, "confluence-node2.example.com:8091", s2.addr,
		"confluence-node1.example.com:8090", c1.addr, "confluence-node2.example.com:8090", c2.addr)
	sync := map[string]*rawBackend{"s1": s1, "s2": s2}
	upgraded := func(name string) bool {
		b := sync[name]
		return b != nil && b.last().Get("Upgrade") == "WebSocket"
	}

	m := hostGet(t, s, "confluencecluster", "/synchrony/v1/bayeux-sync1?x=1", "Upgrade: WebSocket", "Connection: Upgrade",
		"Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
	if name := m.Get("X-Backend"); !upgraded(name) {
		t.Errorf("an upgrade under /synchrony went to %q (status %d) without its Upgrade: not the ws:// balancer", name, m.Status)
	}
	if got := string(sync[m.Get("X-Backend")].last().URI); got != "/synchrony/v1/bayeux-sync1?x=1" {
		t.Errorf("the ws:// member was asked for %q", got)
	}

	m = hostGet(t, s, "confluencecluster", "/synchrony/v1/heartbeat")
	wantStatus(t, m, 200)
	if name := m.Get("X-Backend"); sync[name] == nil {
		t.Errorf("a plain request under /synchrony went to %q, want a synchrony node", name)
	}

	// Apache sends an upgrade to a worker that cannot upgrade as a plain
	// request, Upgrade dropped as hop-by-hop; sluice answered 400 until the
	// tenth session.
	m = hostGet(t, s, "confluencecluster", "/wiki/x", wsHeaders...)
	wantStatus(t, m, 200)
	conf := map[string]*rawBackend{"c1": c1, "c2": c2}
	if b := conf[m.Get("X-Backend")]; b == nil {
		t.Errorf("an upgrade outside /synchrony went to %q (status %d), want a confluence node", m.Get("X-Backend"), m.Status)
	} else if r := b.last(); r.Has("Upgrade") || r.URI != "/wiki/x" {
		t.Errorf("the confluence node was asked for %s with Upgrade %q", r.URI, r.Values("Upgrade"))
	}
}

// redirectingBackend echoes like newBackend's default handler, and answers
// /redir with a redirect to its own absolute URL, as a backend that does
// not know it is proxied does.
func redirectingBackend(t *testing.T, name string) *rawBackend {
	t.Helper()
	var b *rawBackend
	b = newBackend(t, name, func(w *bufio.Writer, r *backendReq) bool {
		if r.URI == "/redir" {
			writeResp(w, 302, []string{"X-Backend: " + name, "Location: http://" + b.addr + "/landed"}, "")
			return false
		}
		return b.echo(w, r)
	})
	return b
}

// managerBalancers is what a manager's GET …/api/balancers says of its
// balancers, as far as the compatibility tests read it.
type managerBalancers struct {
	ServerName string `json:"server_name"`
	Balancers  []struct {
		Name     string `json:"name"`
		LBMethod string `json:"lbmethod"`
		Members  []struct {
			ID string `json:"id"`
		} `json:"members"`
	} `json:"balancers"`
}
