package server

import (
	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/pool"
)

// cookieHeader returns the client's first Cookie field, whatever its case.
func cookieHeader(ctx *fasthttp.RequestCtx) []byte {
	for k, v := range ctx.Request.Header.All() {
		if headers.EqualFold(k, "Cookie") {
			return v
		}
	}
	return nil
}

// setsRouteCookie reports whether the response must carry sticky_set_cookie:
// the chosen member has a route and the request did not ask for that route
// (no route, an unknown one, or one whose member was unusable: Apache's
// BALANCER_ROUTE_CHANGED). requested is the route the request carried.
func setsRouteCookie(snap *pool.Snapshot, m *pool.Member, requested []byte) bool {
	if snap == nil || !snap.Config.StickySetCookie || snap.Config.StickyCookie == "" || m.Route == "" {
		return false
	}
	return string(requested) != m.Route
}

// appendRouteCookie appends the Set-Cookie value that routes later requests
// to route: "NAME=.ROUTE; Path=/" with the balancer's separator, the route
// alone when stickysessionsep is Off. This is Apache's documented
// mod_headers recipe (apache.md §4.7).
func appendRouteCookie(dst []byte, bc *config.Balancer, route string) []byte {
	dst = append(dst, bc.StickyCookie...)
	dst = append(dst, '=')
	if !bc.StickySepOff {
		if bc.StickySep == "" {
			dst = append(dst, '.')
		} else {
			dst = append(dst, bc.StickySep...)
		}
	}
	dst = append(dst, route...)
	return append(dst, "; Path=/"...)
}
