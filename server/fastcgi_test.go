package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// fcgiApp is a FastCGI application served by Go's net/http/fcgi (an
// implementation independent of sluice's), on a loopback port or a Unix
// domain socket. It answers /status, /redirect and /big specially and
// otherwise describes the request it got as JSON.
type fcgiApp struct {
	addr  string
	conns atomic.Int64 // connections accepted
}

type fcgiSeen struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
	Env               map[string]string
}

func startFCGIApp(t *testing.T, network, addr string) *fcgiApp {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	app := &fcgiApp{addr: ln.Addr().String()}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/status"):
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "nope")
			return
		case strings.HasSuffix(r.URL.Path, "/redirect"):
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		case strings.HasSuffix(r.URL.Path, "/big"):
			w.Header().Set("Content-Length", "1048576")
			w.Write([]byte(strings.Repeat("0123456789abcdef", 1<<16)))
			return
		}
		body, _ := io.ReadAll(r.Body)
		seen := fcgiSeen{Method: r.Method, URI: r.URL.RequestURI(), Host: r.Host, Header: r.Header, Body: string(body), Env: fcgi.ProcessEnv(r)}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Two", "1")
		w.Header().Add("X-Two", "2")
		json.NewEncoder(w).Encode(seen)
	})
	go fcgi.Serve(countingListener{ln, &app.conns}, h)
	return app
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func fcgiProxy(t *testing.T, conf string) *fasthttp.Client {
	t.Helper()
	cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\n"+conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, c := serveProxy(t, cfg)
	return c
}

func seenBy(t *testing.T, body string) fcgiSeen {
	t.Helper()
	var s fcgiSeen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("%v: %q", err, body)
	}
	return s
}

// TestFastCGI: fcgi:// members over TCP and a Unix domain socket, direct
// and in a balancer, get the request as CGI variables and answer through
// their CGI head.
func TestFastCGI(t *testing.T) {
	tcp := startFCGIApp(t, "tcp", "127.0.0.1:0")
	sock := filepath.Join(t.TempDir(), "app.sock")
	uds := startFCGIApp(t, "unix", sock)
	c := fcgiProxy(t, strings.NewReplacer("ADDR", tcp.addr, "SOCK", sock).Replace(`
SetEnv APP_ENV production
RequestHeader set X-Added yes
ProxyPass /tcp/ fcgi://ADDR/srv/www/
ProxyPass /uds/ unix:SOCK|fcgi://localhost/srv/uds/
<Proxy balancer://fpm>
    BalancerMember fcgi://ADDR
    BalancerMember unix:SOCK|fcgi://pool-2 enablereuse=on
</Proxy>
ProxyPass /lb/ balancer://fpm/srv/lb/
<Location /tcp/auth/>
    CGIPassAuth On
</Location>
<Proxy fcgi://ADDR/srv/www/auth2/>
    CGIPassAuth On
</Proxy>
`))

	status, body, h := do(t, c, "GET", "/tcp/a%20b/c.php?x=1&y=%41", "X-Custom", "v", "Authorization", "Basic Zm9vOmJhcg==",
		"X_Spoof", "s", "Proxy", "http://evil", "Accept", "a", "Accept", "b")
	if status != 200 || string(h.ContentType()) != "application/json" || len(h.PeekAll("X-Two")) != 2 {
		t.Fatalf("status %d, type %q, X-Two %q: %s", status, h.ContentType(), h.PeekAll("X-Two"), body)
	}
	seen := seenBy(t, body)
	want := map[string]string{
		"SCRIPT_FILENAME": "proxy:fcgi://" + tcp.addr + "/srv/www/a%20b/c.php",
		"APP_ENV":         "production",
		"DOCUMENT_ROOT":   "/var/www/html",
		"SERVER_SOFTWARE": "sluice",
		"REQUEST_SCHEME":  "http",
		"SERVER_PORT":     "80",
		"SERVER_NAME":     "front.example.com",
	}
	for k, v := range want {
		if seen.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, seen.Env[k], v)
		}
	}
	if seen.URI != "/tcp/a%20b/c.php?x=1&y=%41" || seen.Method != "GET" || seen.Host != "front.example.com" {
		t.Errorf("request %s %s for %s", seen.Method, seen.URI, seen.Host)
	}
	if seen.Header.Get("X-Custom") != "v" || seen.Header.Get("X-Added") != "yes" || seen.Header.Get("Accept") != "a, b" {
		t.Errorf("fields %v", seen.Header)
	}
	for _, gone := range []string{"Authorization", "Proxy", "X_spoof", "X-Spoof", "X-Forwarded-For", "X-Forwarded-Host", "Via"} {
		if v := seen.Header.Get(gone); v != "" {
			t.Errorf("%s passed to the application: %q", gone, v)
		}
	}
	for _, path := range []string{"/tcp/auth/x", "/tcp/auth2/x"} {
		if _, body, _ = do(t, c, "GET", path, "Authorization", "Bearer t"); seenBy(t, body).Header.Get("Authorization") != "Bearer t" {
			t.Errorf("%s: CGIPassAuth On did not pass Authorization: %s", path, body)
		}
	}

	// Bodies: a small POST, a large one, a chunked one.
	for _, size := range []int{5, 300 << 10} {
		payload := strings.Repeat("p", size)
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://front.example.com/uds/form")
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/x-www-form-urlencoded")
		req.SetBodyString(payload)
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("POST %d bytes: %v %d", size, err, resp.StatusCode())
		}
		seen := seenBy(t, string(resp.Body()))
		if seen.Body != payload || seen.Env["SCRIPT_FILENAME"] != "proxy:fcgi://localhost/srv/uds/form" || seen.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("POST %d bytes: got %d bytes, script %q, type %q", size, len(seen.Body), seen.Env["SCRIPT_FILENAME"], seen.Header.Get("Content-Type"))
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}

	// The CGI head: Status, Location, Content-Length.
	if status, body, _ := do(t, c, "GET", "/tcp/status"); status != 404 || body != "nope" {
		t.Errorf("Status: 404 relayed as %d %q", status, body)
	}
	if status, _, h := do(t, c, "GET", "/tcp/redirect"); status != 301 || string(h.Peek("Location")) != "/elsewhere" {
		t.Errorf("redirect relayed as %d %q", status, h.Peek("Location"))
	}
	if status, body, h := do(t, c, "GET", "/uds/big"); status != 200 || len(body) != 1<<20 || h.ContentLength() != 1<<20 {
		t.Errorf("1 MiB body: %d, %d bytes, length %d", status, len(body), h.ContentLength())
	}
	if status, body, _ := do(t, c, "HEAD", "/tcp/x"); status != 200 || body != "" {
		t.Errorf("HEAD: %d %q", status, body)
	}

	// The balancer turns over both members; the socket member keeps its
	// connection (enablereuse=on), the TCP one does not (Apache's default
	// for fcgi://).
	scripts := map[string]int{}
	tcpBefore, udsBefore := tcp.conns.Load(), uds.conns.Load()
	for range 6 {
		_, body, _ := do(t, c, "GET", "/lb/p")
		scripts[seenBy(t, body).Env["SCRIPT_FILENAME"]]++
	}
	want2 := map[string]int{"proxy:fcgi://" + tcp.addr + "/srv/lb/p": 3, "proxy:fcgi://pool-2/srv/lb/p": 3}
	if fmt.Sprint(scripts) != fmt.Sprint(want2) {
		t.Errorf("balanced as %v, want %v", scripts, want2)
	}
	if n := tcp.conns.Load() - tcpBefore; n != 3 {
		t.Errorf("TCP member: %d connections for 3 requests, want 3", n)
	}
	if n := uds.conns.Load() - udsBefore; n != 1 {
		t.Errorf("socket member with enablereuse=on: %d connections for 3 requests, want 1", n)
	}
}

// TestFastCGIDown: an application that cannot be reached is a 503; one
// that closes without answering a 502.
func TestFastCGIDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mute.Close() })
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			io.CopyN(io.Discard, c, 8)
			c.Close()
		}
	}()
	c := fcgiProxy(t, "ProxyPass /down/ fcgi://"+closed+"/\nProxyPass /mute/ fcgi://"+mute.Addr().String()+"/\n")
	if status, _, _ := do(t, c, "GET", "/down/x"); status != 503 {
		t.Errorf("unreachable application: %d, want 503", status)
	}
	if status, _, _ := do(t, c, "GET", "/mute/x"); status != 502 {
		t.Errorf("application closing without an answer: %d, want 502", status)
	}
}

// TestUnixSocketHTTPMember: unix:/path|http://name/ members speak HTTP
// over the socket, their Host the name after "|"; a WebSocket tunnel
// dials its socket too.
func TestUnixSocketHTTPMember(t *testing.T) {
	dir := t.TempDir()
	sock, wsSock := filepath.Join(dir, "http.sock"), filepath.Join(dir, "ws.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "%s %s for %s", ctx.Method(), ctx.RequestURI(), ctx.Host())
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	wsLn, err := net.Listen("unix", wsSock)
	if err != nil {
		t.Fatal(err)
	}
	heads := upgradeMember(t, wsLn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	c := fcgiProxy(t, "ProxyPass /u/ unix:"+sock+"|http://app.internal/base/\nProxyPass /ws unix:"+wsSock+"|ws://chat.internal/\n")
	if status, body, _ := do(t, c, "GET", "/u/x?q=1"); status != 200 || body != "GET /base/x?q=1 for app.internal" {
		t.Errorf("over the socket: %d %q", status, body)
	}
	resp, conn, br := upgradeThrough(t, c)
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d, want 101", resp.StatusCode())
	}
	if head := <-heads; !strings.Contains(strings.ToLower(head), "host: chat.internal\r\n") {
		t.Errorf("the tunnel's request:\n%s", head)
	}
	io.WriteString(conn, "x")
	if b, err := br.ReadByte(); err != nil || b != 'x' {
		t.Fatalf("echo %q, %v", b, err)
	}
}

// TestFastCGIUntrustedForwarding: with trusted_proxies, a peer outside
// them cannot assert forwarding data to the application either
// (threats.md HDR-03): its X-Forwarded-*, Forwarded and X-Real-IP fields
// become no HTTP_* variable; a trusted peer's do.
func TestFastCGIUntrustedForwarding(t *testing.T) {
	app := startFCGIApp(t, "tcp", "127.0.0.1:0")
	for _, tc := range []struct {
		trusted string
		kept    bool
	}{{"10.0.0.0/8", false}, {"0.0.0.0/0", true}} {
		cfg, err := config.ParseYAML("test.yaml", []byte("listen: ['127.0.0.1:0']\ntrusted_proxies: ['"+tc.trusted+"']\nserver:\n  routes:\n    - {path: /, target: 'fcgi://"+app.addr+"/'}\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, c := serveProxy(t, cfg)
		_, body, _ := do(t, c, "GET", "/x", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Proto", "https", "Forwarded", "for=6.6.6.6", "X-Real-IP", "6.6.6.6", "X-Other", "o")
		seen := seenBy(t, body)
		for _, f := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "Forwarded", "X-Real-Ip"} {
			if got := seen.Header.Get(f) != ""; got != tc.kept {
				t.Errorf("trusted_proxies %s: %s passed %v, want %v", tc.trusted, f, got, tc.kept)
			}
		}
		if seen.Header.Get("X-Other") != "o" {
			t.Errorf("X-Other lost: %v", seen.Header)
		}
	}
}

// TestFastCGIGenericBackend: ProxyFCGIBackendType GENERIC sends
// SCRIPT_FILENAME as the path alone, for applications other than PHP-FPM;
// a vhost takes the main server's setting unless it has its own.
func TestFastCGIGenericBackend(t *testing.T) {
	app := startFCGIApp(t, "tcp", "127.0.0.1:0")
	c := fcgiProxy(t, strings.ReplaceAll(`ProxyFCGIBackendType GENERIC
ProxyPass /g/ fcgi://APP/srv/www/
<VirtualHost *:80>
    ServerName fpm.example.com
    ProxyFCGIBackendType FPM
    ProxyPass /g/ fcgi://APP/srv/www/
</VirtualHost>
<VirtualHost *:80>
    ServerName front.example.com
    ProxyPass /g/ fcgi://APP/srv/www/
</VirtualHost>
`, "APP", app.addr))
	if _, body, _ := do(t, c, "GET", "/g/x.php?q=1"); seenBy(t, body).Env["SCRIPT_FILENAME"] != "/srv/www/x.php" {
		t.Errorf("GENERIC: SCRIPT_FILENAME %q, want /srv/www/x.php", seenBy(t, body).Env["SCRIPT_FILENAME"])
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://fpm.example.com/g/x.php")
	if err := c.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	if got := seenBy(t, string(resp.Body())).Env["SCRIPT_FILENAME"]; got != "proxy:fcgi://"+app.addr+"/srv/www/x.php" {
		t.Errorf("FPM in a vhost: SCRIPT_FILENAME %q", got)
	}
}

// TestFastCGIChunkedBodyLimit: a chunked body read whole for an fcgi://
// member is held to the body limit: 413, and the application never gets
// the request.
func TestFastCGIChunkedBodyLimit(t *testing.T) {
	app := startFCGIApp(t, "tcp", "127.0.0.1:0")
	_, addr := serveTCP(t, mustParse(t, "Listen 127.0.0.1:0\nLimitRequestBody 100000\nProxyPass / fcgi://"+app.addr+"/\n"))
	for _, tc := range []struct {
		size   int
		status int
	}{{90000, 200}, {200000, 413}} {
		before := app.conns.Load()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", tc.size, strings.Repeat("b", tc.size))
		var resp fasthttp.Response
		err = resp.Read(bufio.NewReader(c))
		c.Close()
		if err != nil || resp.StatusCode() != tc.status {
			t.Errorf("chunked body of %d bytes: %v %d, want %d", tc.size, err, resp.StatusCode(), tc.status)
		}
		if tc.status == 200 && len(seenBy(t, string(resp.Body())).Body) != tc.size {
			t.Errorf("the application got %d bytes", len(seenBy(t, string(resp.Body())).Body))
		}
		if tc.status == 413 && app.conns.Load() != before {
			t.Errorf("the application was reached by a body over the limit")
		}
	}
}

func mustParse(t *testing.T, conf string) *config.Config {
	t.Helper()
	cfg, err := config.ParseApache("test.conf", []byte(conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestGatewayTimeouts: a FastCGI application or AJP container that takes
// the request and never answers gets the client a 504 after the worker's
// timeout, as an HTTP member does; one that answers its head and stalls
// in the body has the client's connection cut.
func TestGatewayTimeouts(t *testing.T) {
	silent := serveConns(t, func(c net.Conn) {
		defer c.Close()
		io.Copy(io.Discard, c)
	})
	stalls := serveConns(t, func(c net.Conn) {
		defer c.Close()
		var h [8]byte
		for {
			if _, err := io.ReadFull(c, h[:]); err != nil {
				return
			}
			n := int(h[4])<<8 | int(h[5]) + int(h[6])
			if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
				return
			}
			if h[1] == 5 && n == 0 {
				head := "Content-Type: text/plain\r\n\r\npartial"
				c.Write(append([]byte{1, 6, 0, 1, 0, byte(len(head)), 0, 0}, head...))
			}
		}
	})
	c := fcgiProxy(t, "ProxyPass /fcgi/ fcgi://"+silent+"/ timeout=200ms\nProxyPass /ajp/ ajp://"+silent+"/ timeout=200ms\n"+
		"ProxyPass /stall/ fcgi://"+stalls+"/ timeout=200ms\n")
	for _, path := range []string{"/fcgi/x", "/ajp/x"} {
		start := time.Now()
		if status, _, _ := do(t, c, "GET", path); status != 504 {
			t.Errorf("%s: %d, want 504", path, status)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: answered after %v", path, d)
		}
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://front.example.com/stall/x")
	if err := c.Do(req, resp); err == nil {
		t.Errorf("a body that stalls: %d %q, want the connection cut", resp.StatusCode(), resp.Body())
	}
}

// fcgiRecord is an application's record of type typ for request 1.
func fcgiRecord(typ byte, content string) []byte {
	return append([]byte{1, typ, 0, 1, byte(len(content) >> 8), byte(len(content)), 0, 0}, content...)
}

// fcgiOK is an application's whole answer: 200, text/plain "ok".
var fcgiOK = slices.Concat(fcgiRecord(6, "Content-Type: text/plain\r\n\r\nok"), fcgiRecord(6, ""), fcgiRecord(3, "\x00\x00\x00\x00\x00\x00\x00\x00"))

// readFCGIRequest reads one request's records, to its empty STDIN, and
// returns its body; false at the connection's end.
func readFCGIRequest(br *bufio.Reader) (string, bool) {
	var body []byte
	for {
		var h [8]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return "", false
		}
		content := make([]byte, int(h[4])<<8|int(h[5]))
		if _, err := io.ReadFull(br, content); err != nil {
			return "", false
		}
		if _, err := br.Discard(int(h[6])); err != nil {
			return "", false
		}
		if h[1] == 5 { // STDIN; empty, it ends the request
			if len(content) == 0 {
				return string(body), true
			}
			body = append(body, content...)
		}
	}
}

// ajpPacket is a container's packet with payload p.
func ajpPacket(p ...byte) []byte {
	return append([]byte{'A', 'B', byte(len(p) >> 8), byte(len(p))}, p...)
}

// ajpOK is a container's whole answer: 200, text/plain "ok", reusable.
var ajpOK = slices.Concat(ajpPacket(4, 0, 200, 0, 2, 'O', 'K', 0, 0, 1, 0xA0, 0x01, 0, 10, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', 0),
	ajpPacket(3, 0, 2, 'o', 'k', 0), ajpPacket(5, 1))

// readAJPPacket reads the payload of one of sluice's packets, nil at the
// connection's end.
func readAJPPacket(br *bufio.Reader) []byte {
	var h [4]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil
	}
	p := make([]byte, int(h[2])<<8|int(h[3]))
	if _, err := io.ReadFull(br, p); err != nil || len(p) == 0 {
		return nil
	}
	return p
}

// readAJPRequest reads one forward request and returns its body: a GET's
// none, a POST's (short) in the one data packet sluice sends at once;
// false at the connection's end.
func readAJPRequest(br *bufio.Reader) (string, bool) {
	p := readAJPPacket(br)
	if len(p) < 2 || p[0] != 2 {
		return "", false
	}
	if p[1] != 4 { // not a POST
		return "", true
	}
	if p = readAJPPacket(br); len(p) < 2 {
		return "", false
	}
	return string(p[2:]), true
}

// TestGatewayDropsConnWithBytesPastAnswer: a FastCGI application or an
// AJP container whose answer came with bytes past its end (past
// END_REQUEST, past END_RESPONSE) does not get its connection back to the
// pool, as an HTTP member's (pool's TestBackendDropsConnWithBytesPastAnswer):
// the next request goes on a new one.
func TestGatewayDropsConnWithBytesPastAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, scheme, params string
		request              func(br *bufio.Reader) (string, bool) // reads one request
		answer, junk         []byte
	}{
		{"fcgi", "fcgi", " enablereuse=on", readFCGIRequest, fcgiOK, fcgiRecord(6, "evil")},
		{"ajp", "ajp", "", readAJPRequest, ajpOK, ajpPacket(3, 0, 4, 'e', 'v', 'i', 'l', 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			member := serveConns(t, func(c net.Conn) {
				defer c.Close()
				first := conns.Add(1) == 1
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					if _, ok := tc.request(br); !ok {
						return
					}
					answer := tc.answer
					if first && i == 0 {
						answer = slices.Concat(answer, tc.junk) // one write: read along with the answer
					}
					if _, err := c.Write(answer); err != nil {
						return
					}
				}
			})
			c := fcgiProxy(t, "ProxyPass / "+tc.scheme+"://"+member+"/"+tc.params+"\n")
			for i := range 2 {
				if status, body, _ := do(t, c, "GET", "/x"); status != 200 || body != "ok" {
					t.Fatalf("request %d: %d %q", i+1, status, body)
				}
			}
			if n := conns.Load(); n != 2 {
				t.Fatalf("%d member connections, want 2", n)
			}
		})
	}
}

// gatewayMembers are the FastCGI and AJP members the gateway tests script:
// the scheme, the worker parameters that keep a connection, and how the
// member reads a request and answers one.
var gatewayMembers = []struct {
	scheme, params string
	request        func(br *bufio.Reader) (string, bool)
	answer         []byte
}{
	{"fcgi", " enablereuse=on", readFCGIRequest, fcgiOK},
	{"ajp", "", readAJPRequest, ajpOK},
}

// TestGatewayStaleConn: a FastCGI application or an AJP container that
// closed its pooled connection while it sat idle gets the next request on
// a new connection, a POST whose body is a stream included: sluice finds
// the close before it writes, as for an HTTP member (the POST went onto
// the dead connection and got 502).
func TestGatewayStaleConn(t *testing.T) {
	for _, tc := range gatewayMembers {
		t.Run(tc.scheme, func(t *testing.T) {
			var conns atomic.Int32
			closed := make(chan struct{})
			bodies := make(chan string, 4)
			member := serveConns(t, func(c net.Conn) {
				defer c.Close()
				first := conns.Add(1) == 1
				br := bufio.NewReader(c)
				for {
					body, ok := tc.request(br)
					if !ok {
						return
					}
					bodies <- body
					if _, err := c.Write(tc.answer); err != nil {
						return
					}
					if first {
						c.Close()
						close(closed)
						return
					}
				}
			})
			c := fcgiProxy(t, "ProxyPass / "+tc.scheme+"://"+member+"/"+tc.params+"\n")
			if status, body, _ := do(t, c, "GET", "/x"); status != 200 || body != "ok" {
				t.Fatalf("GET: %d %q", status, body)
			}
			<-closed
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://front.example.com/x")
			req.Header.SetMethod("POST")
			req.SetBodyString("hello")
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 || string(resp.Body()) != "ok" {
				t.Fatalf("POST on the closed connection's pool: %v %d %q, want 200", err, resp.StatusCode(), resp.Body())
			}
			if got := <-bodies + "|" + <-bodies; got != "|hello" {
				t.Errorf("the member got the bodies %q, want the GET's none, then hello", got)
			}
			if n := conns.Load(); n != 2 {
				t.Fatalf("%d member connections, want 2", n)
			}
		})
	}
}

// TestGatewayMemberRestart: a FastCGI application or an AJP container
// whose pooled connections all went stale (it restarted, closing them
// while they sat idle; or it takes the next request on each and closes it
// unanswered) gets the next request on a new connection: the first stale
// one closes the pool's other idle ones, as for an HTTP member (the retry
// took the next stale one, and the GET got 502).
func TestGatewayMemberRestart(t *testing.T) {
	const pooled = 4
	for _, tc := range gatewayMembers {
		for _, idle := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/closed-while-idle=%v", tc.scheme, idle), func(t *testing.T) {
				var conns atomic.Int32
				arrived, closed := make(chan struct{}, pooled), make(chan struct{}, pooled)
				answer, restart := make(chan struct{}), make(chan struct{})
				member := serveConns(t, func(c net.Conn) {
					defer c.Close()
					br := bufio.NewReader(c)
					if conns.Add(1) <= pooled {
						// One answer once all the pooled connections hold
						// a request, then the restart.
						if _, ok := tc.request(br); !ok {
							return
						}
						arrived <- struct{}{}
						<-answer
						if _, err := c.Write(tc.answer); err != nil {
							return
						}
						if idle {
							<-restart
						} else {
							tc.request(br)
						}
						c.Close()
						closed <- struct{}{}
						return
					}
					for {
						if _, ok := tc.request(br); !ok {
							return
						}
						if _, err := c.Write(tc.answer); err != nil {
							return
						}
					}
				})
				c := fcgiProxy(t, "ProxyPass / "+tc.scheme+"://"+member+"/"+tc.params+"\n")
				statuses := make(chan int, pooled)
				for range pooled {
					go func() {
						req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
						req.SetRequestURI("http://front.example.com/x")
						_ = c.Do(req, resp)
						statuses <- resp.StatusCode()
					}()
				}
				for range pooled {
					<-arrived
				}
				close(answer)
				for range pooled {
					if status := <-statuses; status != 200 {
						t.Fatalf("a request filling the pool: %d", status)
					}
				}
				if idle {
					close(restart)
					for range pooled {
						<-closed
					}
				}
				if status, body, _ := do(t, c, "GET", "/x"); status != 200 || body != "ok" {
					t.Fatalf("GET after the restart: %d %q, want 200", status, body)
				}
				if n := conns.Load(); n != pooled+1 {
					t.Fatalf("%d member connections, want %d", n, pooled+1)
				}
			})
		}
	}
}

// TestFastCGIChunkedBodyCutShort: a chunked body the client stops sending
// mid-chunk is no body to read whole for an fcgi:// member: 400, and the
// application never gets the request. Before, the stream's
// io.ErrUnexpectedEOF read as the end of a short body, and the
// application got the first bytes as the whole body.
func TestFastCGIChunkedBodyCutShort(t *testing.T) {
	app := startFCGIApp(t, "tcp", "127.0.0.1:0")
	_, addr := serveTCP(t, mustParse(t, "Listen 127.0.0.1:0\nProxyPass / fcgi://"+app.addr+"/\n"))
	c := dialTCP(t, addr)
	if _, err := io.WriteString(c, "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n9\r\nabc"); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if resp := readResponse(t, c); resp.StatusCode() != fasthttp.StatusBadRequest {
		t.Errorf("answered %d, want 400", resp.StatusCode())
	}
	if n := app.conns.Load(); n != 0 {
		t.Errorf("the application was reached %d times, want never", n)
	}
}

// TestFastCGIOverloadedStreamedBody: an application that refuses a
// request with END_REQUEST FCGI_OVERLOADED after reading its streamed
// body leaves no body to send another member. Before, the balancer failed
// over all the same, and the next member got CONTENT_LENGTH 5 with an
// empty STDIN.
func TestFastCGIOverloadedStreamedBody(t *testing.T) {
	overloaded := serveConns(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			if _, ok := readFCGIRequest(br); !ok {
				return
			}
			if _, err := c.Write(fcgiRecord(3, "\x00\x00\x00\x00\x02\x00\x00\x00")); err != nil {
				return
			}
		}
	})
	bodies := make(chan string, 4)
	spare := serveConns(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			body, ok := readFCGIRequest(br)
			if !ok {
				return
			}
			bodies <- body
			if _, err := c.Write(fcgiOK); err != nil {
				return
			}
		}
	})
	c := fcgiProxy(t, "<Proxy balancer://fpm>\nBalancerMember fcgi://"+overloaded+"\nBalancerMember fcgi://"+spare+" status=+H\n</Proxy>\nProxyPass / balancer://fpm/\n")
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://front.example.com/x")
	req.Header.SetMethod("POST")
	req.SetBodyString("hello")
	if err := c.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-bodies:
		if body != "hello" {
			t.Fatalf("the spare member got the body %q, want hello (status %d)", body, resp.StatusCode())
		}
	default:
		if resp.StatusCode() != fasthttp.StatusServiceUnavailable {
			t.Errorf("answered %d, want 503", resp.StatusCode())
		}
	}
}

// startFCGIEnvApp is a FastCGI application that answers each request
// with its CGI environment, one NAME=VALUE line each; conns counts its
// connections.
func startFCGIEnvApp(t *testing.T, conns *atomic.Int32) string {
	return serveConns(t, func(c net.Conn) {
		defer c.Close()
		conns.Add(1)
		br := bufio.NewReader(c)
		var params []byte
		for {
			var h [8]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return
			}
			content := make([]byte, int(h[4])<<8|int(h[5])+int(h[6]))
			if _, err := io.ReadFull(br, content); err != nil {
				return
			}
			content = content[:int(h[4])<<8|int(h[5])]
			if h[1] == 4 {
				params = append(params, content...)
			}
			if h[1] == 5 && len(content) == 0 {
				break
			}
		}
		var env strings.Builder
		for len(params) > 0 {
			var n [2]int
			for i := range n {
				if params[0] < 128 {
					n[i], params = int(params[0]), params[1:]
				} else {
					n[i], params = int(params[0]&0x7f)<<24|int(params[1])<<16|int(params[2])<<8|int(params[3]), params[4:]
				}
			}
			fmt.Fprintf(&env, "%s=%s\n", params[:n[0]], params[n[0]:n[0]+n[1]])
			params = params[n[0]+n[1]:]
		}
		c.Write(slices.Concat(fcgiRecord(6, "Content-Type: text/plain\r\n\r\n"+env.String()), fcgiRecord(6, ""), fcgiRecord(3, "\x00\x00\x00\x00\x00\x00\x00\x00")))
	})
}

// envOf reads an env app's answer.
func envOf(body string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// TestFileHandlerFirstScript: with two file handlers, the script is the
// first segment of the path that either matches, what follows it being
// PATH_INFO, as Apache, which stops at the first file on disk, runs it.
// Before, the later handler took /index.php/x.inc as its script
// /index.php/x.inc, for a PATH_INFO that named a file of its kind.
func TestFileHandlerFirstScript(t *testing.T) {
	var php, inc atomic.Int32
	c := fcgiProxy(t, "DocumentRoot /srv\n<FilesMatch \"\\.php$\">\n    SetHandler \"proxy:fcgi://"+startFCGIEnvApp(t, &php)+"\"\n</FilesMatch>\n"+
		"<Files \"*.inc\">\n    SetHandler \"proxy:fcgi://"+startFCGIEnvApp(t, &inc)+"\"\n</Files>\n")
	for _, tc := range []struct {
		path, script, info string
		app                *atomic.Int32
	}{
		{"/index.php/x.inc", "/index.php", "/x.inc", &php},
		{"/lib/a.inc/b.php", "/lib/a.inc", "/b.php", &inc},
		{"/a.php", "/a.php", "", &php},
	} {
		before := tc.app.Load()
		status, body, _ := do(t, c, "GET", tc.path)
		if status != 200 {
			t.Fatalf("%s: %d %s", tc.path, status, body)
		}
		env := envOf(body)
		if env["SCRIPT_NAME"] != tc.script || env["PATH_INFO"] != tc.info || tc.app.Load() == before {
			t.Errorf("%s: SCRIPT_NAME %q, PATH_INFO %q, or not the application of %s", tc.path, env["SCRIPT_NAME"], env["PATH_INFO"], tc.script)
		}
	}
}
