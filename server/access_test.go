package server

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/sluiceproxy/sluice/config"
)

// serverAddr is the address the in-memory listener says it listens on.
var serverAddr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80}

// proxyFrom serves an Apache config (BACKEND replaced) on an in-memory
// listener at serverAddr and returns a client factory: each client's
// connections come from the given peer address.
func proxyFrom(tb testing.TB, conf, backend string) func(peer string) *fasthttp.Client {
	tb.Helper()
	src := "Listen 127.0.0.1:0\n" + strings.ReplaceAll(conf, "BACKEND", backend)
	cfg, err := config.ParseApache("test.conf", []byte(src), nil)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	ln.SetLocalAddr(serverAddr)
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = ln.Close() })
	return func(peer string) *fasthttp.Client {
		from := &net.TCPAddr{IP: net.ParseIP(peer), Port: 40000}
		return &fasthttp.Client{
			Dial:                      func(string) (net.Conn, error) { return ln.DialWithLocalAddr(from) },
			MaxIdemponentCallAttempts: 1,
		}
	}
}

// counting is a backend that counts the requests reaching it.
func counting(tb testing.TB) (string, *atomic.Int64) {
	var n atomic.Int64
	be := startBackend(tb, func(ctx *fasthttp.RequestCtx) {
		n.Add(1)
		ctx.SetBodyString("ok")
	})
	return be, &n
}

// TestRequire: <Proxy> and <Location> Require rules, the last covering
// section deciding, and a refused request never reaching the backend.
func TestRequire(t *testing.T) {
	be, hits := counting(t)
	client := proxyFrom(t, `
<Proxy balancer://b>
    BalancerMember http://BACKEND
    Require ip 10.0.0.0/8
</Proxy>
<Proxy balancer://open>
    BalancerMember http://BACKEND
</Proxy>
<Proxy http://BACKEND/d/secret>
    Require all denied
</Proxy>
ProxyPass /b balancer://b/
ProxyPass /o balancer://open/
ProxyPass /d http://BACKEND/d
<Location /o/private>
    Require ip 192.168.0.0/16
    Require local
</Location>
<Location /b/public>
    Require all granted
</Location>
<LocationMatch ^/o/x[0-9]+$>
    Require all denied
</LocationMatch>
<Location /ws>
    ProxyPass http://BACKEND/ upgrade=websocket
    Require all denied
</Location>
`, be)
	cases := []struct {
		peer, path string
		want       int
	}{
		{"10.1.2.3", "/b/x", 200},
		{"11.0.0.1", "/b/x", 403},
		{"::ffff:10.1.2.3", "/b/x", 200},
		{"11.0.0.1", "/b/public/y", 200}, // the Location replaces the <Proxy> rule
		{"11.0.0.1", "/o/x", 200},
		{"11.0.0.1", "/o/private", 403},
		{"192.168.3.3", "/o/private/z", 200},
		{"192.0.2.1", "/o/private", 200}, // local: the server's own address
		{"127.0.0.1", "/o/private", 200},
		{"11.0.0.1", "/o/privatey", 200}, // not under /o/private
		{"11.0.0.1", "/o/x12", 403},
		{"11.0.0.1", "/o/x12a", 200},
		{"10.1.2.3", "/d/secret", 403},
		{"10.1.2.3", "/d/secretary", 403}, // <Proxy URL> is a plain prefix
		{"10.1.2.3", "/d/public", 200},
		{"10.1.2.3", "/ws/chat", 403},
		{"10.1.2.3", "/nowhere", 404},
	}
	allowed := int64(0)
	for _, c := range cases {
		status, body, _ := do(t, client(c.peer), "GET", c.path)
		if status != c.want {
			t.Errorf("%s from %s: %d, want %d", c.path, c.peer, status, c.want)
		}
		if status == 403 && !strings.Contains(body, "403 Forbidden") {
			t.Errorf("%s from %s: not sluice's error page: %q", c.path, c.peer, body)
		}
		if c.want == 200 {
			allowed++
		}
	}
	if hits.Load() != allowed {
		t.Errorf("backend saw %d requests, want the %d allowed", hits.Load(), allowed)
	}
}

// TestRequireVhostsAndRewrite: the main server's sections apply in every
// vhost, a vhost's own come after them, and a RewriteRule [P] request is
// covered like a ProxyPass one.
func TestRequireVhostsAndRewrite(t *testing.T) {
	be, hits := counting(t)
	client := proxyFrom(t, `
<Proxy *>
    Require ip 10.0.0.0/8
</Proxy>
<VirtualHost *:80>
    ServerName front.example.com
    ProxyPass /p http://BACKEND/
    RewriteEngine On
    RewriteRule ^/r/(.*)$ http://BACKEND/$1 [P]
    <Location /p/open>
        Require all granted
    </Location>
    <Location /r/closed>
        Require all denied
    </Location>
</VirtualHost>
`, be)
	cases := []struct {
		peer, path string
		want       int
	}{
		{"10.0.0.1", "/p/x", 200},
		{"11.0.0.1", "/p/x", 403},
		{"11.0.0.1", "/p/open", 200},
		{"10.0.0.1", "/r/x", 200},
		{"11.0.0.1", "/r/x", 403},
		{"10.0.0.1", "/r/closed", 403},
	}
	allowed := int64(0)
	for _, c := range cases {
		if status, _, _ := do(t, client(c.peer), "GET", c.path); status != c.want {
			t.Errorf("%s from %s: %d, want %d", c.path, c.peer, status, c.want)
		}
		if c.want == 200 {
			allowed++
		}
	}
	if hits.Load() != allowed {
		t.Errorf("backend saw %d requests, want the %d allowed", hits.Load(), allowed)
	}
}
