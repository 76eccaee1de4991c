//go:build !race

package server

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestRequireAllocs: ip, local and all rules add no allocation to a
// proxied request.
func TestRequireAllocs(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") })
	const rules = `
<Proxy *>
    Require ip 192.168.0.0/16 172.16
    Require ip 10.0.0.0/8
</Proxy>
<Location /p>
    Require local
    Require ip 10.0.0.0/8
</Location>
<LocationMatch ^/q>
    Require all denied
</LocationMatch>
`
	run := func(c *fasthttp.Client) func() {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://front.example.com/p/x?y=1")
		return func() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				t.Fatalf("%v %d", err, resp.StatusCode())
			}
		}
	}
	with, without := run(proxyFrom(t, requireBase+rules, be)("10.0.0.9")), run(proxyFrom(t, requireBase, be)("10.0.0.9"))
	noMoreAllocs(t, "a proxied request with Require rules", with, "without", without)
}
