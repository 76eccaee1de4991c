package lb

import (
	"testing"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

func TestStickyRoute(t *testing.T) {
	routeid := &config.Balancer{StickyCookie: "ROUTEID", StickyURLParam: "routeid"}
	f := func(bc *config.Balancer, path, query, cookie, wantRoute string, wantSrc StickySource) {
		t.Helper()
		s := build(t, bc)
		route, src := StickyRoute(s, []byte(path), []byte(query), []byte(cookie))
		if string(route) != wantRoute || src != wantSrc || (route == nil) != (wantRoute == "") {
			t.Errorf("path %q query %q cookie %q: got %q (%d), want %q (%d)",
				path, query, cookie, route, src, wantRoute, wantSrc)
		}
	}
	// apache.md Appendix A, stickysession=ROUTEID|routeid.
	f(routeid, "/", "", "ROUTEID=xyz.r2", "r2", StickyCookie)
	f(routeid, "/", "", "ROUTEID=r2", "", StickyNone) // no separator: no route
	f(routeid, "/", "routeid=abc.r1", "", "r1", StickyURL)
	f(routeid, "/a;routeid=abc.r2", "", "", "r2", StickyURL)
	f(routeid, "/", "routeid=abc.r1", "ROUTEID=.r2", "r1", StickyURL) // URL first
	f(routeid, "/", "", "ROUTEID=x.r3", "r3", StickyCookie)
	f(routeid, "/", "", "ROUTEID=x.r9", "r9", StickyCookie)
	f(routeid, "/", "", "ROUTEID=a.b.r2", "b.r2", StickyCookie) // after the FIRST separator
	f(routeid, "/", "", "XROUTEID=q.r2", "", StickyNone)
	f(routeid, "/", "", "ROUTEID=.r2", "r2", StickyCookie)
	// Deliberate difference: Apache matches ?xrouteid= by substring.
	f(routeid, "/", "xrouteid=abc.r2", "", "", StickyNone)
	f(routeid, "/xrouteid=abc.r2", "", "", "", StickyNone)

	// URL parameter boundaries and value ends.
	f(routeid, "/", "foo=1&routeid=abc.r2", "", "r2", StickyURL)
	f(routeid, "/", "foo=1&routeid=abc.r2&bar=2", "", "r2", StickyURL)
	f(routeid, "/", "foo=1?routeid=abc.r2", "", "r2", StickyURL)
	f(routeid, "/", "foo=1;routeid=abc.r2", "", "r2", StickyURL)
	f(routeid, "/", "routeid=abc.r2;jsessionid=x", "", "r2;jsessionid=x", StickyURL)
	f(routeid, "/a;routeid=abc.r2/b/c", "x=1", "", "r2/b/c", StickyURL)
	f(routeid, "/a;routeid=abc.r2", "routeid=abc.r1", "", "r2", StickyURL) // path before query
	f(routeid, "/", "routeid", "", "", StickyNone)
	f(routeid, "/", "routeidx=a.r1&routeid=b.r2", "", "r2", StickyURL)
	f(routeid, "/", "routeid=&routeid=b.r2", "", "r2", StickyURL) // empty value: keep looking
	f(routeid, "/", "routeid=&x=1", "ROUTEID=a.r3", "r3", StickyCookie)
	f(routeid, "/", "routeid=abc", "ROUTEID=a.r3", "", StickyNone) // the URL value shadows the cookie
	f(routeid, "/", "routeid=abc.", "", "", StickyNone)            // empty route

	// Cookie syntax.
	f(routeid, "/", "", "foo=1; ROUTEID = q.r2", "r2", StickyCookie)
	f(routeid, "/", "", "foo=1;ROUTEID=q.r2;bar=2", "r2", StickyCookie)
	f(routeid, "/", "", "foo=1,ROUTEID=q.r2,bar=2", "r2", StickyCookie)
	f(routeid, "/", "", "foo=1;\tROUTEID=q.r2", "r2", StickyCookie)
	f(routeid, "/", "", "ROUTEIDX=a.r1; ROUTEID=b.r2", "r2", StickyCookie)
	f(routeid, "/", "", "a=ROUTEID=x.r1", "", StickyNone)
	f(routeid, "/", "", "ROUTEID=q.r2 ; x=1", "r2 ", StickyCookie) // not trimmed, as in Apache
	f(routeid, "/", "", "ROUTEID=", "", StickyNone)
	f(routeid, "/", "", "ROUTEID", "", StickyNone)
	f(routeid, "/", "", "routeid=a.r2", "", StickyNone) // the cookie name is case-sensitive
	f(routeid, "/", "", "", "", StickyNone)

	// stickysessionsep=Off: the whole value is the route.
	off := &config.Balancer{StickyCookie: "ROUTEID", StickyURLParam: "routeid", StickySepOff: true}
	f(off, "/", "", "ROUTEID=r2", "r2", StickyCookie)
	f(off, "/", "", "ROUTEID=a.r2", "a.r2", StickyCookie)
	// Another separator (WebLogic's '!').
	bang := &config.Balancer{StickyCookie: "JSESSIONID", StickyURLParam: "jsessionid", StickySep: "!"}
	f(bang, "/", "", "JSESSIONID=abc!r1!x", "r1!x", StickyCookie)
	f(bang, "/", "", "JSESSIONID=abc.r1", "", StickyNone)
	// scolonpathdelim also ends the URL value at ';'.
	semi := &config.Balancer{StickyCookie: "JSESSIONID", StickyURLParam: "jsessionid", SColonPathDelim: true}
	f(semi, "/", "jsessionid=abc.r1;x", "", "r1", StickyURL)
	f(semi, "/a;jsessionid=abc.r1;x=2", "", "", "r1", StickyURL)
	// A cookie-only or URL-only balancer; no stickysession at all.
	f(&config.Balancer{StickyCookie: "ROUTEID"}, "/", "ROUTEID=a.r1", "ROUTEID=a.r2", "r2", StickyCookie)
	f(&config.Balancer{StickyURLParam: "routeid"}, "/", "routeid=a.r1", "routeid=a.r2", "r1", StickyURL)
	f(&config.Balancer{}, "/", "routeid=a.r1", "ROUTEID=a.r2", "", StickyNone)

	// A snapshot without a config (a direct worker's) is never sticky.
	if route, src := StickyRoute(&pool.Snapshot{}, nil, []byte("routeid=a.r1"), nil); route != nil || src != StickyNone {
		t.Errorf("nil config: got %q (%d)", route, src)
	}
}
