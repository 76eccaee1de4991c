//go:build !race

package server

import (
	"io"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestProxyRequestAllocs proves sluice's request path allocates nothing of
// its own: a proxied request (client, sluice and backend together) may
// allocate only what fasthttp's streaming HostClient allocates for a plain
// request to the same backend (its per-response stream closures).
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

	direct := &fasthttp.HostClient{Addr: be, StreamResponseBody: true}
	dreq, dresp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	dreq.SetRequestURI("http://" + be + "/x")
	plain := func() {
		if err := direct.Do(dreq, dresp); err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, dresp.BodyStream())
		_ = dresp.CloseBodyStream()
	}

	proxied()
	plain()
	baseline := testing.AllocsPerRun(200, plain)
	n := testing.AllocsPerRun(200, proxied)
	t.Logf("proxied request: %.1f allocs; fasthttp streaming client alone: %.1f", n, baseline)
	if n > baseline {
		t.Fatalf("a proxied request allocates %.1f times; fasthttp's streaming client alone %.1f", n, baseline)
	}
}
