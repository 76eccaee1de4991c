//go:build !race

package rewrite

import (
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

func TestReverseMapApplyAllocs(t *testing.T) {
	m := NewReverseMap([]config.ReverseRule{
		scoped("/z", "/z/", "http://z/"),
		{Scope: "^/z", ScopeMatch: true, Path: "/z/", URL: "http://z/"},
		rr("/pr45434", "balancer://pr45434/alias"),
		rr("/", "balancer://root/"),
		rr("/pub/", "http://b.example.com/app/"),
		rr("/p/", "/app/"),
	}, testNames)
	dst := make([]byte, 0, 256)
	// Made once, as a request's path is: a <LocationMatch> scope's regexp
	// keeps the slice it reads from the stack.
	reqPath := []byte("/a/b")
	for _, value := range []string{
		"http://host:8080/modules/alias/5.html",
		"http://h2:8080/x",
		"HTTP://B.EXAMPLE.COM:80/app/x?q#f",
		"/app/x",
		"http://nowhere/x",
	} {
		v := []byte(value)
		if n := testing.AllocsPerRun(100, func() {
			dst, _ = m.Apply(dst[:0], v, reqPath, []byte("http://front:8080"))
		}); n != 0 {
			t.Errorf("Apply(%q) allocates %v times", value, n)
		}
	}
}

func TestCookieMapApplyAllocs(t *testing.T) {
	m := NewCookieMap(
		[]config.CookieRule{{Scope: "/z", Internal: "z", Public: "z"}, {Scope: "^/z", ScopeMatch: true, Internal: "z", Public: "z"}, cr("internal.example.com", "public.example.com")},
		[]config.CookieRule{cr("/other", "/o"), cr("/app", "/pub")},
	)
	dst := make([]byte, 0, 256)
	reqPath := []byte("/a") // as in TestReverseMapApplyAllocs
	for _, cookie := range []string{
		"a=1; Path=/app/x; Domain=internal.example.com; Secure",
		"a=1; Path=/none; HttpOnly",
	} {
		c := []byte(cookie)
		if n := testing.AllocsPerRun(100, func() {
			dst, _ = m.Apply(dst[:0], c, reqPath)
		}); n != 0 {
			t.Errorf("Apply(%q) allocates %v times", cookie, n)
		}
	}
}
