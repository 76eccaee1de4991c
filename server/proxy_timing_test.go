package server

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkProxyGET measures one proxied GET end to end: an in-memory
// client connection to sluice, sluice's request path, and a loopback
// keep-alive connection to a fasthttp backend.
func BenchmarkProxyGET(b *testing.B) {
	be := startBackend(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") })
	_, c := startProxy(b, `
<Proxy balancer://b>
    BalancerMember http://BACKEND
</Proxy>
ProxyPass /p balancer://b/
ProxyPassReverse /p balancer://b/
`, be)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://front.example.com/p/x?y=1")
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("X-Forwarded-For", "10.0.0.9")
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("%v %d", err, resp.StatusCode())
			}
		}
	})
}
