package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/internal/testcert"
	"github.com/sluiceproxy/sluice/pool"
)

// upgradeMember serves one connection on ln: it reads a request head
// (sent on the channel it returns), writes answer and, after a 101, echoes
// what comes next.
func upgradeMember(t *testing.T, ln net.Listener, answer string) <-chan string {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	heads := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			l, err := br.ReadString('\n')
			head.WriteString(l)
			if err != nil || l == "\r\n" {
				break
			}
		}
		heads <- head.String()
		_, _ = io.WriteString(c, answer)
		_, _ = io.Copy(c, br)
	}()
	return heads
}

// startUpgradeMember is upgradeMember on a loopback port of its own; it
// returns the address.
func startUpgradeMember(t *testing.T, answer string) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), upgradeMember(t, ln, answer)
}

// upgradeThrough sends a WebSocket upgrade of /ws through the proxy c
// and returns the answer's head, and the connection to go on with.
func upgradeThrough(t *testing.T, c *fasthttp.Client) (*fasthttp.ResponseHeader, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, br := sendThrough(t, c, upgradeReq)
	var resp fasthttp.ResponseHeader
	if err := resp.Read(br); err != nil {
		t.Fatalf("no answer to the upgrade: %v", err)
	}
	return &resp, conn, br
}

// upgradeReq is the WebSocket upgrade of /ws upgradeThrough sends.
const upgradeReq = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// rawUpgradeHead sends request through the proxy c and returns the
// answer's head byte for byte.
func rawUpgradeHead(t *testing.T, c *fasthttp.Client, request string) string {
	t.Helper()
	_, br := sendThrough(t, c, request)
	return readHead(br)
}

// sendThrough writes request on a new connection through the proxy c,
// and returns it and a reader of it, both good for 5 s.
func sendThrough(t *testing.T, c *fasthttp.Client, request string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := c.Dial("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, request)
	return conn, bufio.NewReader(conn)
}

// readHead reads lines up to and with the blank one that ends a head.
func readHead(br *bufio.Reader) string {
	var head strings.Builder
	for {
		l, err := br.ReadString('\n')
		head.WriteString(l)
		if err != nil || l == "\r\n" {
			return head.String()
		}
	}
}

// TestTunnelRefusesMalformedAnswer (threats.md SMG-15, HDR-12): a member's
// answer to an upgrade with a field name that is not a token gets 502,
// whether it switches protocols or not.
func TestTunnelRefusesMalformedAnswer(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX Y: z\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX Y: z\r\nContent-Length: 2\r\n\r\nok",
	} {
		addr, _ := startUpgradeMember(t, answer)
		_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket\n", addr)
		resp, _, _ := upgradeThrough(t, c)
		if resp.StatusCode() != fasthttp.StatusBadGateway || resp.Peek("X Y") != nil {
			t.Errorf("answer %q relayed as %d with X Y %q, want 502 without it", answer, resp.StatusCode(), resp.Peek("X Y"))
		}
	}
}

// TestTunnelToTLSMember: a wss:// member's tunnel goes over TLS with the
// member's own TLS settings (here, the roots that trust its certificate,
// set as on its HTTP client), and carries bytes both ways once the member
// switched protocols.
func TestTunnelToTLSMember(t *testing.T) {
	cert := testcert.New(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	upgradeMember(t, ln, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	s, c := startProxy(t, "ProxyPass /ws wss://BACKEND/ upgrade=websocket\n", ln.Addr().String())
	for _, be := range s.rt.Load().backends {
		be.TLS.RootCAs = cert.Roots
	}
	resp, conn, br := upgradeThrough(t, c)
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d, want 101", resp.StatusCode())
	}
	if _, err := io.WriteString(conn, "ping over tls"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("ping over tls"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping over tls" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// TestTunnelHeaderRules: RequestHeader rules reach the member's upgrade
// request and Header rules the 101, as on any proxied request (real config
// 20 sets X-Forwarded-Proto for its wss:// tunnel), and a <Location>'s
// ProxyPreserveHost its Host. Until the twelfth session the tunnel's
// request went without RequestHeader rules.
func TestTunnelHeaderRules(t *testing.T) {
	addr, heads := startUpgradeMember(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	_, c := startProxy(t, `RequestHeader set X-Forwarded-Proto "https"
RequestHeader unset X-Debug
<Location /ws>
  RequestHeader set X-Scope ws
  ProxyPreserveHost On
</Location>
Header always set Strict-Transport-Security "max-age=60"
ProxyPass /ws ws://BACKEND/ upgrade=websocket
`, addr)
	resp, conn, br := upgradeThrough(t, c)
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d, want 101", resp.StatusCode())
	}
	if got := string(resp.Peek("Strict-Transport-Security")); got != "max-age=60" {
		t.Errorf("101 Strict-Transport-Security %q, want max-age=60", got)
	}
	head := strings.ToLower(<-heads)
	for _, want := range []string{"x-forwarded-proto: https\r\n", "x-scope: ws\r\n", "host: a\r\n", "upgrade: websocket\r\n", "connection: upgrade\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("member's upgrade request lacks %q:\n%s", want, head)
		}
	}
	_, _ = io.WriteString(conn, "x")
	if b, err := br.ReadByte(); err != nil || b != 'x' {
		t.Fatalf("echo %q, %v", b, err)
	}
}

// TestTunnelUpgradeFieldAnyCase: a member that names its Upgrade field and
// protocol in another case ("upgrade: WebSocket") still switches.
func TestTunnelUpgradeFieldAnyCase(t *testing.T) {
	addr, _ := startUpgradeMember(t, "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: WebSocket\r\n\r\n")
	_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket\n", addr)
	resp, conn, br := upgradeThrough(t, c)
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %d, want 101", resp.StatusCode())
	}
	_, _ = io.WriteString(conn, "x")
	if b, err := br.ReadByte(); err != nil || b != 'x' {
		t.Fatalf("echo %q, %v", b, err)
	}
}

// TestTunnelPicksMembersThatUpgrade: an upgrade through a balancer goes
// only to its members that may upgrade (here the ws:// one, never the
// http:// one beside it); through a balancer with none, it goes on as a
// plain request without its Upgrade, as Apache sends it to a worker that
// cannot upgrade. Until the tenth session both answered 400 whenever the
// lbmethod picked an http:// member.
func TestTunnelPicksMembersThatUpgrade(t *testing.T) {
	ws, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	go func() {
		for {
			c, err := ws.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
						break
					}
				}
				_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				_, _ = io.Copy(c, br)
			}()
		}
	}()
	plainAddr, plainSaw := plainMember(t)
	conf := strings.NewReplacer("PLAIN", plainAddr, "WS", ws.Addr().String()).Replace(`
<Proxy "balancer://mix">
  BalancerMember "http://PLAIN"
  BalancerMember "ws://WS"
</Proxy>
<Proxy "balancer://plain">
  BalancerMember "http://PLAIN"
</Proxy>
ProxyPass "/plain/" "balancer://plain/"
ProxyPass "/" "balancer://mix/"
`)
	_, c := startProxy(t, conf, "")
	for i := range 4 {
		resp, conn, br := upgradeThrough(t, c)
		if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
			t.Fatalf("upgrade %d answered %d, want 101 from the ws:// member", i, resp.StatusCode())
		}
		_, _ = io.WriteString(conn, "x")
		if b, err := br.ReadByte(); err != nil || b != 'x' {
			t.Fatalf("echo %q, %v", b, err)
		}
	}
	if n := len(plainSaw()); n != 0 {
		t.Fatalf("the http:// member got %d of the upgrades", n)
	}

	conn, err := c.Dial("")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp := rawRequest(t, conn, "GET /plain/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if resp.StatusCode() != fasthttp.StatusOK {
		t.Fatalf("an upgrade to a balancer that cannot upgrade answered %d, want the member's 200", resp.StatusCode())
	}
	if saw := plainSaw(); len(saw) != 1 || saw[0] != "/x upgrade=\"\"" {
		t.Errorf("the http:// member saw %q, want one plain GET /x", saw)
	}
}

// plainMember is an HTTP member that answers 200 and records each
// request's URI and Upgrade field.
func plainMember(t *testing.T) (addr string, saw func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%s upgrade=%q", ctx.RequestURI(), ctx.Request.Header.Peek("Upgrade")))
		mu.Unlock()
		ctx.SetBodyString("ok")
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestTunnelInventsNoContentType (threats.md HDR-06): neither a 101 nor a
// refused upgrade gets a Content-Type its member did not send (both came
// with text/plain before).
func TestTunnelInventsNoContentType(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
	} {
		addr, _ := startUpgradeMember(t, answer)
		_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket\n", addr)
		// The head as sent: fasthttp's parser would show its default.
		if head := rawUpgradeHead(t, c, upgradeReq); strings.Contains(strings.ToLower(head), "content-type") {
			t.Errorf("answer %q relayed as %q", answer, head)
		}
	}
}

// TestTunnelMemberAnswerTooLarge: a refusal of an upgrade over the 64 MiB
// the tunnel holds is the member's failure, 502, not the client's 413.
func TestTunnelMemberAnswerTooLarge(t *testing.T) {
	addr, _ := startUpgradeMember(t, fmt.Sprintf("HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n", 64<<20+1))
	_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket\n", addr)
	if resp, _, _ := upgradeThrough(t, c); resp.StatusCode() != fasthttp.StatusBadGateway {
		t.Errorf("answered %d, want 502", resp.StatusCode())
	}
}

// TestTunnelMemberHeadUpToLimit: a 101 whose head is larger than 4 KiB
// but within max_response_header_bytes (16 KiB) is relayed, as any
// member's answer is; the tunnel read it through bufio's 4 KiB default and
// answered 502.
func TestTunnelMemberHeadUpToLimit(t *testing.T) {
	cookie := strings.Repeat("c", 10<<10)
	addr, _ := startUpgradeMember(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: big="+cookie+"\r\n\r\n")
	_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket\n", addr)
	if head := rawUpgradeHead(t, c, upgradeReq); !strings.HasPrefix(head, "HTTP/1.1 101") || !strings.Contains(head, cookie) {
		t.Errorf("answered %.60q (%d bytes), want the 101 with its cookie", head, len(head))
	}
	addr, _ = startUpgradeMember(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: big="+cookie+cookie+"\r\n\r\n")
	_, c = startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket\n", addr)
	if head := rawUpgradeHead(t, c, upgradeReq); !strings.HasPrefix(head, "HTTP/1.1 502") {
		t.Errorf("a 20 KiB head answered %.60q, want 502", head)
	}
}

// TestTunnelSkipsInterimAnswers: interim answers (1xx but 101) before the
// member's 101 or its refusal are dropped, as on any proxied request;
// before, the first one was taken for the answer and the tunnel waited for
// its body until the worker timeout (504).
func TestTunnelSkipsInterimAnswers(t *testing.T) {
	const early = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
	for _, tc := range []struct {
		name, answer string
		want         int
	}{
		{"101", early + "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", fasthttp.StatusSwitchingProtocols},
		{"403", early + "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", fasthttp.StatusForbidden},
		{"101 interim", strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 101) + "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", fasthttp.StatusBadGateway},
	} {
		addr, _ := startUpgradeMember(t, tc.answer)
		_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket timeout=1\n", addr)
		resp, conn, br := upgradeThrough(t, c)
		if resp.StatusCode() != tc.want {
			t.Errorf("%s: relayed as %d, want %d", tc.name, resp.StatusCode(), tc.want)
			continue
		}
		if tc.want == fasthttp.StatusSwitchingProtocols {
			_, _ = io.WriteString(conn, "x")
			if b, err := br.ReadByte(); err != nil || b != 'x' {
				t.Errorf("echo %q, %v", b, err)
			}
		}
	}
}

// TestTunnelAccountsBytes: a handshake counts as any request for
// bytraffic, its head as sent and the answer's status line and body as
// read, a tunnel's once it ends; before, the sent count was the head's
// number of fields, and a tunnel's nothing.
func TestTunnelAccountsBytes(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	} {
		addr, heads := startUpgradeMember(t, answer)
		s, c := startProxy(t, "<Proxy balancer://b>\n  BalancerMember ws://BACKEND\n</Proxy>\nProxyPass /ws balancer://b/\n", addr)
		resp, conn, _ := upgradeThrough(t, c)
		conn.Close()
		if err := s.Shutdown(context.Background()); err != nil { // waits for the tunnel to end
			t.Fatal(err)
		}
		sent := len(<-heads)
		read := strings.Index(answer, "\r\n") // the status line, as Apache counts it: no CRLF
		if resp.StatusCode() == fasthttp.StatusForbidden {
			read += len("no")
		}
		st := s.rt.Load().hosts[0].balancers["b"].Load().Members[0].State
		if got := st.Transferred.Load(); got != uint64(sent) {
			t.Errorf("%d: transferred %d, want the %d bytes of the head", resp.StatusCode(), got, sent)
		}
		if got := st.Read.Load(); got != uint64(read) {
			t.Errorf("%d: read %d, want %d (status line and body)", resp.StatusCode(), got, read)
		}
	}
}

// TestTunnelRefusedHead: a HEAD upgrade the member refuses is answered at
// once, its Content-Length relayed and no body awaited (it was awaited
// until the worker timeout: 504).
func TestTunnelRefusedHead(t *testing.T) {
	addr, _ := startUpgradeMember(t, "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n")
	_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket timeout=1\n", addr)
	head := rawUpgradeHead(t, c, strings.Replace(upgradeReq, "GET", "HEAD", 1))
	if !strings.HasPrefix(head, "HTTP/1.1 403 ") || !strings.Contains(head, "\r\nContent-Length: 10\r\n") {
		t.Errorf("answered %q, want 403 with Content-Length: 10", head)
	}
}

// TestTunnelJudgesAnswer (apache.md §3): failonstatus and failontimeout
// apply to a handshake as to any balancer request: a refusal with a listed
// status, or no answer within the worker timeout, puts the member in
// error. Before, a tunnel's member was never judged.
func TestTunnelJudgesAnswer(t *testing.T) {
	for _, tc := range []struct {
		answer string // "" never answers
		want   int
	}{
		{"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", fasthttp.StatusForbidden},
		{"", fasthttp.StatusGatewayTimeout},
	} {
		addr, _ := startUpgradeMember(t, tc.answer)
		s, c := startProxy(t, `<Proxy balancer://b>
  BalancerMember ws://BACKEND timeout=1
  ProxySet failonstatus=403 failontimeout=On
</Proxy>
ProxyPass /ws balancer://b/
`, addr)
		resp, _, _ := upgradeThrough(t, c)
		m := s.rt.Load().hosts[0].balancers["b"].Load().Members[0]
		if resp.StatusCode() != tc.want || m.State.Flags()&pool.FlagError == 0 {
			t.Errorf("answered %d (want %d), member flags %v: want it in error", resp.StatusCode(), tc.want, m.State.Flags())
		}
	}
}

// TestTunnelRefusesBody: an upgrade with a body gets 400 and reaches no
// member. Before, its Content-Length went to the member without the body,
// so a member that switched took the client's first tunnel bytes for it.
func TestTunnelRefusesBody(t *testing.T) {
	for _, framing := range []string{
		"Content-Length: 5\r\n\r\nhello",
		"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	} {
		addr, heads := startUpgradeMember(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket\n", addr)
		head := rawUpgradeHead(t, c, strings.Replace(upgradeReq, "\r\n\r\n", "\r\n"+framing, 1))
		if !strings.HasPrefix(head, "HTTP/1.1 400 ") {
			t.Errorf("%q: answered %q, want 400", framing, head)
		}
		select {
		case h := <-heads:
			t.Errorf("%q: the member got %q", framing, h)
		default:
		}
	}
}

// TestTunnelMemberCloses: when the member ends the tunnel, the client gets
// what it sent and then the end of the stream; before, the client's
// connection stayed open (fasthttp's hijacked connection does not close).
func TestTunnelMemberCloses(t *testing.T) {
	member := serveConns(t, func(c net.Conn) {
		defer c.Close()
		readHead(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nbye")
	})
	_, addr := serveApacheTCP(t, "Listen 127.0.0.1:0\nProxyPass /ws ws://"+member+"/ upgrade=websocket\n")
	conn := dialTCP(t, addr)
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second)) // a hang guard, not a timing
	_, _ = io.WriteString(conn, upgradeReq)
	br := bufio.NewReader(conn)
	if head := readHead(br); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("answered %q, want 101", head)
	}
	if rest, err := io.ReadAll(br); err != nil || string(rest) != "bye" {
		t.Errorf("after the 101: %q, %v; want bye and the end", rest, err)
	}
}

// TestTunnelClientAsksClose: an upgrade whose client also names close in
// Connection gets a 101 without it, and its tunnel runs and ends as any
// other. Before, the 101 said both Upgrade and close, fasthttp closed the
// client's connection without running the tunnel, and the member's
// connection and its busy count were held for ever, so that Shutdown never
// returned.
func TestTunnelClientAsksClose(t *testing.T) {
	memberClosed := make(chan struct{})
	member := serveConns(t, func(c net.Conn) {
		defer close(memberClosed)
		defer c.Close()
		br := bufio.NewReader(c)
		readHead(br)
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_, _ = io.Copy(c, br)
	})
	s, addr := serveApacheTCP(t, "Listen 127.0.0.1:0\n<Proxy balancer://b>\n  BalancerMember ws://"+member+"\n</Proxy>\nProxyPass /ws balancer://b/\n")
	conn := dialTCP(t, addr)
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second)) // a hang guard, not a timing
	_, _ = io.WriteString(conn, strings.Replace(upgradeReq, "Connection: Upgrade", "Connection: Upgrade, close", 1))
	br := bufio.NewReader(conn)
	if head := readHead(br); !strings.HasPrefix(head, "HTTP/1.1 101 ") || strings.Contains(strings.ToLower(head), "close") {
		t.Fatalf("answered %q, want 101 without close", head)
	}
	_, _ = io.WriteString(conn, "x")
	if b, err := br.ReadByte(); err != nil || b != 'x' {
		t.Fatalf("echo %q, %v", b, err)
	}
	conn.Close()
	shut := make(chan error, 1)
	go func() {
		<-memberClosed
		shut <- s.Shutdown(context.Background()) // waits for the tunnel to end
	}()
	select {
	case err := <-shut:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second): // a hang guard, not a timing
		t.Fatal("the tunnel did not end with its client")
	}
	if busy := s.rt.Load().hosts[0].balancers["b"].Load().Members[0].State.Busy.Load(); busy != 0 {
		t.Errorf("the member is still busy %d times", busy)
	}
}

// TestTunnelIdleTimeout (apache.md "Websocket/tunnel idle timeout",
// threats.md HDR-12): a tunnel that carried no byte either way for the
// worker's timeout is closed; one direction's bytes keep it open however
// long the other is silent. Before, a tunnel had no timeout at all.
func TestTunnelIdleTimeout(t *testing.T) {
	const pushes = 8
	member := serveConns(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		readHead(br)
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		for range pushes { // 2 s of a stream from the member alone
			time.Sleep(250 * time.Millisecond)
			_, _ = io.WriteString(c, "x")
		}
		_, _ = io.Copy(io.Discard, br)
	})
	_, addr := serveApacheTCP(t, "Listen 127.0.0.1:0\nProxyPass /ws ws://"+member+"/ upgrade=websocket timeout=1\n")
	conn := dialTCP(t, addr)
	_ = conn.SetDeadline(time.Now().Add(6 * time.Second)) // a hang guard, not a timing
	_, _ = io.WriteString(conn, upgradeReq)
	br := bufio.NewReader(conn)
	if head := readHead(br); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("answered %q, want 101", head)
	}
	got := make([]byte, pushes)
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatalf("the member's stream stopped after %q: %v", got, err)
	}
	idle := time.Now()
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Fatalf("after the stream: %q, %v; want the end", rest, err)
	}
	if d := time.Since(idle); d < 900*time.Millisecond {
		t.Errorf("closed after %v idle, want timeout=1", d)
	}
}

// TestTunnelIdleAfterHalfClose: a client that half-closes its side of a
// tunnel and stops reading while the member streams leaves no read to
// notice; the member's writes that wait for timeout end the tunnel.
func TestTunnelIdleAfterHalfClose(t *testing.T) {
	ended := make(chan struct{})
	member := serveConns(t, func(c net.Conn) {
		defer c.Close()
		readHead(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		chunk := make([]byte, 32<<10)
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second)) // a hang guard, not a timing
		for {
			if _, err := c.Write(chunk); err != nil {
				close(ended)
				return
			}
		}
	})
	_, addr := serveApacheTCP(t, "Listen 127.0.0.1:0\nProxyPass /ws ws://"+member+"/ upgrade=websocket timeout=1\n")
	conn := dialTCP(t, addr)
	_, _ = io.WriteString(conn, upgradeReq)
	if head := readHead(bufio.NewReader(conn)); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("answered %q, want 101", head)
	}
	_ = conn.(*net.TCPConn).CloseWrite() // and reads no more
	select {
	case <-ended:
	case <-time.After(8 * time.Second):
		t.Fatal("the tunnel outlived its timeout with its client half-closed and not reading")
	}
}

// TestHijackEndsWhatItsHandlerWouldHave: when fasthttp cannot hand a
// hijacked connection over (here its SetDeadline fails, as on a client
// connection already gone), it closes it without running the handler, and
// end releases what the handler would have; once the handler has run,
// nothing more is released.
func TestHijackEndsWhatItsHandlerWouldHave(t *testing.T) {
	for _, handOver := range []bool{false, true} {
		client, server := net.Pipe()
		var ended, handled atomic.Int32
		fs := &fasthttp.Server{ConnState: connState, Handler: func(ctx *fasthttp.RequestCtx) {
			hijack(ctx, func() { ended.Add(1) }, func(net.Conn) { handled.Add(1) })
		}}
		go func() {
			_, _ = client.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
			_, _ = io.Copy(io.Discard, client)
		}()
		var c net.Conn = failingDeadline{server}
		if handOver {
			c = server
		}
		_ = fs.ServeConn(c)
		client.Close()
		if !handOver && (ended.Load() != 1 || handled.Load() != 0) {
			t.Errorf("not handed over: end ran %d times, the handler %d; want once and never", ended.Load(), handled.Load())
		}
		if handOver {
			eventually(t, "the handler runs", func() bool { return handled.Load() == 1 })
			connState(server, fasthttp.StateClosed) // as a later close would
			if ended.Load() != 0 {
				t.Error("end ran after the handler")
			}
		}
	}
	if n := pendingHijacks.n.Load(); n != 0 {
		t.Errorf("%d hijacks left pending", n)
	}
}

// failingDeadline is a connection fasthttp cannot set deadlines on.
type failingDeadline struct{ net.Conn }

func (failingDeadline) SetDeadline(time.Time) error { return errors.New("connection gone") }

// TestTunnelIgnoresHTTP10Upgrade: an Upgrade in an HTTP/1.0 request is
// ignored (RFC 9110 §7.8), and an HTTP/1.0 client never gets a 1xx
// (§15.2). Before, sluice sent the member "Connection: Upgrade" as
// HTTP/1.1 and relayed its 101 to the HTTP/1.0 client, then tunnelled.
func TestTunnelIgnoresHTTP10Upgrade(t *testing.T) {
	addr, heads := startUpgradeMember(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket\n", addr)
	head := rawUpgradeHead(t, c, strings.Replace(upgradeReq, "HTTP/1.1", "HTTP/1.0", 1))
	if !strings.HasPrefix(head, "HTTP/1.1 200 ") {
		t.Errorf("answered %q, want the member's 200", head)
	}
	if h := <-heads; strings.Contains(strings.ToLower(h), "upgrade") {
		t.Errorf("the member got %q, want no Upgrade", h)
	}
}

// TestTunnelSetsRouteCookie: sticky_set_cookie gives a WebSocket
// handshake's answer, a 101 or a refusal, the route cookie as any other
// response, as Apache's Header recipe does. Before, an upgrade never got
// it, so a client that opened with a WebSocket had no route to stick to.
func TestTunnelSetsRouteCookie(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
	} {
		addr, _ := startUpgradeMember(t, answer)
		_, c := startProxyYAML(t, `  routes:
    - {path: /ws, target: balancer://b/}
  balancers:
    - name: b
      sticky_cookie: ROUTEID
      sticky_urlparam: routeid
      sticky_set_cookie: true
      members:
        - {url: ws://BACKEND1, route: r1}
`, addr)
		resp, _, _ := upgradeThrough(t, c)
		if got := string(resp.Peek("Set-Cookie")); got != "ROUTEID=.r1; Path=/" {
			t.Errorf("%d: Set-Cookie %q, want ROUTEID=.r1; Path=/", resp.StatusCode(), got)
		}
	}
}
