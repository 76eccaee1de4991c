package server

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/sluiceproxy/sluice/config"
)

// startBackend serves h on a loopback port and returns its address.
func startBackend(tb testing.TB, h fasthttp.RequestHandler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h, DisableHeaderNamesNormalizing: true}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// startProxy loads an Apache config (BACKEND replaced by backend) and serves
// it on an in-memory listener; it returns a client bound to that listener.
func startProxy(tb testing.TB, conf, backend string) (*Server, *fasthttp.Client) {
	tb.Helper()
	return startProxyLog(tb, conf, backend, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startProxyLog is startProxy with the server logging to log.
func startProxyLog(tb testing.TB, conf, backend string, log *slog.Logger) (*Server, *fasthttp.Client) {
	tb.Helper()
	src := "Listen 127.0.0.1:0\n" + strings.ReplaceAll(conf, "BACKEND", backend)
	cfg, err := config.ParseApache("test.conf", []byte(src), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return serveProxyLog(tb, cfg, log)
}

// startProxyYAML is startProxy for a native YAML config, whose server key
// is conf (indented as the server mapping's body).
func startProxyYAML(tb testing.TB, conf string, backends ...string) (*Server, *fasthttp.Client) {
	tb.Helper()
	src := "listen: ['127.0.0.1:0']\nserver:\n" + conf
	for i, be := range backends {
		src = strings.ReplaceAll(src, fmt.Sprintf("BACKEND%d", i+1), be)
	}
	cfg, err := config.ParseYAML("test.yaml", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return serveProxy(tb, cfg)
}

// serveProxy serves cfg on an in-memory listener and returns a client bound
// to it.
func serveProxy(tb testing.TB, cfg *config.Config) (*Server, *fasthttp.Client) {
	tb.Helper()
	return serveProxyLog(tb, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// serveProxyLog is serveProxy with the server logging to log.
func serveProxyLog(tb testing.TB, cfg *config.Config, log *slog.Logger) (*Server, *fasthttp.Client) {
	tb.Helper()
	s, err := New(cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = ln.Close() })
	c := &fasthttp.Client{
		Dial:                          func(string) (net.Conn, error) { return ln.Dial() },
		DisableHeaderNamesNormalizing: true,
		MaxIdemponentCallAttempts:     1,
	}
	return s, c
}

// serveConns accepts connections on a loopback port until the test ends,
// each handed to handle in a goroutine of its own; it returns the address.
func serveConns(tb testing.TB, handle func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

// startRawMember is a backend on a loopback port that reads one request
// per connection and hands it, with the connection, to answer; the
// connection closes when answer returns. It returns the address.
func startRawMember(tb testing.TB, answer func(c net.Conn, req *http.Request)) string {
	tb.Helper()
	return serveConns(tb, func(c net.Conn) {
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		answer(c, req)
	})
}

// serveTCP serves cfg on a loopback socket from Listen, as sluice runs
// (splicing needs real sockets; on Linux its connections are sock's
// Accepted), and returns its address.
func serveTCP(tb testing.TB, cfg *config.Config) (*Server, string) {
	tb.Helper()
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", true)
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = ln.Close() })
	return s, ln.Addr().String()
}

// serveApacheTCP is serveTCP for an Apache config's source.
func serveApacheTCP(tb testing.TB, src string) (*Server, string) {
	tb.Helper()
	cfg, err := config.ParseApache("test.conf", []byte(src), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return serveTCP(tb, cfg)
}

// dialTCP connects to addr, closing the connection when the test ends.
func dialTCP(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// balancerOptionsConf is a YAML server with one sticky balancer whose
// retry_idempotent and sticky_set_cookie read ON; callers replace ON with
// true or false.
const balancerOptionsConf = `  routes:
    - {path: /p, target: balancer://b/}
  balancers:
    - name: b
      sticky_cookie: ROUTEID
      sticky_urlparam: routeid
      sticky_set_cookie: ON
      retry_idempotent: ON
      members:
        - {url: http://BACKEND1, route: r1}
`

// rawRequest writes request on conn byte for byte (fasthttp's client would
// normalize its path) and reads the answer.
func rawRequest(tb testing.TB, conn net.Conn, request string) *fasthttp.Response {
	tb.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		tb.Fatal(err)
	}
	return readResponse(tb, conn)
}

// readResponse reads one answer from conn.
func readResponse(tb testing.TB, conn net.Conn) *fasthttp.Response {
	tb.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	resp := new(fasthttp.Response)
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		tb.Fatalf("no answer: %v", err)
	}
	return resp
}

// hostGet sends GET http://host+uri through c and returns the answer.
func hostGet(tb testing.TB, c *fasthttp.Client, host, uri string) *fasthttp.Response {
	tb.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI("http://" + host + uri)
	resp := new(fasthttp.Response)
	if err := c.Do(req, resp); err != nil {
		tb.Fatal(err)
	}
	return resp
}

// listeners opens n loopback listeners, closed when the test ends, and
// returns them with their ports: a config can name the ports before the
// server serves them.
func listeners(tb testing.TB, n int) ([]net.Listener, []int) {
	tb.Helper()
	lns, ports := make([]net.Listener, n), make([]int, n)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { ln.Close() })
		lns[i], ports[i] = ln, ln.Addr().(*net.TCPAddr).Port
	}
	return lns, ports
}

// syncBuffer is a log's destination that the server's goroutines and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
