package pool

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/sock"
)

// TestIdleConnTimesOutPerRead shows the worker timeout is Apache's per-I/O
// timeout: a body that keeps flowing outlives it, a silent peer does not.
// The bubble's clock makes the pauses exact, whatever the machine's load.
func TestIdleConnTimesOutPerRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		c := newIdleConn(a, 300*time.Millisecond, sock.New(a), nil)
		go func() {
			for range 4 { // 4 × 150 ms: longer than one timeout in total
				time.Sleep(150 * time.Millisecond)
				_, _ = b.Write([]byte("x"))
			}
		}()
		buf := make([]byte, 1)
		for i := range 4 {
			if _, err := c.Read(buf); err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
		}
		if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("silent peer: got %v, want a deadline error", err)
		}
	})
}

func TestBackendDialErrorIsTyped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	m, err := NewMember(NewRegistry(), "b", "http://"+addr, config.WorkerParams{}, false)
	if err != nil {
		t.Fatal(err)
	}
	be := NewBackend(m, BackendOptions{Timeout: time.Second})
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + addr + "/")
	_, err = roundTrip(be, req, resp)
	var de *DialError
	if !errors.As(err, &de) || de.Addr != addr {
		t.Fatalf("got %v, want a *DialError for %s", err, addr)
	}
}

func TestBackendStreamsAndReusesConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") },
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			if s == fasthttp.StateNew {
				conns.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown() }()
	m, _ := NewMember(NewRegistry(), "b", "http://"+ln.Addr().String(), config.WorkerParams{}, false)
	be := NewBackend(m, BackendOptions{Timeout: 5 * time.Second})
	for range 3 {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + m.HostHeader + "/")
		body, err := roundTrip(be, req, resp)
		if err != nil || string(body) != "hello" {
			t.Fatalf("body %q, %v", body, err)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d backend connections for 3 sequential requests, want 1 (keep-alive)", n)
	}
}

// TestBackendStreamedBodies: a streamed request body goes out whole before
// the answer is awaited, whether it shares the head's write (small) or
// needs writes of its own (larger than the writer's buffer), fixed-length
// or chunked; the connection then carries the next request.
func TestBackendStreamedBodies(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.PostBody()) }}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown() }()
	m, _ := NewMember(NewRegistry(), "b", "http://"+ln.Addr().String(), config.WorkerParams{}, false)
	be := NewBackend(m, BackendOptions{Timeout: 5 * time.Second})
	for _, tc := range []struct {
		name string
		size int
		cl   int // -1: chunked
	}{
		{"small", 100, 100},
		{"small chunked", 100, -1},
		{"large", 64 << 10, 64 << 10},
		{"large chunked", 64 << 10, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Repeat("b", tc.size)
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + m.HostHeader + "/echo")
			req.Header.SetMethod(fasthttp.MethodPost)
			req.SetBodyStream(strings.NewReader(want), tc.cl)
			body, err := roundTrip(be, req, resp)
			if err != nil || string(body) != want {
				t.Fatalf("echo of %d bytes: got %d bytes, %v", tc.size, len(body), err)
			}
		})
	}
}

// TestBackendNeverReusesPoisonedConn: bytes a backend sends after a
// complete response must not become the next response (SMG-14).
func TestBackendNeverReusesPoisonedConn(t *testing.T) {
	sent := make(chan struct{})
	be, _ := scriptedMember(t, func(c *net.TCPConn, conn int32, req int) bool {
		_, _ = c.Write([]byte(okAnswer))
		if conn == 1 && req == 0 {
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"))
			close(sent)
		}
		return true
	})
	if got := fetch(t, be, "GET", ""); got != "ok" {
		t.Fatalf("first response %q", got)
	}
	<-sent
	for i := range 3 {
		if got := fetch(t, be, "GET", ""); got != "ok" {
			t.Fatalf("request %d got %q: a late response was served", i+2, got)
		}
	}
}

// TestBackendDropsConnWithBytesPastAnswer: a member connection whose
// answer came with bytes beyond its framing (more body than its
// Content-Length, a body after a HEAD's head or a 204's, bytes after the
// last chunk) is not reused, as nginx drops one that "sent more data than
// specified": the member and sluice no longer agree where answers end.
// The client gets the answer as framed; the next request goes on a new
// connection.
func TestBackendDropsConnWithBytesPastAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, method, answer, want string
		conns                      int32
	}{
		{"content-length", "GET", okAnswer + "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", "ok", 2},
		{"head", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", "", 2},
		{"204", "GET", "HTTP/1.1 204 No Content\r\n\r\nevil", "", 2},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nevil", "ok", 2},
		{"clean", "GET", okAnswer, "ok", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be, conns := scriptedMember(t, func(c *net.TCPConn, conn int32, req int) bool {
				answer := okAnswer
				if conn == 1 && req == 0 {
					answer = tc.answer // one write: read along with the answer's head
				}
				_, _ = c.Write([]byte(answer))
				return true
			})
			if got := fetch(t, be, tc.method, ""); got != tc.want {
				t.Fatalf("first answer %q, want %q", got, tc.want)
			}
			if got := fetch(t, be, "GET", ""); got != "ok" {
				t.Fatalf("second answer %q", got)
			}
			if n := conns.Load(); n != tc.conns {
				t.Fatalf("%d member connections, want %d", n, tc.conns)
			}
		})
	}
}

// TestBackendRetriesClosedPooledConn: a member that closes or resets a
// pooled connection while it idles (a keep-alive timeout; SO_LINGER 0, as
// some servers and balancers drop idle connections) costs the next
// request nothing, a POST included: the close is found before the request
// goes out, which goes on a new connection.
func TestBackendRetriesClosedPooledConn(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset %v", reset), func(t *testing.T) {
			closed := make(chan struct{})
			be, _ := scriptedMember(t, func(c *net.TCPConn, conn int32, req int) bool {
				_, _ = c.Write([]byte(okAnswer))
				if conn > 1 {
					return true
				}
				if reset {
					_ = c.SetLinger(0)
				}
				c.Close()
				close(closed)
				return false
			})
			// A POST is not idempotent: sent again only if it never went out.
			for i := range 2 {
				if got := fetch(t, be, fasthttp.MethodPost, "p"); got != "ok" {
					t.Fatalf("request %d: %q", i+1, got)
				}
				if i == 0 {
					<-closed
					time.Sleep(10 * time.Millisecond) // the close reaches the pooled end
				}
			}
		})
	}
}

// okAnswer is a scripted member's usual answer.
const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// scriptedMember is a member on 127.0.0.1 whose connections answer each
// request (taken as one read) by answer(c, conn, req): conn numbers the
// connections from 1, req a connection's requests from 0; answer returns
// false to end the connection. It returns a Backend for the member and
// the count of connections made to it.
func scriptedMember(t *testing.T, answer func(c *net.TCPConn, conn int32, req int) bool) (*Backend, *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func(c *net.TCPConn) {
				defer c.Close()
				buf := make([]byte, 4096)
				for i := 0; ; i++ {
					if _, err := c.Read(buf); err != nil || !answer(c, n, i) {
						return
					}
				}
			}(c.(*net.TCPConn))
		}
	}()
	m, _ := NewMember(NewRegistry(), "b", "http://"+ln.Addr().String(), config.WorkerParams{}, false)
	return NewBackend(m, BackendOptions{Timeout: 5 * time.Second}), conns
}

// fetch sends method / (with body, where not empty) through be and
// returns the answer's body.
func fetch(t *testing.T, be *Backend, method, body string) string {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + be.member.Addr + "/")
	if body != "" {
		req.SetBodyString(body)
	}
	got, err := roundTrip(be, req, resp)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return string(got)
}

// readRequestHead reads one request head from the member's side.
func readRequestHead(br *bufio.Reader) (contentLength int, err error) {
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if l == "\r\n" {
			return contentLength, nil
		}
		if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
			contentLength, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
}

// TestForServerName: a TLS member keeps a pool per server name it is asked
// for (ProxyPreserveHost), case-insensitively and without the port, at
// most maxNamed of them, the oldest giving way; its own name, an IP
// address and a plain member use the member's pool.
func TestForServerName(t *testing.T) {
	m, err := NewMember(NewRegistry(), "b", "https://backend.test:8443", config.WorkerParams{}, false)
	if err != nil {
		t.Fatal(err)
	}
	be := NewBackend(m, BackendOptions{Timeout: time.Second})
	for _, host := range []string{"", "backend.test", "backend.test:443", "BACKEND.test", "10.0.0.1", "10.0.0.1:443", "[::1]:443", "[::1"} {
		if be.ForServerName([]byte(host)) != be {
			t.Errorf("%q: a pool of its own, want the member's", host)
		}
	}
	a := be.ForServerName([]byte("a.test"))
	if a == be || a.TLS.ServerName != "a.test" {
		t.Fatalf("a.test: server name %q", a.TLS.ServerName)
	}
	for _, host := range []string{"a.test:443", "A.Test"} {
		if be.ForServerName([]byte(host)) != a {
			t.Errorf("%q: not a.test's pool", host)
		}
	}
	for i := range maxNamed - 1 {
		be.ForServerName(fmt.Appendf(nil, "n%d.test", i))
	}
	if be.ForServerName([]byte("a.test")) != a {
		t.Fatal("a.test's pool gone before the limit")
	}
	be.ForServerName([]byte("one-more.test"))
	if got := be.ForServerName([]byte("a.test")); got == a {
		t.Error("a.test's pool kept past the limit, want the oldest dropped")
	}
	if n := len(be.named.Load().byName); n != maxNamed {
		t.Errorf("%d pools, want %d", n, maxNamed)
	}

	plain, _ := NewMember(NewRegistry(), "b", "http://backend.test", config.WorkerParams{}, false)
	pb := NewBackend(plain, BackendOptions{Timeout: time.Second})
	if pb.ForServerName([]byte("a.test")) != pb {
		t.Error("a plain member got a pool per name")
	}
}
