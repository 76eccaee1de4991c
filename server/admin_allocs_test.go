//go:build !race

package server

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestManagerLocationAllocs: a manager location costs a proxied request of
// the same host nothing.
func TestManagerLocationAllocs(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") })
	measure := func(conf string) float64 {
		_, c := startProxy(t, conf, be)
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://front.example.com/a/long/path/that/is/not/the/manager/x")
		do := func() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				t.Fatalf("%v %d", err, resp.StatusCode())
			}
		}
		do()
		return testing.AllocsPerRun(200, do)
	}
	without := measure("<Proxy balancer://b>\nBalancerMember http://BACKEND\n</Proxy>\nProxyPass / balancer://b/\n")
	with := measure(managerConf)
	if with > without {
		t.Errorf("a manager location adds allocations: %.1f with, %.1f without", with, without)
	}
}
