package server

import (
	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/pool"
)

// cookieHeader returns the client's Cookie field as it came, read off the
// request's own lines: fasthttp's view of it parses every cookie and
// writes them out again, some 2,800 instructions for a browser's four.
// Check found the field (l); several Cookie fields (a gateway from HTTP/2
// should have joined them) are joined with "; " into buf, as Apache's
// merged field holds them all.
func cookieHeader(ctx *fasthttp.RequestCtx, l *headers.Lines, buf *[]byte) []byte {
	raw := ctx.Request.Header.RawHeaders()
	if len(raw) == 0 { // a request not read off the wire
		return anycase.Request(&ctx.Request.Header, "Cookie")
	}
	v, more := l.Cookie()
	if !more {
		return v
	}
	*buf = (*buf)[:0]
	for {
		value, rest, found := anycase.InLines(raw, "Cookie")
		if !found {
			return *buf
		}
		if len(*buf) > 0 {
			*buf = append(*buf, "; "...)
		}
		*buf, raw = append(*buf, value...), rest
	}
}

// addRouteCookie adds sticky_set_cookie's Set-Cookie to the answer to a
// request m served, where setsRouteCookie says so: a proxied response and
// a tunnel's handshake answer alike. It is built in x.val.
func addRouteCookie(h *fasthttp.ResponseHeader, snap *pool.Snapshot, m *pool.Member, x *exchange) {
	if setsRouteCookie(snap, m, x.route) {
		x.val = appendRouteCookie(x.val[:0], snap.Config, m.Route)
		h.AddBytesV("Set-Cookie", x.val)
	}
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
