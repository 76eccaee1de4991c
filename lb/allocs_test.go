//go:build !race

package lb

import (
	"testing"

	"github.com/sluiceproxy/sluice/pool"
)

func TestAllocs(t *testing.T) {
	s := snap(t, "B1 route=r1 redirect=r2", "B2 route=r2 lf=2", "B3 +R", "B4 +H", "B5 set=1")
	member(t, s, "B1").State.SetFlags(pool.FlagDisabled) // r1 redirects to B2
	path, query := []byte("/app;x=1"), []byte("a=1&routeid=abc.r1")
	cookie := []byte("foo=bar; ROUTEID=xyz.r2")
	s.Config.StickyCookie, s.Config.StickyURLParam = "ROUTEID", "routeid"

	if route, _ := StickyRoute(s, path, query, cookie); string(route) != "r1" {
		t.Fatalf("route %q, want r1", route)
	}
	if mb := FindRouteMember(s, []byte("r1"), t0, nil); name(mb) != "B2" {
		t.Fatalf("route r1 found %s, want the redirect B2", name(mb))
	}

	f := func(what string, fn func()) {
		t.Helper()
		if n := testing.AllocsPerRun(200, fn); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", what, n)
		}
	}
	for _, mname := range []string{"byrequests", "bytraffic", "bybusyness"} {
		m := method(t, mname)
		f("Pick+Done "+mname, func() {
			var tr Tried
			mb := Pick(s, m, t0, &tr)
			Done(mb, 100, 200)
		})
	}
	f("StickyRoute", func() { StickyRoute(s, path, query, cookie) })
	f("FindRouteMember+ElectRoute", func() {
		var tr Tried
		mb := FindRouteMember(s, []byte("r1"), t0, &tr)
		ElectRoute(s, mb, &tr)
		Done(mb, 0, 0)
	})
	f("HasRoute", func() { HasRoute(s, []byte("r2")) })
}
