//go:build !race

package server

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestRemoteIPAllocs proves mod_remoteip adds no allocation to a proxied
// request over a real connection: the field read, the client's address
// kept on the connection, the field rewritten, the proxies listed.
func TestRemoteIPAllocs(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	_, addr := serveTCP(t, mustParse(t, `Listen 127.0.0.1:0
RemoteIPHeader X-Forwarded-For
RemoteIPTrustedProxy 127.0.0.1 203.0.113.9
RemoteIPProxiesHeader X-Forwarded-By
ProxyPass / http://`+be+`/
`))
	c := &fasthttp.HostClient{Addr: addr}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://front.example.com/x")
	req.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
	do := func() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%v %d", err, resp.StatusCode())
		}
	}
	do()
	if n := testing.AllocsPerRun(200, do); n != 0 {
		t.Fatalf("a request through mod_remoteip allocates %.1f times", n)
	}
}
