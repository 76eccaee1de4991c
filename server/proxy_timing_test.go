package server

import (
	"strings"
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

// BenchmarkProxyPUT measures a proxied 4 KB PUT with the body streamed
// (retry_idempotent off) and read whole for replay with the route cookie
// set (retry_idempotent and sticky_set_cookie on).
func BenchmarkProxyPUT(b *testing.B) {
	be := startBackend(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") })
	body := make([]byte, 4000)
	for _, mode := range []string{"false", "true"} {
		name := map[string]string{"false": "streamed", "true": "replayable+cookie"}[mode]
		b.Run(name, func(b *testing.B) {
			_, c := startProxyYAML(b, strings.ReplaceAll(balancerOptionsConf, "ON", mode), be)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://front.example.com/p/x")
				req.Header.SetMethod(fasthttp.MethodPut)
				req.SetBody(body)
				for pb.Next() {
					if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
						b.Fatalf("%v %d", err, resp.StatusCode())
					}
				}
			})
		})
	}
}
