package server

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// requireBase is the balancer the Require tests and benchmarks put rules
// in front of.
const requireBase = `
<Proxy balancer://b>
    BalancerMember http://BACKEND
</Proxy>
ProxyPass /p balancer://b/
`

// BenchmarkProxyGETRequire is BenchmarkProxyGET without and with <Proxy>
// and <Location> Require ip/local rules in front of the balancer.
func BenchmarkProxyGETRequire(b *testing.B) {
	be := startBackend(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") })
	const rules = `
<Proxy *>
    Require ip 127.0.0.1/8 ::1 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16
</Proxy>
<Location /p>
    Require local
    Require ip 10.0.0.0/8
</Location>
`
	for _, c := range []struct{ name, conf string }{{"none", requireBase}, {"ip+local", requireBase + rules}} {
		b.Run(c.name, func(b *testing.B) {
			client := proxyFrom(b, c.conf, be)("10.0.0.9")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://front.example.com/p/x?y=1")
				for pb.Next() {
					if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
						b.Fatalf("%v %d", err, resp.StatusCode())
					}
				}
			})
		})
	}
}
