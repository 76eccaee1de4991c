package rewrite

import (
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

var testMembers = map[string][]string{
	"pr45434": {"http://host:8080/modules"},
	"rr":      {"http://127.0.0.1:27101"},
	"sub":     {"http://a:81/app/", "http://b:82/app/"},
	"root":    {"http://h1:8080", "http://h2:8080"},
	"odd":     {"HTTP://Odd.Example:80/app", "http://[::1]:8080"},
	"uds":     {"unix:/run/app.sock|http://app.internal/base"},
}

func testNames(balancer string) []string { return testMembers[balancer] }

func rr(path, url string) config.ReverseRule { return config.ReverseRule{Path: path, URL: url} }

func scoped(scope, path, url string) config.ReverseRule {
	return config.ReverseRule{Scope: scope, Path: path, URL: url}
}

func TestReverseMapApply(t *testing.T) {
	const front = "http://front"
	pub := []config.ReverseRule{rr("/pub/", "http://b.example.com/app/")}
	tests := []struct {
		desc    string
		rules   []config.ReverseRule
		value   string
		reqPath string
		origin  string
		want    string // "" means no match
	}{
		{"plain hit", pub, "http://b.example.com/app/x", "", front, "http://front/pub/x"},
		{"prefix equals value", pub, "http://b.example.com/app/", "", front, "http://front/pub/"},
		{"explicit :80", pub, "http://b.example.com:80/app/x", "", front, "http://front/pub/x"},
		{"empty port", pub, "http://b.example.com:/app/x", "", front, "http://front/pub/x"},
		{"other port", pub, "http://b.example.com:8080/app/x", "", front, ""},
		{"explicit :443", []config.ReverseRule{rr("/s/", "https://b/")}, "https://b:443/x", "", front, "http://front/s/x"},
		{":443 is not http's default", []config.ReverseRule{rr("/s/", "http://b/")}, "http://b:443/x", "", front, ""},
		{"scheme differs", []config.ReverseRule{rr("/s/", "https://b/")}, "http://b/x", "", front, ""},
		{"ws default port", []config.ReverseRule{rr("/w/", "ws://b/")}, "WS://b:80/x", "", front, "http://front/w/x"},
		{"rule port matches", []config.ReverseRule{rr("/p/", "http://b:8080/")}, "http://b:8080/x", "", front, "http://front/p/x"},
		{"rule port, header none", []config.ReverseRule{rr("/p/", "http://b:8080/")}, "http://b/x", "", front, ""},
		{"rule port, header other", []config.ReverseRule{rr("/p/", "http://b:8080/")}, "http://b:8081/x", "", front, ""},
		{"uppercase scheme and host", pub, "HTTP://B.Example.COM/app/x", "", front, "http://front/pub/x"},
		{"path is case-sensitive", pub, "http://b.example.com/APP/x", "", front, ""},
		{"query and fragment kept", pub, "http://b.example.com/app/x?a=1&r=http://b.example.com/app/#f", "", front,
			"http://front/pub/x?a=1&r=http://b.example.com/app/#f"},
		{"query right after host", []config.ReverseRule{rr("/pub", "http://b")}, "http://b?x=1", "", front, "http://front/pub?x=1"},
		{"fragment right after host", []config.ReverseRule{rr("/pub", "http://b")}, "http://b#top", "", front, "http://front/pub#top"},
		{"host is not a prefix", []config.ReverseRule{rr("/pub", "http://b")}, "http://b2/x", "", front, ""},
		{"host is not a prefix of a domain", []config.ReverseRule{rr("/pub", "http://b")}, "http://b.evil.example/x", "", front, ""},
		{"userinfo never matches", pub, "http://u@b.example.com/app/x", "", front, ""},
		{"ipv6 with port", []config.ReverseRule{rr("/v6/", "http://[::1]:8080/")}, "http://[::1]:8080/x", "", front, "http://front/v6/x"},
		{"ipv6 without port", []config.ReverseRule{rr("/v6/", "http://[::1]:8080/")}, "http://[::1]/x", "", front, ""},
		{"prefix ends mid-segment, as httpd", []config.ReverseRule{rr("/pub", "http://b/app")}, "http://b/application", "", front,
			"http://front/publication"},
		{"no match", pub, "http://other.example.com/app/x", "", front, ""},
		{"relative value, url rule", pub, "/app/x", "", front, ""},
		{"empty value", pub, "", "", front, ""},
		{"no rules", nil, "http://b.example.com/app/x", "", front, ""},
		{"unusable rule url", []config.ReverseRule{rr("/x", "b.example.com")}, "b.example.com/y", "", front, ""},

		{"path rule, relative value", []config.ReverseRule{rr("/pub/", "/app/")}, "/app/x?q=1", "", front, "http://front/pub/x?q=1"},
		{"path rule, absolute value of any host", []config.ReverseRule{rr("/pub/", "/app/")}, "https://any:9/app/x", "", front,
			"http://front/pub/x"},
		{"path rule, path is case-sensitive", []config.ReverseRule{rr("/pub/", "/app/")}, "/APP/x", "", front, ""},
		{"path rule, no path in value", []config.ReverseRule{rr("/pub/", "/app/")}, "http://b?/app/", "", front, ""},
		{"path rule, :// in a query", []config.ReverseRule{rr("/pub/", "/app/")}, "/x?u=http://h/app/", "", front, ""},

		{"PR 45434", []config.ReverseRule{rr("/pr45434", "balancer://pr45434/alias")},
			"http://host:8080/modules/alias/5.html", "", front, "http://front/pr45434/5.html"},
		{"PR 45434, other urlpart", []config.ReverseRule{rr("/pr45434", "balancer://pr45434/alias")},
			"http://host:8080/modules/other/5.html", "", front, ""},
		{"PR 45434, urlpart is case-sensitive", []config.ReverseRule{rr("/pr45434", "balancer://pr45434/alias")},
			"http://host:8080/modules/ALIAS/5.html", "", front, ""},
		{"PR 45434, member host in upper case", []config.ReverseRule{rr("/pr45434", "balancer://pr45434/alias")},
			"http://HOST:8080/modules/alias/5.html", "", front, "http://front/pr45434/5.html"},
		{"balancer name case", []config.ReverseRule{rr("/pr45434", "BALANCER://PR45434/alias")},
			"http://host:8080/modules/alias/5.html", "", front, "http://front/pr45434/5.html"},
		{"balancer, second member, trailing slash dropped for urlpart", []config.ReverseRule{rr("/s", "balancer://sub/v1")},
			"http://b:82/app/v1/x", "", front, "http://front/s/x"},
		{"balancer, member slash kept without urlpart", []config.ReverseRule{rr("/s/", "balancer://sub")},
			"http://a:81/app/x", "", front, "http://front/s/x"},
		{"balancer, member path must match", []config.ReverseRule{rr("/s/", "balancer://sub")},
			"http://a:81/other/x", "", front, ""},
		{"balancer root, no double slash", []config.ReverseRule{rr("/", "balancer://root/")},
			"http://h2:8080/x?y", "", front, "http://front/x?y"},
		{"balancer root, bare host", []config.ReverseRule{rr("/", "balancer://root")},
			"http://h1:8080", "", front, "http://front/"},
		{"balancer, member not normalized", []config.ReverseRule{rr("/o", "balancer://odd")},
			"http://odd.example/app/x", "", front, "http://front/o/x"},
		{"balancer, ipv6 member", []config.ReverseRule{rr("/o", "balancer://odd")},
			"http://[::1]:8080/x", "", front, "http://front/o/x"},
		{"balancer, ipv6 member, other port", []config.ReverseRule{rr("/o", "balancer://odd")},
			"http://[::1]:8081/x", "", front, ""},
		{"balancer, value host is a prefix of the member's", []config.ReverseRule{rr("/", "balancer://root")},
			"http://h:8080/x", "", front, ""},
		{"balancer, member host is a prefix of the value's", []config.ReverseRule{rr("/", "balancer://root")},
			"http://h1.evil:8080/x", "", front, ""},
		{"balancer, member port differs", []config.ReverseRule{rr("/", "balancer://root")},
			"http://h1:8081/x", "", front, ""},
		{"balancer, member port missing in value", []config.ReverseRule{rr("/", "balancer://root")},
			"http://h1/x", "", front, ""},
		{"balancer, scheme differs", []config.ReverseRule{rr("/", "balancer://root")},
			"https://h1:8080/x", "", front, ""},
		{"balancer, unix socket member named by its URL", []config.ReverseRule{rr("/u/", "balancer://uds/")},
			"http://app.internal/base/login", "", front, "http://front/u/login"},
		{"balancer, unix socket member, other host", []config.ReverseRule{rr("/u/", "balancer://uds/")},
			"http://other.internal/base/login", "", front, ""},
		{"balancer, unknown", []config.ReverseRule{rr("/", "balancer://nope")}, "http://h1:8080/x", "", front, ""},
		{"balancer, relative value", []config.ReverseRule{rr("/", "balancer://root")}, "/x", "", front, ""},
		{"first rule wins (Appendix A)", []config.ReverseRule{
			rr("/rr", "balancer://rr"), rr("/direct/", "http://127.0.0.1:27101/"),
		}, "http://127.0.0.1:27101/target", "", "http://127.0.0.1:27080", "http://127.0.0.1:27080/rr/target"},
		{"first plain rule wins", []config.ReverseRule{rr("/one/", "http://b/"), rr("/two/", "http://b/app/")},
			"http://b/app/x", "", front, "http://front/one/app/x"},

		{"slash dedupe for any rule", []config.ReverseRule{rr("/api/", "http://h1:8080")}, "http://h1:8080/x", "", front,
			"http://front/api/x"},
		{"empty origin stays relative", pub, "http://b.example.com/app/x", "", "", "/pub/x"},
		{"absolute public path", []config.ReverseRule{rr("https://www.example/", "http://b/")}, "http://b/x", "", front,
			"https://www.example/x"},
		{"network path kept under origin", []config.ReverseRule{rr("/", "http://b")}, "http://b//evil.example/x", "", front,
			"http://front//evil.example/x"},
		{"network path collapsed without origin", []config.ReverseRule{rr("/", "http://b")}, "http://b//evil.example/x", "", "",
			"/evil.example/x"},
		{"backslash network path collapsed", []config.ReverseRule{rr("/", "http://b")}, `http://b/\/evil.example/`, "", "",
			"/evil.example/"},

		{"scope equal", []config.ReverseRule{scoped("/loc", "/loc/", "http://b/")}, "http://b/x", "/loc", front, "http://front/loc/x"},
		{"scope below", []config.ReverseRule{scoped("/loc", "/loc/", "http://b/")}, "http://b/x", "/loc/a", front, "http://front/loc/x"},
		{"scope not at a boundary", []config.ReverseRule{scoped("/loc", "/loc/", "http://b/")}, "http://b/x", "/locx", front, ""},
		{"regexp scope", []config.ReverseRule{{Scope: "/loc/", ScopeMatch: true, Path: "/loc/", URL: "http://b/"}},
			"http://b/x", "/a/loc/b", front, "http://front/loc/x"},
		{"regexp scope elsewhere", []config.ReverseRule{{Scope: "^/loc/", ScopeMatch: true, Path: "/loc/", URL: "http://b/"}},
			"http://b/x", "/a/loc/b", front, ""},
		{"scope elsewhere", []config.ReverseRule{scoped("/loc", "/loc/", "http://b/")}, "http://b/x", "/other", front, ""},
		{"scope with slash needs it", []config.ReverseRule{scoped("/loc/", "/loc/", "http://b/")}, "http://b/x", "/loc", front, ""},
		{"scope with slash", []config.ReverseRule{scoped("/loc/", "/loc/", "http://b/")}, "http://b/x", "/loc/a", front,
			"http://front/loc/x"},
		{"server rules before location rules", []config.ReverseRule{
			scoped("/a", "/scoped/", "http://b/"), rr("/server/", "http://b/"),
		}, "http://b/x", "/a/y", front, "http://front/server/x"},
		{"location rules in config order", []config.ReverseRule{
			scoped("/a", "/first/", "http://b/"), scoped("/a/b", "/second/", "http://b/"),
		}, "http://b/x", "/a/b", front, "http://front/first/x"},
		{"out-of-scope rule skipped", []config.ReverseRule{
			scoped("/z", "/z/", "http://b/"), scoped("/a", "/a/", "http://b/"),
		}, "http://b/x", "/a", front, "http://front/a/x"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m := NewReverseMap(tc.rules, testNames)
			dst := []byte("kept|")
			got, ok := m.Apply(dst, []byte(tc.value), []byte(tc.reqPath), []byte(tc.origin))
			if tc.want == "" {
				if ok || string(got) != "kept|" {
					t.Fatalf("Apply(%q) = %q, %v; want no match", tc.value, got, ok)
				}
				return
			}
			if !ok || string(got) != "kept|"+tc.want {
				t.Fatalf("Apply(%q) = %q, %v; want %q", tc.value, got, ok, "kept|"+tc.want)
			}
		})
	}
}

func TestReverseMapNilMembers(t *testing.T) {
	m := NewReverseMap([]config.ReverseRule{rr("/", "balancer://root"), rr("/b/", "http://h1:8080/")}, nil)
	got, ok := m.Apply(nil, []byte("http://h1:8080/x"), nil, nil)
	if !ok || string(got) != "/b/x" {
		t.Fatalf("Apply = %q, %v; want /b/x", got, ok)
	}
}

func TestReverseMapEmpty(t *testing.T) {
	if !NewReverseMap(nil, nil).Empty() {
		t.Fatal("map without rules is not Empty")
	}
	if NewReverseMap([]config.ReverseRule{rr("/", "http://b/")}, nil).Empty() {
		t.Fatal("map with a rule is Empty")
	}
}

func TestReverseMapDoesNotModifyInput(t *testing.T) {
	m := NewReverseMap([]config.ReverseRule{rr("/", "http://b")}, nil)
	value := []byte("http://b//evil/x")
	got, ok := m.Apply(make([]byte, 0, 64), value, nil, nil)
	if !ok || string(got) != "/evil/x" || string(value) != "http://b//evil/x" {
		t.Fatalf("Apply = %q, %v; value now %q", got, ok, value)
	}
}
