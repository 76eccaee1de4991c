package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

// echo answers with what the backend received.
func echo(ctx *fasthttp.RequestCtx) {
	var b strings.Builder
	b.WriteString(string(ctx.Method()) + " " + string(ctx.RequestURI()) + "\n")
	for k, v := range ctx.Request.Header.All() {
		b.WriteString(string(k) + ": " + string(v) + "\n")
	}
	b.Write(ctx.PostBody())
	ctx.SetBodyString(b.String())
}

func do(t *testing.T, c *fasthttp.Client, method, uri string, hdr ...string) (int, string, *fasthttp.ResponseHeader) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI("http://front.example.com" + uri)
	req.Header.SetMethod(method)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	if err := c.Do(req, resp); err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	h := new(fasthttp.ResponseHeader)
	resp.Header.CopyTo(h)
	return resp.StatusCode(), string(resp.Body()), h
}

func TestProxyRoutesAndPrepares(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `
ProxyPass /skip !
ProxyPass /p http://BACKEND/b
ProxyPass /q http://BACKEND/
`, be)
	status, body, _ := do(t, c, "GET", "/p/x?y=1", "X-Forwarded-For", "10.0.0.9", "Connection", "X-Drop", "X-Drop", "1")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	for _, want := range []string{"GET /b/x?y=1\n", "X-Forwarded-For: 10.0.0.9, 0.0.0.0\n", "X-Forwarded-Host: front.example.com\n", "Host: " + be + "\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("backend did not get %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "X-Drop") {
		t.Errorf("a field named in Connection reached the backend:\n%s", body)
	}
	if status, _, _ := do(t, c, "GET", "/skip/x"); status != 404 {
		t.Errorf("excluded path: status %d", status)
	}
	if status, _, _ := do(t, c, "GET", "/px"); status != 404 {
		t.Errorf("/px must not match /p: status %d", status)
	}
	if _, body, _ := do(t, c, "GET", "/q/a%20b"); !strings.HasPrefix(body, "GET /a%20b\n") {
		t.Errorf("trailing-slash target: %q", body)
	}
}

func TestProxyRewritesLocation(t *testing.T) {
	var be string
	be = startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Location", "http://"+be+"/b/next?q=1")
		ctx.Response.Header.Add("Set-Cookie", "s=1; Path=/b; Domain=backend.internal")
		ctx.SetStatusCode(302)
	})
	_, c := startProxy(t, `
ProxyPass /p http://BACKEND/b
ProxyPassReverse /p http://BACKEND/b
ProxyPassReverseCookiePath /b /p
ProxyPassReverseCookieDomain backend.internal front.example.com
`, be)
	status, _, h := do(t, c, "GET", "/p/x")
	if status != 302 {
		t.Fatalf("status %d", status)
	}
	if got := string(h.Peek("Location")); got != "http://front.example.com/p/next?q=1" {
		t.Errorf("Location = %q", got)
	}
	var cookie string
	for k, v := range h.All() {
		if strings.EqualFold(string(k), "Set-Cookie") {
			cookie = string(v)
		}
	}
	if cookie != "s=1; Path=/p; Domain=front.example.com" {
		t.Errorf("Set-Cookie = %q", cookie)
	}
}

func TestProxyErrorsMapToStatuses(t *testing.T) {
	_, c := startProxy(t, `
ProxyPass /dead http://127.0.0.1:1/
<Proxy balancer://empty>
</Proxy>
ProxyPass /empty balancer://empty/
`, "")
	for uri, want := range map[string]int{"/dead/x": 503, "/empty/x": 503, "/nowhere": 404} {
		status, body, _ := do(t, c, "GET", uri)
		if status != want {
			t.Errorf("%s: status %d, want %d", uri, status, want)
		}
		if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "refused") {
			t.Errorf("%s: error page leaks internals: %q", uri, body)
		}
	}
}

func TestProxyFailsOverToLiveMember(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("alive") })
	_, c := startProxy(t, `
<Proxy balancer://b>
    BalancerMember http://127.0.0.1:1
    BalancerMember http://BACKEND
</Proxy>
ProxyPass / balancer://b/
`, be)
	for i := range 4 {
		if status, body, _ := do(t, c, "GET", "/x"); status != 200 || body != "alive" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
}

func TestProxyAccountsPerMember(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("0123456789") })
	s, c := startProxy(t, `
<Proxy balancer://b>
    BalancerMember http://BACKEND
</Proxy>
ProxyPass / balancer://b/
`, be)
	for range 5 {
		if status, _, _ := do(t, c, "GET", "/x"); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	m := s.rt.Load().hosts[0].balancers["b"].Load().Members[0]
	st := m.State
	if st.Busy.Load() != 0 || st.Elected.Load() != 5 || st.Read.Load() == 0 || st.Transferred.Load() == 0 {
		t.Fatalf("busy %d elected %d read %d transferred %d", st.Busy.Load(), st.Elected.Load(), st.Read.Load(), st.Transferred.Load())
	}
}

func TestOptionsStarAnsweredLocally(t *testing.T) {
	var hit atomic.Bool
	be := startBackend(t, func(*fasthttp.RequestCtx) { hit.Store(true) })
	_, c := startProxy(t, "ProxyPass / http://BACKEND/\n", be)
	conn, err := c.Dial("")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp := rawRequest(t, conn, "OPTIONS * HTTP/1.1\r\nHost: front.example.com\r\n\r\n")
	if resp.StatusCode() != 200 || string(resp.Header.Peek("Allow")) != allowedMethods || hit.Load() {
		t.Fatalf("status %d Allow %q backend hit %v", resp.StatusCode(), resp.Header.Peek("Allow"), hit.Load())
	}
}

// TestReasonPhraseRelayed: a member's reason phrase reaches the client as
// sent, obs-text and tabs included, unless it holds a control byte (a NUL,
// DEL, a bare CR): then the client gets the status's standard phrase.
func TestReasonPhraseRelayed(t *testing.T) {
	for _, tc := range []struct{ sent, want string }{
		{"Fine By Me", "Fine By Me"},
		{"d\xe9j\xe0\tvu", "d\xe9j\xe0\tvu"},
		{"\x00", "OK"},
		{"OK\rX-Injected: 1", "OK"},
		{"\x01\x1b[2J", "OK"},
		{"OK\x7f", "OK"},
	} {
		be := rawBackend(t, "HTTP/1.1 200 "+tc.sent+"\r\nContent-Length: 2\r\n\r\nok")
		_, c := startProxy(t, "ProxyPass / http://BACKEND/\n", be)
		conn, err := c.Dial("")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || line != "HTTP/1.1 200 "+tc.want+"\r\n" {
			t.Errorf("member sent %q: client got status line %q (%v), want %q", tc.sent, line, err, tc.want)
		}
	}
}

// TestMemberFieldsRelayed: a member's fields reach the client in its
// order and spelling, every one of a repeated name (whatever its case),
// two names of one nameBit both, each Set-Cookie (after the others, as
// fasthttp writes them, whatever their case), the framing and Date fields replaced by
// sluice's own, the hop-by-hop ones removed.
func TestMemberFieldsRelayed(t *testing.T) {
	if nameBit([]byte("ETag")) != nameBit([]byte("X-Frame-Options")) {
		t.Fatal("the names no longer share a bit: pick two that do")
	}
	be := rawBackend(t, "HTTP/1.1 200 OK\r\nVary: a\r\nX-Dup: 1\r\nvary: b\r\nLink: <x>\r\nX-Dup: 2\r\n"+
		"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Type: text/x\r\nLink: <y>\r\nX-Dup: 3\r\nX-One: o\r\n"+
		"ETag: e\r\nKeep-Alive: timeout=5\r\nset-cookie: a=1; Path=/x\r\nX-Frame-Options: f\r\nSet-Cookie: a=2; Path=/y\r\n"+
		"Content-Length: 2\r\n\r\nok")
	_, c := startProxy(t, "ProxyPass / http://BACKEND/\n", be)
	conn, err := c.Dial("")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(got), "\r\n\r\n")
	var fields []string
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if name, _, _ := strings.Cut(line, ":"); name != "Date" && name != "Content-Length" && name != "Connection" {
			fields = append(fields, line)
		}
	}
	want := []string{"Content-Type: text/x", "Vary: a", "X-Dup: 1", "vary: b", "Link: <x>", "X-Dup: 2", "Link: <y>", "X-Dup: 3", "X-One: o",
		"ETag: e", "X-Frame-Options: f", "Set-Cookie: a=1; Path=/x", "Set-Cookie: a=2; Path=/y"}
	if !slices.Equal(fields, want) || body != "ok" || strings.Contains(head, "1970") {
		t.Fatalf("client got %q", got)
	}
}

// TestMemberConnectionListsAfterClose: the fields a member's Connection
// names are removed however its Connection fields come, a bare
// "Connection: close" after the list included (fasthttp drops every
// Connection field it has for one, the list with them).
func TestMemberConnectionListsAfterClose(t *testing.T) {
	for _, fields := range []string{
		"Connection: X-Secret\r\nConnection: close\r\n",
		"Connection: close\r\nConnection: X-Secret\r\n",
		"Connection: X-Secret, close\r\n",
		"Connection: close , CLOSE\r\nConnection: x-secret\r\n",
	} {
		be := rawBackend(t, "HTTP/1.1 200 OK\r\n"+fields+"X-Secret: 1\r\nX-Kept: 2\r\nContent-Length: 2\r\n\r\nok")
		_, c := startProxy(t, "ProxyPass / http://BACKEND/\n", be)
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://front.example.com/")
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		if resp.Header.Peek("X-Secret") != nil || string(resp.Header.Peek("X-Kept")) != "2" || resp.ConnectionClose() {
			t.Errorf("member sent %q: client got %q", fields, resp.Header.String())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

// TestReverseWithoutHost: ProxyPassReverse makes a member's Location
// absolute with the ServerName for an HTTP/1.0 request that had no Host
// (not "http:///…"), and leaves it a path when there is no ServerName.
func TestReverseWithoutHost(t *testing.T) {
	be := rawBackend(t, "HTTP/1.1 302 Found\r\nLocation: http://backend.internal/b/next\r\nContent-Length: 0\r\n\r\n")
	for name, want := range map[string]string{
		"ServerName front.example.com:8080\n": "http://front.example.com:8080/p/next",
		"":                                    "/p/next",
	} {
		_, c := startProxy(t, name+"ProxyPass /p http://BACKEND/b\nProxyPassReverse /p http://backend.internal/b\n", be)
		conn, err := c.Dial("")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("GET /p/x HTTP/1.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(conn)
		conn.Close()
		if !strings.Contains(string(got), "\r\nLocation: "+want+"\r\n") {
			t.Errorf("with %q: client got %q, want Location %s", name, got, want)
		}
	}
}

func TestHostless(t *testing.T) {
	for _, c := range [][3]string{
		{"www.example.com", "", "www.example.com"},
		{"", "https://main.example.com:8443", "main.example.com:8443"},
		{"[::1]:8080", "", "[::1]:8080"},
		{"", "", ""},
	} {
		if got := hostless(c[0], c[1]); got != c[2] {
			t.Errorf("hostless(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// TestUnknownLengthToHTTP10: an answer whose length the member did not
// give (chunked, or until it closes) reaches an HTTP/1.0 client as its
// bytes, ended by the connection's close: no chunked framing, which
// HTTP/1.0 clients cannot read (RFC 9112 §6.1). An HTTP/1.1 client still
// gets it chunked.
func TestUnknownLengthToHTTP10(t *testing.T) {
	body := strings.Repeat("0123456789", 5000) // past copiedBody: relayed
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	untilClose := "HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\n" + body
	for _, tc := range []struct{ name, answer, proto, wantFraming string }{
		{"chunked", chunked, "HTTP/1.0", ""},
		{"until close", untilClose, "HTTP/1.0", ""},
		{"chunked to HTTP/1.1", chunked, "HTTP/1.1", "Transfer-Encoding: chunked"},
	} {
		be := startRawMember(t, func(c net.Conn, _ *http.Request) { _, _ = io.WriteString(c, tc.answer) })
		_, c := startProxy(t, "ProxyPass / http://BACKEND/\n", be)
		conn, err := c.Dial("")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("GET / " + tc.proto + "\r\nHost: a\r\nConnection: close\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(conn)
		conn.Close()
		head, rest, _ := strings.Cut(string(got), "\r\n\r\n")
		switch {
		case err != nil:
			t.Errorf("%s: %v after %q", tc.name, err, head)
		case tc.wantFraming == "" && (strings.Contains(head, "Transfer-Encoding") || strings.Contains(head, "Content-Length") ||
			!strings.Contains(head, "\r\nConnection: close") || rest != body):
			t.Errorf("%s: head %q and %d body bytes, want no framing, Connection: close and the %d bytes as sent", tc.name, head, len(rest), len(body))
		case tc.wantFraming != "" && !strings.Contains(head, tc.wantFraming):
			t.Errorf("%s: head %q, want %s", tc.name, head, tc.wantFraming)
		}
	}
}

// TestPanicInARequestIsContained: a panic while serving one request (a
// sluice bug) costs that request and no more. In the handler, here on the
// way to a 502 for a member that refuses, it answers 500 and closes the
// connection; while the body is relayed, after the head went out, the
// connection is closed (fasthttp recovers it there, then closes the body
// stream a second time, which once released the member connection twice
// and crashed). Either way the next request is served. The fault is the
// metrics' member index taken away, so that counting the request panics.
// The relayed answer is larger than sluice copies (copiedBody): a smaller
// one is counted in the handler.
func TestPanicInARequestIsContained(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		wantStatus   int // 0: the connection closes without an answer
	}{
		{"in the handler", "http://" + testnet.ClosedAddr(t) + "/", 500},
		{"in the body relay", "http://BACKEND/", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
				if string(ctx.Path()) == "/" {
					ctx.SetBodyString(strings.Repeat("x", copiedBody+2<<10))
					return
				}
				ctx.SetBodyString("ok")
			})
			s, c := startProxy(t, "ProxyPass /x "+tc.target+"\nProxyPass / http://BACKEND/\n", be)
			index := s.metrics.byState.Swap(nil)
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://front.example.com/x")
			err := c.Do(req, resp)
			s.metrics.byState.Store(index)
			switch {
			case tc.wantStatus == 0 && err == nil:
				t.Fatalf("got %d %q, want the connection closed", resp.StatusCode(), resp.Body())
			case tc.wantStatus != 0 && (err != nil || resp.StatusCode() != tc.wantStatus || !resp.ConnectionClose()):
				t.Fatalf("got %d, close %v (%v); want %d and the connection closed", resp.StatusCode(), resp.ConnectionClose(), err, tc.wantStatus)
			}
			if status, body, _ := do(t, c, "GET", "/ok"); status != 200 || body != "ok" {
				t.Fatalf("the next request: %d %q", status, body)
			}
		})
	}
}

// TestWholeAnswerCopied: an answer that comes whole with its head, up to
// copiedBody, is copied into the client's response and its member
// connection goes back at once; a larger one is relayed. Either way the
// client gets the body and length the member sent, for GET and HEAD, and
// one member connection serves every request.
func TestWholeAnswerCopied(t *testing.T) {
	var conns atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			n, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("n")))
			ctx.SetBodyString(strings.Repeat("b", n))
		},
		ConnState: func(_ net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateNew {
				conns.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	_, c := startProxy(t, "ProxyPass / http://BACKEND/\n", ln.Addr().String())
	for _, n := range []int{0, 1, 100, copiedBody, copiedBody + 1, 20 << 10} {
		for _, method := range []string{"GET", "HEAD"} {
			status, body, h := do(t, c, method, "/?n="+strconv.Itoa(n))
			want, length := strings.Repeat("b", n), n
			if method == "HEAD" {
				want = ""
				if n == 0 {
					length = -2 // fasthttp's member sends no length then
				}
			}
			if status != 200 || body != want || h.ContentLength() != length {
				t.Errorf("%s %d bytes: %d, %d bytes, Content-Length %d", method, n, status, len(body), h.ContentLength())
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the member accepted %d connections, want 1", n)
	}
}

// countingMember answers "ok" and counts the connections it accepted and
// the requests that came with "Connection: close".
func countingMember(t *testing.T) (addr string, conns, closes *atomic.Int32) {
	t.Helper()
	conns, closes = new(atomic.Int32), new(atomic.Int32)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if ctx.Request.Header.ConnectionClose() {
				closes.Add(1)
			}
			ctx.SetBodyString("ok")
		},
		ConnState: func(_ net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateNew {
				conns.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), conns, closes
}

// disablereuse=On sends every request on a connection of its own, with
// "Connection: close", as Apache does; by default one connection serves
// them all. ProxyPassMatch with "!" excludes what it matches, as
// ProxyPass does.
func TestDisableReuseAndMatchExclusion(t *testing.T) {
	addr, conns, closes := countingMember(t)
	_, c := startProxy(t, `
ProxyPassMatch "\.secret$" !
ProxyPass /once http://BACKEND/ disablereuse=On
ProxyPass / http://BACKEND/
`, addr)
	if status, _, _ := do(t, c, "GET", "/files/a.secret"); status != 404 {
		t.Errorf("a path ProxyPassMatch ! excludes: status %d, want 404", status)
	}
	for range 3 {
		if status, _, _ := do(t, c, "GET", "/once/x"); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if n, k := conns.Load(), closes.Load(); n != 3 || k != 3 {
		t.Errorf("disablereuse: %d connections, %d requests with Connection: close; want 3 and 3", n, k)
	}
	for range 3 {
		if status, _, _ := do(t, c, "GET", "/files/a.txt"); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if n, k := conns.Load(), closes.Load(); n != 4 || k != 3 {
		t.Errorf("reuse: %d connections, %d with Connection: close; want 4 and 3", n, k)
	}
}

// TestProxyNoKeepAlive: mod_proxy's proxy-nokeepalive, set by SetEnv in a
// <Location> or by SetEnvIf, sends "Connection: close" to the member and
// does not pool its connection; other requests keep theirs; UnsetEnv
// takes it back. SetEnv values reach Header rules too.
func TestProxyNoKeepAlive(t *testing.T) {
	addr, conns, closes := countingMember(t)
	_, c := startProxy(t, `SetEnv SITE blue
Header set X-Site %{SITE}e
SetEnvIf User-Agent ^legacy proxy-nokeepalive
<Location /old>
  SetEnv proxy-nokeepalive 1
</Location>
<Location /old/fixed>
  UnsetEnv proxy-nokeepalive
</Location>
ProxyPass / http://BACKEND/
`, addr)
	for _, tc := range []struct {
		path, ua string
		conns    int32 // new member connections
		closes   int32
	}{
		{"/a", "", 1, 0},
		{"/a", "", 0, 0},
		{"/old/x", "", 0, 1}, // on the pooled connection, which it then closes
		{"/old/x", "", 1, 1},
		{"/old/fixed/x", "", 1, 0},
		{"/old/fixed/x", "", 0, 0},
		{"/b", "legacy/1.0", 0, 1},
	} {
		c0, k0 := conns.Load(), closes.Load()
		status, _, h := do(t, c, "GET", tc.path, "User-Agent", tc.ua)
		if status != 200 || string(h.Peek("X-Site")) != "blue" {
			t.Fatalf("%s: %d X-Site %q", tc.path, status, h.Peek("X-Site"))
		}
		if n, k := conns.Load()-c0, closes.Load()-k0; n != tc.conns || k != tc.closes {
			t.Errorf("%s (User-Agent %q): %d new connections, %d with Connection: close; want %d and %d", tc.path, tc.ua, n, k, tc.conns, tc.closes)
		}
	}
}

// A ServerName may carry a scheme and a port (Apache's
// "ServerName https://www.example.com:443"); the vhost still answers for
// its host name, in any case and with any port in Host.
func TestServerNameWithSchemeAndPort(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `
<VirtualHost *:80>
  ServerName first.example.com
  ProxyPass / http://BACKEND/first/
</VirtualHost>
<VirtualHost *:80>
  ServerName https://WWW.Example.com:443
  ProxyPass / http://BACKEND/www/
</VirtualHost>
`, be)
	for host, want := range map[string]string{"www.example.com": "/www/", "WWW.EXAMPLE.COM:8443": "/www/", "other.example.com": "/first/"} {
		resp := hostGet(t, c, host, "/x")
		if !strings.HasPrefix(string(resp.Body()), "GET "+want+"x") {
			t.Errorf("Host %s went to %q, want %sx", host, resp.Body(), want)
		}
	}
}

// AllowEncodedSlashes, as Apache: Off (the default) answers a %2F in the
// path 404; On decodes it to a slash; NoDecode keeps it, so routes and
// rules see %2F and the member gets it as it came (GitLab's and Jenkins'
// documented setups), through ProxyPass with or without nocanon and
// through a RewriteRule [P,NE] of %{REQUEST_URI}. A vhost takes the main
// server's setting unless it sets its own.
func TestAllowEncodedSlashes(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `AllowEncodedSlashes NoDecode
ProxyPass /api/ http://BACKEND/api/
ProxyPass /raw/ http://BACKEND/raw/ nocanon
<VirtualHost *:80>
  ServerName inherits
  RewriteEngine On
  RewriteRule ^/gl/(.*) http://BACKEND/gitlab/$1 [P,NE]
  RewriteCond %{REQUEST_URI} ^/ci/
  RewriteRule .* http://BACKEND%{REQUEST_URI} [P,NE]
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:80>
  ServerName on
  AllowEncodedSlashes On
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:80>
  ServerName off
  AllowEncodedSlashes Off
  ProxyPass / http://BACKEND/
</VirtualHost>
`, be)
	for _, tc := range []struct {
		host, uri string
		status    int
		want      string // the request line the member saw
	}{
		{"inherits", "/api/v4/projects/group%2Fproject/issues?x=1", 200, "GET /api/v4/projects/group%2Fproject/issues?x=1"},
		{"inherits", "/raw/a%2fb%20c", 200, "GET /raw/a%2fb%20c"},
		{"inherits", "/api/a%2F..%2F..%2Fetc", 200, "GET /api/a%2F..%2F..%2Fetc"},
		{"inherits", "/api/a%20b/../c%2Fd", 200, "GET /api/c%2Fd"},
		{"inherits", "/gl/api/v4/projects/a%2Fb", 200, "GET /gitlab/api/v4/projects/a%2Fb"},
		{"inherits", "/ci/x%2Fy", 200, "GET /ci/x%2Fy"},
		{"on", "/api/group%2Fproject", 200, "GET /api/group/project"},
		{"off", "/api/group%2Fproject", 404, ""},
		{"off", "/api/plain", 200, "GET /api/plain"},
	} {
		// Written by hand: fasthttp's client would decode the %2F.
		conn, err := c.Dial("")
		if err != nil {
			t.Fatal(err)
		}
		resp := rawRequest(t, conn, "GET "+tc.uri+" HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
		conn.Close()
		status, body := resp.StatusCode(), string(resp.Body())
		if status != tc.status || tc.want != "" && firstLine([]byte(body)) != tc.want {
			t.Errorf("%s%s: %d %q, want %d %q", tc.host, tc.uri, status, firstLine([]byte(body)), tc.status, tc.want)
		}
	}
}

// LimitRequestBody: the server's is limits.max_request_body, a vhost's
// its own, above or below it, far above it too; a Content-Length over the
// limit is 413, and so is a chunked body that runs past it.
func TestLimitRequestBodyPerVHost(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(strconv.Itoa(len(ctx.PostBody()))) })
	// Over loopback TCP: the 413 for a chunked body comes before the
	// client has written all of it, and an in-memory pipe fails that
	// write once sluice closes, where a socket buffers it.
	_, addr := serveApacheTCP(t, `Listen 127.0.0.1:0
LimitRequestBody 100
ProxyPass / http://`+be+`/
<VirtualHost *:80>
  ServerName small
</VirtualHost>
<VirtualHost *:80>
  ServerName big
  LimitRequestBody 1000
</VirtualHost>
<VirtualHost *:80>
  ServerName huge
  LimitRequestBody 100000
</VirtualHost>
`)
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return net.Dial("tcp", addr) }, MaxIdemponentCallAttempts: 1}
	for _, tc := range []struct {
		host    string
		size    int
		chunked bool
		status  int
	}{
		{"small", 100, false, 200},
		{"small", 101, false, 413},
		{"big", 1000, false, 200},
		{"big", 1001, false, 413},
		{"big", 500, true, 200},
		{"big", 1500, true, 413},
		// Past the read budget the server's own limit would give a
		// connection (twice it and the largest head): the budget covers
		// the largest limit from the start, not only after a reload.
		{"huge", 60000, false, 200},
	} {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + tc.host + "/up")
		req.Header.SetMethod(fasthttp.MethodPost)
		body := strings.Repeat("b", tc.size)
		if tc.chunked {
			req.SetBodyStream(strings.NewReader(body), -1)
		} else {
			req.SetBodyString(body)
		}
		if err := c.Do(req, resp); err != nil {
			t.Fatalf("%s, %d bytes (chunked %v): %v", tc.host, tc.size, tc.chunked, err)
		}
		if resp.StatusCode() != tc.status || tc.status == 200 && string(resp.Body()) != strconv.Itoa(tc.size) {
			t.Errorf("%s, %d bytes (chunked %v): %d %q, want %d", tc.host, tc.size, tc.chunked, resp.StatusCode(), resp.Body(), tc.status)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

// TestChunkedBodyBrokenAfterData: a chunk whose data is not followed by
// CRLF (RFC 9112 §7.1) ends the request with 400 and its connection, and
// the member never gets a complete request. Before, fasthttp's chunked
// writer dropped the error that came with the chunk's bytes and read on:
// the byte or two in place of the CRLF were skipped, the rest parsed as
// the next chunk, and "5\r\nhelloX0\r\n\r\n" reached the member as a
// complete body "hello", where a proxy in front that skips the two bytes
// blindly frames what follows differently.
func TestChunkedBodyBrokenAfterData(t *testing.T) {
	var reached atomic.Int32
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { reached.Add(1) })
	_, addr := serveApacheTCP(t, "Listen 127.0.0.1:0\nProxyPass / http://"+be+"/\n")
	for _, broken := range []string{"X", "\n", "\rX", "\n\n"} {
		resp := rawRequest(t, dialTCP(t, addr), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"5\r\nhello"+broken+"0\r\n\r\n")
		if resp.StatusCode() != fasthttp.StatusBadRequest || !resp.ConnectionClose() {
			t.Errorf("%q after the data: %d (close %v), want 400 and close", broken, resp.StatusCode(), resp.ConnectionClose())
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the member handled %d requests, want none", n)
	}
}

// TestReverseRulesInLocationMatch: ProxyPassReverseCookiePath/Domain and
// ProxyPassReverse written in a <LocationMatch> apply to the requests its
// regular expression matches, as Apache merges the section (the
// ProxyPassReverse path being the expression as written). Before, the
// expression was compared as a literal path prefix, so the rules never
// applied.
func TestReverseRulesInLocationMatch(t *testing.T) {
	be := rawBackend(t, "HTTP/1.1 302 Found\r\nLocation: http://b.internal/x\r\n"+
		"Set-Cookie: a=1; Path=/; Domain=b.internal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	_, c := startProxy(t, `ProxyPass / http://BACKEND/
<LocationMatch "/app/">
ProxyPassReverse http://b.internal/
ProxyPassReverseCookiePath / /app/
ProxyPassReverseCookieDomain b.internal pub.example
</LocationMatch>
`, be)
	for uri, want := range map[string][2]string{
		"/x/app/y": {"http://front/app/x", "a=1; Path=/app/; Domain=pub.example"},
		"/other":   {"http://b.internal/x", "a=1; Path=/; Domain=b.internal"},
	} {
		resp := hostGet(t, c, "front", uri)
		if got := [2]string{string(resp.Header.Peek("Location")), string(resp.Header.Peek("Set-Cookie"))}; got != want {
			t.Errorf("%s: Location, Set-Cookie %q, want %q", uri, got, want)
		}
	}
}

// TestForwardedServerWithoutServerName: without a ServerName,
// X-Forwarded-Server names the machine, as Apache's server_hostname does
// (ap_get_local_host). Before, it was the first Listen address as
// written: "127.0.0.1:0" here, ":8080" for "Listen 8080".
func TestForwardedServerWithoutServerName(t *testing.T) {
	var got atomic.Value
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		got.Store(string(ctx.Request.Header.Peek("X-Forwarded-Server")))
	})
	_, c := startProxy(t, "ProxyPass / http://BACKEND/\n", be)
	hostGet(t, c, "front.example.com:8080", "/")
	want, err := os.Hostname()
	if err != nil || want == "" {
		want = "127.0.0.1"
	}
	if got.Load() != want {
		t.Fatalf("X-Forwarded-Server %q, want %q", got.Load(), want)
	}
}

// TestPreserveHostWithoutClientHost: with ProxyPreserveHost On, an
// HTTP/1.0 request without a Host reaches a balancer member with the
// member's own host (docs/compatibility.md), as it reaches a direct
// worker. Before, the balancer's member got no Host at all: fasthttp
// refused to send it, and the client had a 502. RemoteIPHeader makes
// sluice send a copy of fasthttp's header instead of the client's lines.
func TestPreserveHostWithoutClientHost(t *testing.T) {
	var got atomic.Value
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { got.Store(string(ctx.Host())) })
	for _, extra := range []string{"", "RemoteIPHeader X-Client-IP\n"} {
		got.Store("")
		_, addr := serveApacheTCP(t, "Listen 127.0.0.1:0\nProxyPreserveHost On\n"+extra+
			"<Proxy balancer://b>\nBalancerMember http://"+be+"\n</Proxy>\nProxyPass / balancer://b/\n")
		resp := rawRequest(t, dialTCP(t, addr), "GET /x HTTP/1.0\r\n\r\n")
		if resp.StatusCode() != 200 || got.Load() != be {
			t.Errorf("with %q: status %d, member saw Host %q, want %q", extra, resp.StatusCode(), got.Load(), be)
		}
	}
}
