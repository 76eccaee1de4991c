//go:build !race

package server

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestProxyRequestAllocs proves a proxied request allocates nothing: the
// client, sluice and the backend together, in steady state. (fasthttp's
// own streaming client allocates four times per response; sluice's member
// transport does not.)
func TestProxyRequestAllocs(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Location", "http://"+string(ctx.Host())+"/next")
		ctx.SetBodyString("hello")
	})
	_, c := startProxy(t, `
<Proxy balancer://b>
    BalancerMember http://BACKEND
</Proxy>
ProxyPass /p balancer://b/
ProxyPassReverse /p balancer://b/
`, be)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://front.example.com/p/x?y=1")
	req.Header.Set("X-Forwarded-For", "10.0.0.9")
	proxied := func() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%v %d", err, resp.StatusCode())
		}
	}
	proxied()
	if n := testing.AllocsPerRun(200, proxied); n != 0 {
		t.Fatalf("a proxied request allocates %.1f times", n)
	}
}

// noMoreAllocs fails when fn allocates more per run than baseline does;
// each runs once first, to warm pools.
func noMoreAllocs(t *testing.T, what string, fn func(), than string, baseline func()) {
	t.Helper()
	fn()
	baseline()
	b := testing.AllocsPerRun(200, baseline)
	n := testing.AllocsPerRun(200, fn)
	t.Logf("%s: %.1f allocs; %s: %.1f", what, n, than, b)
	if n > b {
		t.Fatalf("%s allocates %.1f times; %s %.1f", what, n, than, b)
	}
}

// TestBalancerOptionsAllocs proves retry_idempotent and sticky_set_cookie
// add no allocation: a PUT whose body is read whole for replay and whose
// response gets the route cookie allocates no more than the same PUT
// through a balancer without them, its body streamed. (Any request body
// costs one fasthttp allocation, when the server discards what is left of
// the stream, so the plain client is no baseline here.)
func TestBalancerOptionsAllocs(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") })
	body := make([]byte, 4000)
	put := func(c *fasthttp.Client, resp *fasthttp.Response) func() {
		req := fasthttp.AcquireRequest()
		req.SetRequestURI("http://front.example.com/p/x")
		req.Header.SetMethod(fasthttp.MethodPut)
		req.SetBody(body)
		return func() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				t.Fatalf("%v %d", err, resp.StatusCode())
			}
		}
	}
	_, with := startProxyYAML(t, strings.ReplaceAll(balancerOptionsConf, "ON", "true"), be)
	_, without := startProxyYAML(t, strings.ReplaceAll(balancerOptionsConf, "ON", "false"), be)
	resp := fasthttp.AcquireResponse()
	options, plain := put(with, resp), put(without, resp)

	options()
	if got := string(resp.Header.Peek("Set-Cookie")); got != "ROUTEID=.r1; Path=/" {
		t.Fatalf("Set-Cookie = %q, want ROUTEID=.r1; Path=/", got)
	}
	noMoreAllocs(t, "a PUT with retry_idempotent and sticky_set_cookie", options, "without", plain)
}

// TestProxyLargeBodyAllocs: a 64 KiB response is copied through fasthttp's
// pooled buffer, not a fresh 32 KiB one per response.
func TestProxyLargeBodyAllocs(t *testing.T) {
	big := make([]byte, 64<<10)
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(big) })
	_, c := startProxy(t, "ProxyPass /p http://BACKEND/\n", be)
	if n := responseAllocs(t, c, "http://front.example.com/p/64k", len(big)); n != 0 {
		t.Fatalf("a proxied 64 KiB response allocates %.1f times", n)
	}
}

// TestProxySplicedBodyAllocs: a body spliced socket to socket (real
// sockets, a length of at least pool.SpliceMin) allocates nothing either.
func TestProxySplicedBodyAllocs(t *testing.T) {
	big := make([]byte, 256<<10)
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.Response.SetBodyRaw(big) })
	c := &fasthttp.HostClient{Addr: proxyTCP(t, be)}
	if n := responseAllocs(t, c, "http://front.example.com/big", len(big)); n != 0 {
		t.Fatalf("a spliced 256 KiB response allocates %.1f times", n)
	}
}

// responseAllocs fetches uri through c, once to warm up and then fifty
// times, and returns the allocations per fetch (client, sluice and backend
// together); every answer must carry want bytes.
func responseAllocs(t *testing.T, c interface {
	Do(*fasthttp.Request, *fasthttp.Response) error
}, uri string, want int) float64 {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(uri)
	run := func() {
		if err := c.Do(req, resp); err != nil || len(resp.Body()) != want {
			t.Fatalf("%v %d bytes", err, len(resp.Body()))
		}
	}
	run()
	return testing.AllocsPerRun(50, run)
}

// TestModsRequestAllocs proves the mod_rewrite and mod_headers subset costs
// no allocation per request: rules that match or not, header rules that
// set, append and unset on both sides, the no-proxy test (there were 11
// per request: the variables SERVER_PORT and REMOTE_ADDR, each rule's
// name, and the header scans). The one exception is irreducible: a rule
// whose groups are read ($1 here) allocates once when it matches, as Go's
// regexp returns the groups in a new slice.
func TestModsRequestAllocs(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Header.Peek("X-Drop")) > 0 || string(ctx.Request.Header.Peek("X-B")) != "c" || string(ctx.Request.Header.Peek("X-Seen")) != "yes" {
			ctx.SetStatusCode(400)
		}
		ctx.Response.Header.Set("X-Powered-By", "php")
		ctx.SetBodyString("hello")
	})
	_, c := startProxy(t, `
RewriteEngine on
RewriteCond %{HTTP:Upgrade} =websocket [NC]
RewriteRule ^/ws/(.*) ws://BACKEND/$1 [P,L]
RewriteCond %{REMOTE_ADDR}:%{SERVER_PORT} ^192\.0\.2\.
RewriteRule ^ - [F]
SetEnvIf Request_Method ^GET$ IS_GET
SetEnvIf Request_URI ^/private no-proxy
RewriteCond %{ENV:IS_GET} =1
RewriteCond %{ENV:REDIRECT_STATUS} ^$
RewriteRule ^/ - [E=SEEN:yes]
RewriteRule ^/r/(.*) http://BACKEND/$1 [P,L]
RequestHeader set X-Seen %{SEEN}e env=SEEN
Header set X-A b
Header append X-A c
Header unset X-Powered-By
RequestHeader set X-B c
RequestHeader unset X-Drop
ProxyPass /p http://BACKEND/
`, be)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://front.example.com/p/x?y=1")
	req.Header.Set("X-Drop", "1")
	proxied := func() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%v %d", err, resp.StatusCode())
		}
	}
	proxied()
	if a, p := string(resp.Header.Peek("X-A")), resp.Header.Peek("X-Powered-By"); a != "b, c" || p != nil {
		t.Fatalf("X-A %q, X-Powered-By %q: the header rules did not run", a, p)
	}
	if n := testing.AllocsPerRun(200, proxied); n != 0 {
		t.Fatalf("a request through rewrite and header rules allocates %.1f times", n)
	}
	req.SetRequestURI("http://front.example.com/r/x")
	proxied()
	if n := testing.AllocsPerRun(200, proxied); n != 1 {
		t.Fatalf("a request proxied by a rule reading $1 allocates %.1f times, want 1 (its groups)", n)
	}
}

// TestProxyPassMatchAllocs: a ProxyPassMatch route allocates nothing when
// its target reads no group, and once, for the groups, when it does ($1);
// the expansion is built in the request's own buffer.
func TestProxyPassMatchAllocs(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.Path()) })
	for _, tc := range []struct {
		conf, uri, path string
		allocs          float64
	}{
		{"ProxyPassMatch \\.png$ http://BACKEND\n", "/z/pic.png", "/z/pic.png", 0},
		{"ProxyPassMatch ^/m/(.*)$ http://BACKEND/img/$1\n", "/m/a%20b", "/img/a%20b", 1},
	} {
		_, c := startProxy(t, tc.conf, be)
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://front.example.com" + tc.uri)
		proxied := func() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				t.Fatalf("%s: %v %d", tc.uri, err, resp.StatusCode())
			}
		}
		proxied()
		if got := string(resp.Body()); got != strings.Replace(tc.path, "%20", " ", 1) {
			t.Fatalf("%s reached the member as %q, want %q", tc.uri, got, tc.path)
		}
		if n := testing.AllocsPerRun(200, proxied); n != tc.allocs {
			t.Errorf("%s: %.1f allocations per request, want %.0f", tc.conf, n, tc.allocs)
		}
	}
}
