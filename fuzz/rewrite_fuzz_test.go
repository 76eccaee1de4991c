package fuzz

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/modrewrite"
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

// FuzzRewriteRule compiles a RewriteCond and RewriteRule from the input
// and runs them on a request: nothing may panic, a [P] rule may only ever
// proxy to its own literal origin or balancer with a path that starts
// there, every [E=] value recorded belongs to the rule, and a second run
// gives the same result.
func FuzzRewriteRule(f *testing.F) {
	f.Add("^/api/(v[0-9]+)/(.*)$", "http://b:8080/$2?v=$1", "P,QSA,E=V:$1", "%{HTTP:Origin}", "^https://(.+)$", "/api/v2/x", "a=1", "https://o.example")
	f.Add("^/(.*)", "balancer://b$1", "P,L", "%{HTTP:Upgrade}", "=websocket", "/x/../y", "", "websocket")
	f.Add(".*", "-", "E=CORS:%1,E=!X,E=Y", "%{HTTP:Origin}", "^(https://(www\\.)?ex\\.com)$", "/", "", "https://ex.com")
	f.Add("^/old/(.*)", "/new/$1", "R=301,NE,QSD", "%{QUERY_STRING}", "!^$", "/old/a%20b", "q", "")
	f.Add("^/(.*)", "http://h/%{REQUEST_URI}", "P", "%{HTTP_HOST}", "-f", "/%3F", "", "")
	f.Fuzz(func(t *testing.T, pattern, subst, flags, test, condPattern, path, query, header string) {
		cond, err := modrewrite.CompileCond(test, condPattern, "")
		if err != nil {
			return
		}
		rule, err := modrewrite.CompileRule(pattern, subst, flags, []*modrewrite.Cond{cond})
		if err != nil {
			return
		}
		h := &fasthttp.RequestHeader{}
		h.Set("Origin", header)
		h.Set("Upgrade", header)
		req := &modrewrite.Request{Method: []byte("GET"), Path: []byte(path), RawPath: []byte(path), Query: []byte(query),
			Host: []byte("front.example"), Header: h, ServerName: "front.example", ServerPort: []byte("80"),
			RemoteAddr: []byte("192.0.2.1")}
		rules := modrewrite.NewRules([]*modrewrite.Rule{rule})
		run := func() (modrewrite.Action, int, string, string, int) {
			var st modrewrite.State
			st.Reset(req.Path, req.Query)
			rules.Apply(&st, req)
			st.Finish(req.Host, false)
			for _, a := range st.Env {
				if a.Rule != rule || a.I < 0 || a.I >= len(rule.EnvNames()) {
					t.Fatalf("[E=] assignment %+v not of the rule's flags %q", a, rule.EnvNames())
				}
			}
			if st.Action == modrewrite.Proxy {
				if st.Rule != rule || rule.Balancer() == "" && rule.Origin() == "" {
					t.Fatalf("proxied by %p with no target (rule %p)", st.Rule, rule)
				}
				if len(st.Path) > 0 && st.Path[0] != '/' && st.Path[0] != '?' {
					t.Fatalf("[P] path %q runs into the target's authority", st.Path)
				}
			}
			return st.Action, st.Status, string(st.Path) + "?" + string(st.Query), string(st.Location), len(st.Env)
		}
		a1, s1, p1, l1, e1 := run()
		a2, s2, p2, l2, e2 := run()
		if a1 != a2 || s1 != s2 || p1 != p2 || l1 != l2 || e1 != e2 {
			t.Fatalf("not deterministic: %v %d %q %q %d, then %v %d %q %q %d", a1, s1, p1, l1, e1, a2, s2, p2, l2, e2)
		}
	})
}
