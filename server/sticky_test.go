package server

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/lb"
	"github.com/sluiceproxy/sluice/pool"
)

// TestCookieHeader: the sticky route is read off the client's own Cookie
// lines, whatever the name's case; several Cookie fields count as one (as
// Apache merges them), and fields that only start alike are not cookies.
func TestCookieHeader(t *testing.T) {
	snap := &pool.Snapshot{Config: &config.Balancer{StickyCookie: "ROUTEID", StickySep: "."}}
	for _, tc := range []struct {
		name, head, want, route string
	}{
		{"one", "Cookie: a=1; ROUTEID=.r1; b=2\r\n", "a=1; ROUTEID=.r1; b=2", "r1"},
		{"as sent", "Cookie: a=1;ROUTEID=.r7\r\n", "a=1;ROUTEID=.r7", "r7"}, // fasthttp writes "a=1; ROUTEID=.r7"
		{"lower case, spaces", "cookie:   ROUTEID=.r2  \r\n", "ROUTEID=.r2", "r2"},
		{"two fields", "Cookie: a=1\r\nX-Other: y\r\nCookie: ROUTEID=.r3\r\n", "a=1; ROUTEID=.r3", "r3"},
		{"three fields", "Cookie: a=1\r\nCookie: b=2\r\nCOOKIE: ROUTEID=.r4\r\n", "a=1; b=2; ROUTEID=.r4", "r4"},
		{"alike names", "Cookie2: ROUTEID=.x\r\nX-Cookie: ROUTEID=.y\r\nSet-Cookie: ROUTEID=.z\r\n", "", ""},
		{"none", "Accept: */*\r\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := logCtx(t, "GET / HTTP/1.1\r\nHost: x\r\n"+tc.head+"\r\n")
			var l headers.Lines
			if status, _ := headers.Check(ctx, &l); status != 0 {
				t.Fatalf("Check: %d", status)
			}
			buf := []byte("left from an earlier request")
			got := cookieHeader(ctx, &l, &buf)
			if string(got) != tc.want {
				t.Errorf("Cookie %q, want %q", got, tc.want)
			}
			if route, _ := lb.StickyRoute(snap, []byte("/"), nil, got); string(route) != tc.route {
				t.Errorf("route %q, want %q", route, tc.route)
			}
		})
	}
	// A request not read off the wire has no lines of its own: fasthttp's
	// view stands in.
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetCookie("ROUTEID", ".r5")
	var buf []byte
	if got := string(cookieHeader(&ctx, new(headers.Lines), &buf)); got != "ROUTEID=.r5" {
		t.Errorf("a built request's Cookie %q, want ROUTEID=.r5", got)
	}
}

// TestStickyEnv: the variables mod_proxy_balancer exports for a sticky
// request name where its route came from (the cookie, or the URL
// parameter, which shadows it), and BALANCER_ROUTE_CHANGED tells a request
// that reached its route's member from one that did not.
func TestStickyEnv(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	_, c := startProxy(t, `<Proxy balancer://b>
BalancerMember http://BACKEND route=r1
</Proxy>
ProxyPass /p balancer://b/ stickysession=ROUTEID|routeid
Header set X-Sticky "%{BALANCER_SESSION_STICKY}e %{BALANCER_SESSION_ROUTE}e"
Header set X-Changed "yes" env=BALANCER_ROUTE_CHANGED
`, be)
	for _, tc := range []struct {
		name, uri, cookie, sticky, changed string
	}{
		{"cookie", "/p/x", "a=1; ROUTEID=.r1", "ROUTEID r1", ""},
		{"URL parameter", "/p/x?routeid=.r1", "ROUTEID=.r9", "routeid r1", ""},
		{"unknown route", "/p/x", "ROUTEID=.r9", "ROUTEID r9", "yes"},
		{"none", "/p/x", "", "(null) (null)", "yes"},
	} {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://front.example.com" + tc.uri)
		if tc.cookie != "" {
			req.Header.Set("Cookie", tc.cookie)
		}
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%s: %v %d", tc.name, err, resp.StatusCode())
		}
		if got := string(resp.Header.Peek("X-Sticky")); got != tc.sticky {
			t.Errorf("%s: BALANCER_SESSION_STICKY and _ROUTE %q, want %q", tc.name, got, tc.sticky)
		}
		if got := string(resp.Header.Peek("X-Changed")); got != tc.changed {
			t.Errorf("%s: BALANCER_ROUTE_CHANGED %q, want %q", tc.name, got, tc.changed)
		}
	}
}
