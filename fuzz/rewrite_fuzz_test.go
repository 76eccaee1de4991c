package fuzz

import (
	"bytes"
	"testing"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/rewrite"
)

func FuzzReverseMap(f *testing.F) {
	f.Add("http://host:8080/modules/alias/5.html", "/pr45434/x", "http://front", "http://b/app")
	f.Add("HTTP://B:80/app/x?q=1#f", "/", "", "http://b/app/")
	f.Add("http://b//evil.example/", "/", "", "http://b")
	f.Add("/app/x", "/loc/y", "https://front:8443", "/app/")
	f.Add("http://[::1]:8080/x", "", "http://front", "http://[::1]:8080")
	f.Add("", "", "", "")
	members := []string{"http://host:8080/modules", "http://h2:8080/", "HTTP://Odd:80"}
	names := func(string) []string { return members }
	empty := rewrite.NewReverseMap(nil, nil)
	f.Fuzz(func(t *testing.T, value, reqPath, origin, url string) {
		m := rewrite.NewReverseMap([]config.ReverseRule{
			{Scope: "/loc", Path: "/loc/", URL: url},
			{Path: "/pr45434", URL: "balancer://pr45434/alias"},
			{Path: "/", URL: "balancer://root"},
			{Path: "/pub/", URL: url},
		}, names)
		v := []byte(value)
		dst := []byte("dst|")
		got, ok := m.Apply(dst, v, []byte(reqPath), []byte(origin))
		if string(v) != value {
			t.Fatalf("Apply changed its input %q to %q", value, v)
		}
		if !bytes.HasPrefix(got, []byte("dst|")) {
			t.Fatalf("Apply(%q) lost dst: %q", value, got)
		}
		out := got[len("dst|"):]
		switch {
		case !ok && len(out) != 0:
			t.Fatalf("Apply(%q) = %q without a match", value, out)
		case ok && value != "" && len(out) == 0:
			t.Fatalf("Apply(%q) matched but wrote nothing", value)
		case ok && origin == "" && len(out) > 1 && out[0] == '/' && (out[1] == '/' || out[1] == '\\'):
			t.Fatalf("Apply(%q) = %q: a network-path reference", value, out)
		}
		again, ok2 := m.Apply(nil, v, []byte(reqPath), []byte(origin))
		if ok2 != ok || !bytes.Equal(again, out) {
			t.Fatalf("Apply(%q) not deterministic: %q, %v then %q, %v", value, out, ok, again, ok2)
		}
		if got, ok := empty.Apply(dst, v, []byte(reqPath), []byte(origin)); ok || string(got) != "dst|" {
			t.Fatalf("empty map Apply(%q) = %q, %v", value, got, ok)
		}
	})
}

func FuzzCookieMap(f *testing.F) {
	f.Add("a=1; Path=/app/x; Domain=internal.example.com", "/", "/app", "/pub")
	f.Add("fakepath=/local", "/", "/local", "/pub")
	f.Add("path=/app;PATH=/app ;  domain=INTERNAL.example.com", "/s/x", "", "")
	f.Add(";;;", "", "", "/p")
	f.Add("", "", "", "")
	empty := rewrite.NewCookieMap(nil, nil)
	f.Fuzz(func(t *testing.T, cookie, reqPath, internal, public string) {
		m := rewrite.NewCookieMap(
			[]config.CookieRule{{Internal: internal, Public: public}, {Internal: "internal.example.com", Public: "public.example.com"}},
			[]config.CookieRule{{Scope: "/s", Internal: internal, Public: "/scoped"}, {Internal: internal, Public: public}},
		)
		c := []byte(cookie)
		dst := []byte("dst|")
		got, ok := m.Apply(dst, c, []byte(reqPath))
		if string(c) != cookie {
			t.Fatalf("Apply changed its input %q to %q", cookie, c)
		}
		if !bytes.HasPrefix(got, []byte("dst|")) {
			t.Fatalf("Apply(%q) lost dst: %q", cookie, got)
		}
		if got, ok := empty.Apply(dst, c, []byte(reqPath)); ok || string(got) != "dst|" {
			t.Fatalf("empty map Apply(%q) = %q, %v", cookie, got, ok)
		}
		out := got[len("dst|"):]
		if !ok {
			if len(out) != 0 {
				t.Fatalf("Apply(%q) = %q without a match", cookie, out)
			}
			return
		}
		if len(out) == 0 {
			t.Fatalf("Apply(%q) matched but wrote nothing", cookie)
		}
		// A match needs an attribute, so the pair ends at a ';'.
		pair := c[:bytes.IndexByte(c, ';')+1]
		if !bytes.HasPrefix(out, pair) {
			t.Fatalf("Apply(%q) = %q: name=value pair %q changed", cookie, out, pair)
		}
		if !bytes.ContainsRune([]byte(public), ';') && bytes.Count(out, []byte(";")) != bytes.Count(c, []byte(";")) {
			t.Fatalf("Apply(%q) = %q: attributes added or lost", cookie, out)
		}
	})
}
