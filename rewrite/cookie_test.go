package rewrite

import (
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

func cr(internal, public string) config.CookieRule {
	return config.CookieRule{Internal: internal, Public: public}
}

func TestCookieMapApply(t *testing.T) {
	domains := []config.CookieRule{cr("internal.example.com", "public.example.com")}
	paths := []config.CookieRule{cr("/app", "/pub")}
	tests := []struct {
		desc           string
		domains, paths []config.CookieRule
		cookie         string
		reqPath        string
		want           string // "" means no match
	}{
		{"Appendix A", domains, paths, "a=1; Path=/app/x; Domain=internal.example.com", "",
			"a=1; Path=/pub; Domain=public.example.com"},
		{"whole path value replaced", nil, paths, "a=1; Path=/app/x", "", "a=1; Path=/pub"},
		{"path prefix ends mid-segment, as httpd", nil, paths, "a=1; Path=/application", "", "a=1; Path=/pub"},
		{"path is case-sensitive", nil, paths, "a=1; Path=/APP", "", ""},
		{"domain without case", domains, nil, "a=1; Domain=INTERNAL.Example.COM", "", "a=1; Domain=public.example.com"},
		{"domain is a prefix", domains, nil, "a=1; Domain=internal.example.com.", "", "a=1; Domain=public.example.com"},
		{"other domain", domains, nil, "a=1; Domain=other.example.com", "", ""},
		{"attribute names without case", domains, paths, "a=1; PATH=/app; dOmAiN=internal.example.com", "",
			"a=1; PATH=/pub; dOmAiN=public.example.com"},
		{"lookalike cookie value untouched", nil, []config.CookieRule{cr("/local", "/pub")}, "fakepath=/local", "", ""},
		{"lookalike attribute untouched", nil, []config.CookieRule{cr("/local", "/pub")}, "a=1; fakepath=/local", "", ""},
		{"cookie named path untouched", nil, paths, "path=/app; Path=/app", "", "path=/app; Path=/pub"},
		{"cookie named domain untouched", domains, nil, "Domain=internal.example.com", "", ""},
		{"multiple attributes", domains, paths,
			"sid=x; Secure; Path=/app/v1; HttpOnly; Domain=internal.example.com; SameSite=Lax; Max-Age=60", "",
			"sid=x; Secure; Path=/pub; HttpOnly; Domain=public.example.com; SameSite=Lax; Max-Age=60"},
		{"every path attribute", nil, paths, "a=1; Path=/app; Path=/app/y", "", "a=1; Path=/pub; Path=/pub"},
		{"only the matching attribute", nil, paths, "a=1; Path=/other; Path=/app/y", "", "a=1; Path=/other; Path=/pub"},
		{"no spaces", domains, paths, "a=1;Path=/app/x;Domain=internal.example.com", "",
			"a=1;Path=/pub;Domain=public.example.com"},
		{"many spaces and tabs", domains, paths, "a=1;   Path=/app/x;\t Domain=internal.example.com  ", "",
			"a=1;   Path=/pub;\t Domain=public.example.com"},
		{"trailing space in value replaced", nil, paths, "a=1; Path=/app/x ; Secure", "", "a=1; Path=/pub; Secure"},
		{"space before = is not the attribute", nil, paths, "a=1; Path =/app", "", ""},
		{"space after = is part of the value", nil, paths, "a=1; Path= /app", "", ""},
		{"empty path value", nil, paths, "a=1; Path=", "", ""},
		{"empty domain value", domains, nil, "a=1; Domain=", "", ""},
		{"empty internal matches any path", nil, []config.CookieRule{cr("", "/pub")}, "a=1; Path=", "", "a=1; Path=/pub"},
		{"empty public", nil, []config.CookieRule{cr("/app", "")}, "a=1; Path=/app; Secure", "", "a=1; Path=; Secure"},
		{"empty cookie", domains, paths, "", "", ""},
		{"empty attributes", domains, paths, ";;; ;", "", ""},
		{"name only", domains, paths, "a=1", "", ""},
		{"no rules", nil, nil, "a=1; Path=/app", "", ""},
		{"first rule wins", nil, []config.CookieRule{cr("/app", "/one"), cr("/app/x", "/two")}, "a=1; Path=/app/x", "",
			"a=1; Path=/one"},
		{"later rule matches", nil, []config.CookieRule{cr("/other", "/one"), cr("/app", "/two")}, "a=1; Path=/app/x", "",
			"a=1; Path=/two"},

		{"scope applies", nil, []config.CookieRule{{Scope: "/s", Internal: "/app", Public: "/s"}}, "a=1; Path=/app", "/s/x",
			"a=1; Path=/s"},
		{"scope does not apply", nil, []config.CookieRule{{Scope: "/s", Internal: "/app", Public: "/s"}}, "a=1; Path=/app", "/sx",
			""},
		// <LocationMatch>: the expression, not a literal prefix.
		{"regexp scope applies", nil, []config.CookieRule{{Scope: `^/v[0-9]+/`, ScopeMatch: true, Internal: "/app", Public: "/v"}},
			"a=1; Path=/app", "/v2/x", "a=1; Path=/v"},
		{"regexp scope does not apply", nil, []config.CookieRule{{Scope: `^/v[0-9]+/`, ScopeMatch: true, Internal: "/app", Public: "/v"}},
			"a=1; Path=/app", "/x/v2/", ""},
		{"server rule before location rule", nil, []config.CookieRule{
			{Scope: "/s", Internal: "/app", Public: "/scoped"}, cr("/app", "/server"),
		}, "a=1; Path=/app", "/s", "a=1; Path=/server"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m := NewCookieMap(tc.domains, tc.paths)
			got, ok := m.Apply([]byte("kept|"), []byte(tc.cookie), []byte(tc.reqPath))
			if tc.want == "" {
				if ok || string(got) != "kept|" {
					t.Fatalf("Apply(%q) = %q, %v; want no match", tc.cookie, got, ok)
				}
				return
			}
			if !ok || string(got) != "kept|"+tc.want {
				t.Fatalf("Apply(%q) = %q, %v; want %q", tc.cookie, got, ok, "kept|"+tc.want)
			}
		})
	}
}

func TestCookieMapEmpty(t *testing.T) {
	if !NewCookieMap(nil, nil).Empty() {
		t.Fatal("map without rules is not Empty")
	}
	if NewCookieMap(nil, []config.CookieRule{cr("/", "/x")}).Empty() {
		t.Fatal("map with a path rule is Empty")
	}
	if NewCookieMap([]config.CookieRule{cr("a", "b")}, nil).Empty() {
		t.Fatal("map with a domain rule is Empty")
	}
}
