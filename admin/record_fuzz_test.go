package admin

import (
	"slices"
	"testing"
)

// FuzzFleetRecord: a balancer record read from the fleet store, written by
// another instance or by hand with etcdctl, never panics this instance.
// Whatever it applies leaves members that all have names, and deleting the
// record brings the configured members back.
func FuzzFleetRecord(f *testing.F) {
	for _, seed := range []string{
		`{"name":"app","lbmethod":"bybusyness","timeout":"5s","removed":["http://b1:8080"],"members":[{"url":"http://b2:8080","loadfactor":2,"route":"r2","flags":"N"},{"url":"http://b3:8080","loadfactor":1,"route":"r3"}]}`,
		`{"name":"app","members":[null]}`,
		`{"name":"app","members":[{}]}`,
		`{"name":"app","members":[{"url":"http://b1:8080"},{"url":"http://b1:8080"}]}`,
		`{"name":"app","members":[{"url":"http://b1:8080","loadfactor":1e309,"lbset":-1,"flags":"DSIHRNCZ"}]}`,
		`{"name":"app","removed":["http://b1:8080","http://b2:8080"]}`,
		`{"name":"app","maxattempts":-1,"lbmethod":"random","sticky_cookie":"a b"}`,
		`{"name":"app","removed":[null,""]}`,
		`{"name":"other"}`,
		`null`,
		`{"name":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		changed := 0
		fx := fleetFixture(t, newMemStore(), &changed)
		fx.a.ApplyRecord("app", data, 1)
		if slices.Contains(fx.bal.Load().Names, "") {
			t.Fatalf("a member without a name from %q", data)
		}
		fx.a.ApplyRecord("app", nil, 2)
		if names := fx.bal.Load().Names; !slices.Equal(names, []string{"http://b1:8080", "http://b2:8080"}) {
			t.Fatalf("after the record was deleted: %v", names)
		}
	})
}
