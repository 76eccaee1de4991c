package server

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// startCloser is a backend that reads each request whole and closes the
// connection without answering. It returns its address and a counter of
// the requests it read.
func startCloser(tb testing.TB) (string, *atomic.Int64) {
	tb.Helper()
	var n atomic.Int64
	addr := startRawMember(tb, func(_ net.Conn, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		n.Add(1)
	})
	return addr, &n
}

// retryConf is a balancer whose first member closes every connection.
const retryConf = `  routes:
    - {path: /, target: balancer://b/}
  balancers:
    - name: b
      retry_idempotent: RETRY
      members:
        - url: http://BACKEND1
        - url: http://BACKEND2
`

func TestRetryIdempotent(t *testing.T) {
	cases := []struct {
		desc, retry, method string
		body                int
		want                int // status; 200 means the second member answered
	}{
		{"GET is retried", "true", "GET", 0, 200},
		{"PUT body is replayed", "true", "PUT", 5000, 200},
		{"DELETE with a 64 KiB body is replayed", "true", "DELETE", prefetchBody, 200},
		{"POST is not retried", "true", "POST", 10, 502},
		{"PUT body over 64 KiB is streamed, not replayed", "true", "PUT", prefetchBody + 1, 502},
		{"without the option GET is not retried", "false", "GET", 0, 502},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			closer, closed := startCloser(t)
			var got, host atomic.Value
			alive := startBackend(t, func(ctx *fasthttp.RequestCtx) {
				got.Store(string(ctx.Method()) + " " + string(ctx.PostBody()))
				host.Store(string(ctx.Host()))
				ctx.SetBodyString("alive")
			})
			s, client := startProxyYAML(t, strings.Replace(retryConf, "RETRY", c.retry, 1), closer, alive)
			body := strings.Repeat("b", c.body)
			status, resp := doBody(t, client, c.method, "/x", body)
			if status != c.want {
				t.Fatalf("status %d, want %d: %q", status, c.want, resp)
			}
			if closed.Load() == 0 {
				t.Fatal("the closing member never received the request")
			}
			snap := s.rt.Load().hosts[0].balancers["b"].Load()
			if c.want != 200 {
				if got.Load() != nil {
					t.Errorf("the second member received %q; want no retry", got.Load())
				}
				return
			}
			if resp != "alive" || got.Load() != c.method+" "+body {
				t.Errorf("second member got %.40q, client got %q; want %s with the whole body", got.Load(), resp, c.method)
			}
			if host.Load() != alive {
				t.Errorf("second member got Host %q, want its own, %s", host.Load(), alive)
			}
			if !snap.Members[0].State.Usable() {
				t.Error("a retried member was put in error (only failontimeout does that)")
			}
			for _, m := range snap.Members {
				if b := m.State.Busy.Load(); b != 0 {
					t.Errorf("%s busy %d after the request", m.Name, b)
				}
			}
		})
	}
}

// doBody sends method uri with body (none when empty) and returns the
// status and response body.
func doBody(t *testing.T, c *fasthttp.Client, method, uri, body string) (int, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://front.example.com" + uri)
	req.Header.SetMethod(method)
	if body != "" {
		req.SetBodyString(body)
	}
	if err := c.Do(req, resp); err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	return resp.StatusCode(), string(resp.Body())
}

func TestRetryIdempotentNeverSameMemberTwice(t *testing.T) {
	c1, n1 := startCloser(t)
	c2, n2 := startCloser(t)
	s, client := startProxyYAML(t, `  routes:
    - {path: /, target: balancer://b/}
  balancers:
    - name: b
      retry_idempotent: true
      maxattempts: 5
      members:
        - url: http://BACKEND1
        - url: http://BACKEND2
`, c1, c2)
	if status, _, _ := do(t, client, "GET", "/x"); status != 502 {
		t.Fatalf("status %d, want 502 once both members failed", status)
	}
	// fasthttp re-sends once on a fresh connection when a pooled one was
	// closed; sluice itself goes to each member once.
	if a, b := n1.Load(), n2.Load(); a == 0 || b == 0 || a > 2 || b > 2 {
		t.Errorf("members read %d and %d requests; want each tried, none more than fasthttp's one re-send", a, b)
	}
	for _, m := range s.rt.Load().hosts[0].balancers["b"].Load().Members {
		if m.State.Busy.Load() != 0 || m.State.Flags()&pool.FlagError != 0 {
			t.Errorf("%s: busy %d flags %v", m.Name, m.State.Busy.Load(), m.State.Flags())
		}
	}
}

// TestRetryIdempotentChunkedBody checks a chunked PUT is streamed, so a
// member that cut it is not retried.
func TestRetryIdempotentChunkedBody(t *testing.T) {
	closer, closed := startCloser(t)
	var reached atomic.Bool
	alive := startBackend(t, func(ctx *fasthttp.RequestCtx) { reached.Store(true) })
	_, client := startProxyYAML(t, strings.Replace(retryConf, "RETRY", "true", 1), closer, alive)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://front.example.com/x")
	req.Header.SetMethod(fasthttp.MethodPut)
	req.SetBodyStream(strings.NewReader("chunked body"), -1)
	if err := client.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 502 || closed.Load() == 0 || reached.Load() {
		t.Errorf("status %d, closing member read %d, other member reached %v; want 502 after the closing member alone",
			resp.StatusCode(), closed.Load(), reached.Load())
	}
}

// TestRetryIdempotentBodyCutShort: a replayable body is read whole before
// the first attempt; a client that stops short of its Content-Length gets
// 400 and no member hears of the request.
func TestRetryIdempotentBodyCutShort(t *testing.T) {
	var reached atomic.Int32
	b1 := startBackend(t, func(ctx *fasthttp.RequestCtx) { reached.Add(1) })
	b2 := startBackend(t, func(ctx *fasthttp.RequestCtx) { reached.Add(1) })
	src := "listen: ['127.0.0.1:0']\nserver:\n" + strings.NewReplacer("RETRY", "true", "BACKEND1", b1, "BACKEND2", b2).Replace(retryConf)
	cfg, err := config.ParseYAML("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveTCP(t, cfg)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly ten!!"); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	resp := readResponse(t, c)
	if resp.StatusCode() != fasthttp.StatusBadRequest || reached.Load() != 0 {
		t.Errorf("status %d, members reached %d times; want 400 and none", resp.StatusCode(), reached.Load())
	}
}
