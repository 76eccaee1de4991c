package lb

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

func TestFindRouteMember(t *testing.T) {
	f := func(route, want string, specs ...string) {
		t.Helper()
		s := snap(t, specs...)
		if got := name(FindRouteMember(s, []byte(route), t0, nil)); got != want {
			t.Errorf("%v: route %q found %s, want %s", specs, route, got, want)
		}
	}
	f("r2", "B2", "B1 route=r1", "B2 route=r2", "B3 route=r3 +N")
	f("r3", "B3", "B1 route=r1", "B2 route=r2", "B3 route=r3 +N") // draining keeps its sessions
	f("r9", "-", "B1 route=r1", "B2 route=r2")
	f("", "-", "B1", "B2")                        // a member without a route never matches
	f("r1", "-", "B1 route=r1 +D", "B2 route=r2") // unusable, no redirect
	f("r1", "B2", "B1 route=r1 redirect=r2 +D", "B2 route=r2")
	f("r1", "B3", "B1 route=r1 redirect=r2 +D", "B2 route=r2 redirect=r3 +S", "B3 route=r3")
	// A redirect loop ends after len(Members)-1 redirects.
	f("r1", "-", "B1 route=r1 redirect=r2 +D", "B2 route=r2 redirect=r1 +D")
	f("r1", "-", "B1 route=r1 redirect=r2 +D", "B2 route=r2 redirect=r3 +D", "B3 route=r3 redirect=r1 +D")
	// Non-standby members first, then standbys with the same route.
	f("r1", "B1", "H1 route=r1 +H", "B1 route=r1")
	f("r1", "H1", "B1 route=r1 +D", "H1 route=r1 +H")
	// The first usable of several members sharing a route.
	f("r1", "B2", "B1 route=r1 +C", "B2 route=r1")
	// Standbys are not lbset-bound; spares match like regular members.
	f("r1", "S1", "S1 route=r1 +R set=5")
}

func TestFindRouteMemberRetryAndTried(t *testing.T) {
	s := snap(t, "B1 route=r1 redirect=r2 retry=5s", "B2 route=r2", "B3")
	b1 := member(t, s, "B1")
	b1.State.MarkError(t0)
	if got := name(FindRouteMember(s, []byte("r1"), t0.Add(5*time.Second), nil)); got != "B2" {
		t.Fatalf("in error: found %s, want the redirect B2", got)
	}
	if got := name(FindRouteMember(s, []byte("r1"), t0.Add(6*time.Second), nil)); got != "B1" {
		t.Fatalf("after retry: found %s, want B1", got)
	}
	if b1.State.Retries.Load() != 1 {
		t.Fatalf("retries %d, want 1", b1.State.Retries.Load())
	}
	// A member already tried by this request counts as unusable.
	var tried Tried
	tried.Add(b1.Index)
	if got := name(FindRouteMember(s, []byte("r1"), t0, &tried)); got != "B2" {
		t.Fatalf("B1 tried: found %s, want B2", got)
	}
	tried.Add(member(t, s, "B2").Index)
	if got := FindRouteMember(s, []byte("r1"), t0, &tried); got != nil {
		t.Fatalf("both tried: found %s, want none", name(got))
	}

	// FindRouteMember runs forcerecovery first.
	s = snap(t, "B1 route=r1", "B2 route=r2")
	for _, mb := range s.Members {
		mb.State.MarkError(t0)
	}
	if got := name(FindRouteMember(s, []byte("r2"), t0, nil)); got != "B2" {
		t.Fatalf("all in error: found %s, want B2 after forcerecovery", got)
	}
}

// TestFindRouteRedirectsBounded: members sharing routes that redirect to
// each other, all down. The search used to follow every redirect of every
// member at every depth: 12 members took 38 s a request, 20 would never
// end.
func TestFindRouteRedirectsBounded(t *testing.T) {
	var specs []string
	for i := range 10 {
		specs = append(specs, fmt.Sprintf("A%d route=a redirect=b +D", i), fmt.Sprintf("B%d route=b redirect=a +D", i))
	}
	s := snap(t, specs...)
	done := make(chan *pool.Member)
	go func() { done <- FindRouteMember(s, []byte("a"), t0, nil) }()
	select {
	case m := <-done:
		if m != nil {
			t.Fatalf("found %s, want none", name(m))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the redirect search did not end")
	}
}

// TestFindRouteMemoKeepsResult compares the lookup with Apache's
// find_route_worker as it stands, every redirect searched again, over
// random small balancers: remembering the redirects searched in vain must
// not change which member is found.
func TestFindRouteMemoKeepsResult(t *testing.T) {
	var apache func(s *pool.Snapshot, route string, depth int) *pool.Member
	apache = func(s *pool.Snapshot, route string, depth int) *pool.Member {
		for _, standby := range [...]bool{false, true} {
			for _, mb := range s.Members {
				if mb.State.Flags()&pool.FlagHotStandby != 0 != standby || mb.Route == "" || mb.Route != route {
					continue
				}
				if mb.State.Usable() {
					return mb
				}
				if mb.Redirect != "" && depth < len(s.Members) {
					if r := apache(s, mb.Redirect, depth+1); r != nil {
						return r
					}
				}
			}
		}
		return nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	routes := []string{"a", "b", "c", "d"}
	for range 3000 {
		var specs []string
		for i := range 2 + rng.IntN(6) {
			spec := fmt.Sprintf("M%d route=%s", i, routes[rng.IntN(3)])
			if r := rng.IntN(5); r < 4 {
				spec += " redirect=" + routes[r]
			}
			if rng.IntN(4) > 0 {
				spec += " +D"
			}
			if rng.IntN(4) == 0 {
				spec += " +H"
			}
			specs = append(specs, spec)
		}
		s := snap(t, specs...)
		for _, route := range routes {
			if got, want := FindRouteMember(s, []byte(route), t0, nil), apache(s, route, 1); got != want {
				t.Fatalf("%v: route %s found %s, Apache %s", specs, route, name(got), name(want))
			}
		}
	}
}

func TestHasRoute(t *testing.T) {
	s := snap(t, "B1 route=r1 +D", "B2")
	for route, want := range map[string]bool{"r1": true, "r2": false, "": false} {
		if got := HasRoute(s, []byte(route)); got != want {
			t.Errorf("HasRoute(%q) = %v, want %v", route, got, want)
		}
	}
}

func TestElectRoute(t *testing.T) {
	// Sticky traffic counts in byrequests' rotation: usable members (any
	// lbset, standbys and draining ones included) gain their lbfactor and
	// the chosen one pays the total.
	s := build(t, &config.Balancer{ForceRecovery: true}, "B1", "B2 lf=2", "B3 +D", "B4 +N set=1")
	b1 := member(t, s, "B1")
	var tried Tried
	ElectRoute(s, b1, &tried)
	want := map[string]int64{"B1": 100 - 400, "B2": 200, "B3": 0, "B4": 100}
	for n, lbs := range want {
		if got := member(t, s, n).State.LBStatus.Load(); got != lbs {
			t.Errorf("%s lbstatus %d, want %d", n, got, lbs)
		}
	}
	if b1.State.Elected.Load() != 1 || b1.State.Busy.Load() != 1 || !tried.Has(b1.Index) {
		t.Fatalf("elected %d busy %d tried %v", b1.State.Elected.Load(), b1.State.Busy.Load(), tried.Has(b1.Index))
	}
	Done(b1, 0, 0)
	// The balanced picks that follow take the sticky one into account.
	if got := picks(t, s, method(t, "byrequests"), 4, 0, 0); got != "B2 B2 B2 B1" {
		t.Fatalf("after a sticky pick: got %s, want B2 B2 B2 B1", got)
	}
}
