package hcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/hcheck/hcexpr"
	"github.com/sluiceproxy/sluice/pool"
)

// probeOnce runs one network check of m, reusing cn.
func probeOnce(t *testing.T, c *Checker, m *pool.Member, exprs Exprs, cn *conn) (outcome, *conn) {
	t.Helper()
	p := newPlan(m, exprs)
	if p == nil {
		t.Fatalf("%s is not checked", m.ID)
	}
	return c.netProbe(context.Background(), p, cn)
}

func closeConn(cn *conn) {
	if cn != nil {
		cn.Close()
	}
}

func TestTarget(t *testing.T) {
	tests := []struct{ path, hcuri, want string }{
		{"", "", "/"},  // Apache: an empty request target
		{"/", "", "/"}, // Apache: "/"
		{"", "/maint", "/maint"},
		{"/sub/", "/hc", "/sub/hc"}, // Apache: "/sub///hc"
		{"/sub", "hc", "/sub/hc"},
		{"/sub/", "", "/sub/"},
		{"", "hc?x=1", "/hc?x=1"},
		{"/a", "/b c\x01", "/a/b%20c%01"},
	}
	for _, tt := range tests {
		if got := target(tt.path, tt.hcuri); got != tt.want {
			t.Errorf("target(%q, %q) = %q, want %q", tt.path, tt.hcuri, got, tt.want)
		}
	}
}

// The request line and headers are Apache's: HTTP/1.0 unless the method
// ends in 11, Host always with the port, nothing else.
func TestRequestSent(t *testing.T) {
	b := newBackend(t, func(int, string) string { return reply(200, "") })
	host := "Host: " + b.addr + "\r\n\r\n"
	tests := []struct {
		url, method, hcuri, want string
	}{
		{"http://" + b.addr, "GET", "", "GET / HTTP/1.0\r\n" + host},
		{"http://" + b.addr + "/sub/", "HEAD", "/hc", "HEAD /sub/hc HTTP/1.0\r\n" + host},
		{"http://" + b.addr, "GET", "/maint", "GET /maint HTTP/1.0\r\n" + host},
		{"http://" + b.addr + "/app", "OPTIONS", "/ignored", "OPTIONS * HTTP/1.0\r\n" + host},
		{"http://" + b.addr, "GET11", "/hc", "GET /hc HTTP/1.1\r\n" + host},
		{"http://" + b.addr, "HEAD11", "", "HEAD / HTTP/1.1\r\n" + host},
		{"ws://" + b.addr + "/ws/", "OPTIONS11", "", "OPTIONS * HTTP/1.1\r\n" + host},
	}
	c := New(Options{})
	reg := pool.NewRegistry()
	for i, tt := range tests {
		p := hc(tt.method, time.Second, 1, 1)
		p.HCURI = tt.hcuri
		out, cn := probeOnce(t, c, member(t, reg, tt.url, p), nil, nil)
		closeConn(cn)
		heads, _, _ := b.stats()
		if !out.ok || out.status != 200 {
			t.Errorf("%s %s: %+v", tt.method, tt.url, out)
		}
		if len(heads) != i+1 || heads[i] != tt.want {
			t.Errorf("%s %s hcuri=%q sent %q, want %q", tt.method, tt.url, tt.hcuri, heads[len(heads)-1], tt.want)
		}
	}
}

func TestTCPCheck(t *testing.T) {
	b := newBackend(t, nil)
	c := New(Options{})
	reg := pool.NewRegistry()
	out, cn := probeOnce(t, c, member(t, reg, "http://"+b.addr, hc("TCP", time.Second, 1, 1)), nil, nil)
	if !out.ok || cn != nil {
		t.Fatalf("TCP check of a listener: %+v", out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	out, _ = probeOnce(t, c, member(t, reg, "https://"+closed, hc("TCP", time.Second, 1, 1)), nil, nil)
	if want := "cannot connect: connection refused by " + closed; out.ok || out.why != want {
		t.Fatalf("TCP check of a closed port: %+v, want %q", out, want)
	}
}

func TestStatusJudgement(t *testing.T) {
	status := 0
	b := newBackend(t, func(int, string) string { return reply(status, "") })
	c := New(Options{})
	m := member(t, pool.NewRegistry(), "http://"+b.addr, hc("HEAD", time.Second, 1, 1))
	for _, tt := range []struct {
		status int
		ok     bool
	}{{200, true}, {204, true}, {302, true}, {399, true}, {101, false}, {400, false}, {500, false}, {503, false}} {
		status = tt.status
		out, cn := probeOnce(t, c, m, nil, nil)
		closeConn(cn)
		if out.ok != tt.ok || out.status != tt.status {
			t.Errorf("status %d: %+v, want ok=%v", tt.status, out, tt.ok)
		}
		if !tt.ok && out.why != "status "+strconv.Itoa(tt.status)+" is not in 200-399" {
			t.Errorf("status %d: why %q", tt.status, out.why)
		}
	}
}

// HTTP/1.1 checks keep their connection: bodies are drained (beyond what
// hcexpr keeps), chunked and HEAD answers included.
func TestKeepAliveAndDrain(t *testing.T) {
	big := strings.Repeat("x", 100<<10) // over MaxBody, under the drain bound
	answers := []string{
		reply(200, "ok"),
		chunked("chunked body"),
		reply(200, big),
		reply(200, ""),
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", // HEAD: no body follows
	}
	b := newBackend(t, func(n int, _ string) string { return answers[n] })
	c := New(Options{MaxBody: 1024})
	reg := pool.NewRegistry()
	get := member(t, reg, "http://"+b.addr, hc("GET11", time.Second, 1, 1))
	head := member(t, reg, "http://"+b.addr, hc("HEAD11", time.Second, 1, 1))
	var cn *conn
	for i, m := range []*pool.Member{get, get, get, get, head} {
		var out outcome
		out, cn = probeOnce(t, c, m, nil, cn)
		if !out.ok || cn == nil {
			t.Fatalf("check %d: %+v, conn kept %v", i+1, out, cn != nil)
		}
	}
	closeConn(cn)
	if _, accepted, _ := b.stats(); accepted != 1 {
		t.Fatalf("%d connections for 5 HTTP/1.1 checks, want 1", accepted)
	}
}

// A connection is given up when the backend asks, when the check is
// HTTP/1.0, or when the rest of the body exceeds the drain bound.
func TestConnectionNotReused(t *testing.T) {
	huge := strings.Repeat("y", DefaultMaxBody+maxDrain+2048)
	tests := []struct {
		name, method, answer string
	}{
		{"Connection: close", "GET11", reply(200, "ok", "Connection: close")},
		{"HTTP/1.0 check", "GET", reply(200, "ok")},
		{"body past the drain bound", "GET11", reply(200, huge)},
		{"body until close", "GET11", "HTTP/1.1 200 OK\r\n\r\nuntil close"},
	}
	for _, tt := range tests {
		b := newBackend(t, func(int, string) string { return tt.answer })
		if strings.HasSuffix(tt.answer, "until close") {
			b.closeAfter = true
		}
		c := New(Options{})
		out, cn := probeOnce(t, c, member(t, pool.NewRegistry(), "http://"+b.addr, hc(tt.method, time.Second, 1, 1)), nil, nil)
		if !out.ok || cn != nil {
			t.Errorf("%s: %+v, conn kept %v", tt.name, out, cn != nil)
		}
		closeConn(cn)
	}
}

// A kept connection the backend closed meanwhile is retried once on a new
// one, so an idle timeout on the backend is not a failed check.
func TestStaleConnectionIsRetried(t *testing.T) {
	b := newBackend(t, func(int, string) string { return reply(200, "ok") })
	b.closeAfter = true // closes without Connection: close
	c := New(Options{})
	m := member(t, pool.NewRegistry(), "http://"+b.addr, hc("GET11", time.Second, 1, 1))
	out, cn := probeOnce(t, c, m, nil, nil)
	if !out.ok || cn == nil {
		t.Fatalf("first check: %+v", out)
	}
	// Let the close arrive before the next write.
	if _, err := cn.br.Peek(1); err == nil {
		t.Fatalf("backend did not close")
	}
	out, cn = probeOnce(t, c, m, nil, cn)
	closeConn(cn)
	if _, accepted, _ := b.stats(); !out.ok || accepted != 2 {
		t.Fatalf("second check: %+v after %d connections", out, accepted)
	}
}

// hcexpr sees the status, the headers and at most MaxBody of the body.
func TestExpressionOnResponse(t *testing.T) {
	body := ""
	b := newBackend(t, func(int, string) string { return reply(200, body, "X-State: green") })
	exprs := Exprs{}
	for name, src := range map[string]string{
		"ready":   `hc('body') =~ /ready/`,
		"maint":   `hc('body') !~ /Under maintenance/`,
		"green":   `resp('x-state') == 'green' && %{REQUEST_STATUS} -eq 200`,
		"no_body": `hc('body') == ''`,
		"untyped": `%{CONTENT_TYPE} == '' && resp('Content-Type') == ''`,
	} {
		x, err := hcexpr.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		exprs[name] = x
	}
	c := New(Options{MaxBody: 1024})
	reg := pool.NewRegistry()
	check := func(method, expr string) outcome {
		p := hc(method, time.Second, 1, 1)
		p.HCExpr = expr
		out, cn := probeOnce(t, c, member(t, reg, "http://"+b.addr, p), exprs, nil)
		closeConn(cn)
		return out
	}
	body = "status: ready"
	if out := check("GET11", "ready"); !out.ok {
		t.Errorf("ready body: %+v", out)
	}
	body = strings.Repeat(".", 2000) + "ready"
	if out := check("GET11", "ready"); out.ok || !strings.HasPrefix(out.why, "hcexpr ready: hc('body') =~ /ready/ was false (hc('body') is \"....") {
		t.Errorf("ready past MaxBody: %+v", out)
	}
	body = "<h1>Under maintenance</h1>"
	if out := check("GET", "maint"); out.ok || out.why != `hcexpr maint: hc('body') !~ /Under maintenance/ was false (hc('body') is "<h1>Under maintenance</h1>")` {
		t.Errorf("maintenance body: %+v", out)
	}
	if out := check("HEAD", "no_body"); !out.ok {
		t.Errorf("HEAD reads no body: %+v", out)
	}
	if out := check("OPTIONS", "green"); !out.ok {
		t.Errorf("header expression: %+v", out)
	}
	// fasthttp's default Content-Type is not the backend's.
	if out := check("GET", "untyped"); !out.ok {
		t.Errorf("no Content-Type sent: %+v", out)
	}
	if out := check("GET", "undefined"); out.ok || out.why != `hcexpr "undefined" is not defined` {
		t.Errorf("undefined expression: %+v", out)
	}
}

func TestTimeout(t *testing.T) {
	block := make(chan struct{})
	b := newBackend(t, func(int, string) string { <-block; return "" })
	defer close(block)
	c := New(Options{})
	p := hc("GET", time.Second, 1, 1)
	p.Timeout = config.Duration(50 * time.Millisecond)
	t0 := time.Now()
	out, cn := probeOnce(t, c, member(t, pool.NewRegistry(), "http://"+b.addr, p), nil, nil)
	if out.ok || cn != nil || out.why != "cannot read the response: timed out (timeout 50ms, connect 50ms)" {
		t.Fatalf("silent backend: %+v", out)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("check took %v", d)
	}
}

func TestHTTPS(t *testing.T) {
	var ts *httptest.Server
	ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hc" || r.Host != strings.TrimPrefix(ts.URL, "https://") {
			w.WriteHeader(404)
		}
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshake below
	ts.StartTLS()
	defer ts.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	c := New(Options{TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}})
	p := hc("GET11", time.Second, 1, 1)
	p.HCURI = "/hc"
	m := member(t, pool.NewRegistry(), ts.URL, p)
	out, cn := probeOnce(t, c, m, nil, nil)
	if !out.ok || cn == nil {
		t.Fatalf("https check: %+v", out)
	}
	out, cn = probeOnce(t, c, m, nil, cn)
	closeConn(cn)
	if !out.ok {
		t.Fatalf("https check on the kept connection: %+v", out)
	}
	out, _ = probeOnce(t, New(Options{}), m, nil, nil)
	if out.ok || !strings.HasPrefix(out.why, "cannot connect: tls handshake: ") {
		t.Fatalf("untrusted certificate: %+v", out)
	}

	// A member whose pool has SSLProxy* settings is checked with them,
	// as Apache checks with the worker's SSL settings.
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseYAML("p.yaml", []byte("listen: [':80']\nserver:\n  proxy_tls: {ca_file: "+ca+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m.Backend = pool.NewBackend(m, pool.BackendOptions{Timeout: time.Second, TLS: cfg.Main.ProxyTLS})
	if out, cn := probeOnce(t, New(Options{}), m, nil, nil); !out.ok {
		t.Fatalf("with the member's SSLProxyCACertificateFile: %+v", out)
	} else {
		closeConn(cn)
	}
}

// An https member on a Unix domain socket is checked with the server name
// and Host of its URL.
func TestHTTPSOverASocket(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "tls.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "example.com:443" {
			w.WriteHeader(404)
		}
	}))
	ts.Listener.Close()
	ts.Listener = ln
	ts.StartTLS()
	defer ts.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate()) // valid for example.com
	c := New(Options{TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}})
	m := member(t, pool.NewRegistry(), "unix:"+ln.Addr().String()+"|https://example.com/", hc("GET", time.Second, 1, 1))
	if out, _ := probeOnce(t, c, m, nil, nil); !out.ok {
		t.Fatalf("https check over a socket: %+v", out)
	}
}

// TestCPINGCheck: hcmethod=CPING of an ajp:// member passes on a CPONG,
// fails on another answer or none in time, and reaches a member on a Unix
// domain socket; TCP checks one there too.
func TestCPINGCheck(t *testing.T) {
	serve := func(network, addr string, answer []byte) string {
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					var ping [5]byte
					if _, err := io.ReadFull(c, ping[:]); err == nil && answer != nil {
						c.Write(answer)
					}
					io.Copy(io.Discard, c)
				}()
			}
		}()
		return ln.Addr().String()
	}
	c := New(Options{})
	reg := pool.NewRegistry()
	sock := filepath.Join(t.TempDir(), "ajp.sock")
	for _, tc := range []struct {
		url, why string
	}{
		{"ajp://" + serve("tcp", "127.0.0.1:0", []byte{'A', 'B', 0, 1, 9}), ""},
		{"unix:" + serve("unix", sock, []byte{'A', 'B', 0, 1, 9}) + "|ajp://tomcat", ""},
		{"ajp://" + serve("tcp", "127.0.0.1:0", []byte("HTTP/")), "answer 48 54 54 50 2f is not a CPONG"},
		{"ajp://" + serve("tcp", "127.0.0.1:0", nil), "no CPONG: "},
	} {
		p := hc("CPING", time.Second, 1, 1)
		p.Timeout = config.Duration(200 * time.Millisecond) // bounds the check
		out, _ := probeOnce(t, c, member(t, reg, tc.url, p), nil, nil)
		if out.ok != (tc.why == "") || !strings.HasPrefix(out.why, tc.why) {
			t.Errorf("%s: %+v, want %q", tc.url, out, tc.why)
		}
	}
	if out, _ := probeOnce(t, c, member(t, reg, "unix:"+sock+"|ajp://tomcat", hc("TCP", time.Second, 1, 1)), nil, nil); !out.ok {
		t.Errorf("TCP check of a socket member: %+v", out)
	}
}

// Shutdown interrupts a CPING waiting for its CPONG: a backend that never
// answers does not hold it until the check's timeout.
func TestCPINGStopsAtShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pinged := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		var ping [5]byte
		io.ReadFull(c, ping[:])
		pinged <- c // and never answered
	}()
	p := hc("CPING", time.Second, 1, 1)
	p.Timeout = config.Duration(time.Minute)
	pl := newPlan(member(t, pool.NewRegistry(), "ajp://"+ln.Addr().String(), p), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan outcome)
	go func() {
		out, _ := New(Options{}).netProbe(ctx, pl, nil)
		done <- out
	}()
	conn := <-pinged
	defer conn.Close()
	cancel()
	select {
	case out := <-done:
		if out.ok {
			t.Fatalf("canceled CPING passed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CPING still waiting for its CPONG 10s after shutdown")
	}
}
