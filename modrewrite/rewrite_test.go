package modrewrite

import (
	cryptotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

type condSpec struct{ test, pattern, flags string }

func compile(t *testing.T, pattern, subst, flags string, conds ...condSpec) *Rule {
	t.Helper()
	var cs []*Cond
	for _, c := range conds {
		cc, err := CompileCond(c.test, c.pattern, c.flags)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, cc)
	}
	r, err := CompileRule(pattern, subst, flags, cs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func request(path, query string, header ...string) *Request {
	h := &fasthttp.RequestHeader{}
	h.SetHost("front.example.com")
	for i := 0; i+1 < len(header); i += 2 {
		h.Add(header[i], header[i+1])
	}
	return &Request{Method: []byte("GET"), Path: []byte(path), RawPath: []byte(path), Query: []byte(query),
		Host: []byte("front.example.com"), Header: h}
}

func run(rules []*Rule, r *Request) *State {
	st := &State{}
	st.Reset(r.Path, r.Query)
	NewRules(rules).Apply(st, r)
	st.Finish(r.Host, r.HTTPS)
	return st
}

// TestRules follows the examples of Apache's mod_rewrite and flags docs.
func TestRules(t *testing.T) {
	ws := condSpec{"%{HTTP:Upgrade}", "=websocket", "NC"}
	cases := []struct {
		name   string
		rules  []*Rule
		req    *Request
		action Action
		status int
		path   string // Path after the rules (the [P] target path)
		query  string
		loc    string
	}{
		{"P to a balancer with $1", []*Rule{compile(t, "/(.*)", "balancer://nodes_ws/$1", "P,L", ws)},
			request("/socket.io/", "EIO=4", "Upgrade", "WebSocket"), Proxy, 0, "/socket.io/", "EIO=4", ""},
		{"negated =string", []*Rule{compile(t, "/(.*)", "balancer://a/$1", "P,L", ws),
			compile(t, "/(.*)", "balancer://b/$1", "P,L", condSpec{"%{HTTP:Upgrade}", "!=websocket", "NC"})},
			request("/x", ""), Proxy, 0, "/x", "", ""},
		{"balancer name runs into $1", []*Rule{compile(t, "^(.*)", "balancer://galaxy$1", "P")},
			request("/a/b", "q=1"), Proxy, 0, "/a/b", "q=1", ""},
		{"origin with a variable", []*Rule{compile(t, ".*", "http://127.0.0.1:8181%{REQUEST_URI}", "P,QSA,NE",
			condSpec{"%{REQUEST_URI}", "^/api/v3/.*", ""})}, request("/api/v3/x", "a=1"), Proxy, 0, "/api/v3/x", "a=1", ""},
		{"condition fails", []*Rule{compile(t, ".*", "http://h%{REQUEST_URI}", "P", condSpec{"%{REQUEST_URI}", "^/api/", ""})},
			request("/web", ""), Continue, 0, "/web", "", ""},
		{"OR chain", []*Rule{compile(t, ".*", "ws://h%{REQUEST_URI}", "P,QSA,L",
			condSpec{"%{REQUEST_URI}", "/api/v[0-9]+/(users/)?websocket", "NC"},
			condSpec{"%{HTTP:UPGRADE}", "^WebSocket$", "NC,OR"},
			condSpec{"%{HTTP:CONNECTION}", "^Upgrade$", "NC"})},
			request("/api/v4/websocket", "", "Connection", "upgrade"), Proxy, 0, "/api/v4/websocket", "", ""},
		{"OR chain, URI fails", []*Rule{compile(t, ".*", "ws://h%{REQUEST_URI}", "P",
			condSpec{"%{REQUEST_URI}", "/websocket", ""},
			condSpec{"%{HTTP:UPGRADE}", "^WebSocket$", "NC,OR"},
			condSpec{"%{HTTP:CONNECTION}", "^Upgrade$", "NC"})},
			request("/login", "", "Upgrade", "websocket"), Continue, 0, "/login", "", ""},
		{"R=301 with QSA", []*Rule{compile(t, "^/old/(.*)$", "/new/$1?x=1", "R=301,QSA,L")},
			request("/old/a b", "y=2"), Redirect, 301, "/new/a b", "x=1&y=2", "http://front.example.com/new/a%20b?x=1&y=2"},
		{"R to an absolute URL with NE", []*Rule{compile(t, "^", "https://cookops.example%{REQUEST_URI}", "R=301,L,NE")},
			request("/p%x", "q"), Redirect, 301, "", "q", "https://cookops.example/p%x?q"},
		{"R escapes the query it makes", []*Rule{compile(t, "^/s/(.*)$", "/q?s=$1", "R")},
			request("/s/a\"<é>#", ""), Redirect, 302, "", "s=a\"<é>#", "http://front.example.com/q?s=a%22%3C%C3%A9%3E%23"},
		{"R escapes a query with QSA whole", []*Rule{compile(t, "^/a$", "/b?k=v", "R,QSA")},
			request("/a", "x=%20"), Redirect, 302, "", "k=v&x=%20", "http://front.example.com/b?k=v&x=%2520"},
		{"R keeps the client's query as it came", []*Rule{compile(t, "^/a$", "/b", "R")},
			request("/a", "x=%20y"), Redirect, 302, "", "x=%20y", "http://front.example.com/b?x=%20y"},
		{"absolute URL without R redirects 302", []*Rule{compile(t, "^/ext$", "http://other.example/", "")},
			request("/ext", ""), Redirect, 302, "", "", "http://other.example/"},
		{"query replaced without QSA", []*Rule{compile(t, "^/a$", "/b?k=v", "PT")},
			request("/a", "old=1"), Continue, 0, "/b", "k=v", ""},
		{"trailing ? drops the query", []*Rule{compile(t, "^/a$", "/b?", "PT")},
			request("/a", "old=1"), Continue, 0, "/b", "", ""},
		{"QSD", []*Rule{compile(t, "^/a$", "/b", "QSD")}, request("/a", "old=1"), Continue, 0, "/b", "", ""},
		{"QSD wins over QSA", []*Rule{compile(t, "^/a$", "/b?k=v", "QSA,QSD")}, request("/a", "old=1"), Continue, 0, "/b", "k=v", ""},
		{"? with QSA and QSD", []*Rule{compile(t, "^/a$", "/b?", "QSA,QSD")}, request("/a", "old=1"), Continue, 0, "/b", "", ""},
		{"%N from the condition", []*Rule{compile(t, "^/item$", "/items/%1?", "PT", condSpec{"%{QUERY_STRING}", "^id=([0-9]+)$", ""})},
			request("/item", "id=7"), Continue, 0, "/items/7", "", ""},
		{"rules chain without L", []*Rule{compile(t, "^/a(.*)", "/b$1", ""), compile(t, "^/b(.*)", "http://h/c$1", "P")},
			request("/a/x", ""), Proxy, 0, "/c/x", "", ""},
		{"L stops", []*Rule{compile(t, "^/a(.*)", "/b$1", "L"), compile(t, "^/b(.*)", "http://h/c$1", "P")},
			request("/a/x", ""), Continue, 0, "/b/x", "", ""},
		{"F", []*Rule{compile(t, "^/admin", "-", "F")}, request("/admin/x", ""), Respond, 403, "/admin/x", "", ""},
		{"G with NC", []*Rule{compile(t, "^/OLD", "-", "G,NC")}, request("/old", ""), Respond, 410, "/old", "", ""},
		{"negated pattern", []*Rule{compile(t, "!^/keep", "-", "F")}, request("/other", ""), Respond, 403, "/other", "", ""},
		{"%3F in the path under P", []*Rule{compile(t, "/(.*)", "balancer://b/$1", "P")},
			func() *Request { r := request("/a?b", ""); r.RawPath = []byte("/a%3Fb"); return r }(), Respond, 403, "/a?b", "", ""},
		{"%3F allowed by UnsafeAllow3F", []*Rule{compile(t, "/(.*)", "balancer://b/$1", "P,UnsafeAllow3F")},
			func() *Request { r := request("/a?b", ""); r.RawPath = []byte("/a%3Fb"); return r }(), Proxy, 0, "/a", "b", ""},
		{"a back-reference cannot extend the host", []*Rule{compile(t, "^/(.*)", "http://h.example$1", "P")},
			request("/.evil.example/x", ""), Respond, 503, "http://h.example.evil.example/x", "", ""},
		{"a space in the rewritten query", []*Rule{compile(t, "^/s/(.*)$", "http://h/q?s=$1", "P")},
			request("/s/a HTTP/1.1", ""), Respond, 403, "/q", "s=a HTTP/1.1", ""},
		{"a control byte in a redirect's query", []*Rule{compile(t, "^/s/(.*)$", "/q?s=$1", "R")},
			request("/s/a\x01", ""), Respond, 403, "/q", "s=a\x01", ""},
		{"=\"\" tests the empty string", []*Rule{compile(t, ".*", "-", "F", condSpec{"%{HTTP_REFERER}", `=""`, ""})},
			request("/x", ""), Respond, 403, "/x", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := run(c.rules, c.req)
			if st.Action != c.action || st.Status != c.status {
				t.Fatalf("action %d status %d, want %d %d", st.Action, st.Status, c.action, c.status)
			}
			if c.action != Redirect && string(st.Path) != c.path {
				t.Errorf("path %q, want %q", st.Path, c.path)
			}
			if c.action != Respond && string(st.Query) != c.query {
				t.Errorf("query %q, want %q", st.Query, c.query)
			}
			if string(st.Location) != c.loc {
				t.Errorf("location %q, want %q", st.Location, c.loc)
			}
		})
	}
}

// TestEnvFlag: [E=VAR:VAL] records VAL, expanded with the rule's and the
// last condition's groups, for every rule that matched, "-" and [F] ones
// included; [E=VAR] an empty value, [E=!VAR] an unset. A rule that did
// not match records nothing.
func TestEnvFlag(t *testing.T) {
	rules := []*Rule{
		compile(t, "^/api/(v[0-9]+)/", "-", "E=API_VERSION:$1,E=ORIGIN:%1,E=SEEN", condSpec{"%{HTTP:Origin}", "^https://(.+)$", ""}),
		compile(t, "^/nomatch", "-", "E=NEVER:1"),
		compile(t, "^/api/v1/old", "-", "E=!SEEN,F"),
	}
	r := request("/api/v1/old", "", "Origin", "https://app.example")
	st := run(rules, r)
	if st.Action != Respond || st.Status != 403 {
		t.Fatalf("action %v %d, want [F]'s 403", st.Action, st.Status)
	}
	var got []string
	for _, a := range st.Env {
		name := a.Rule.EnvNames()[a.I]
		if a.Unset {
			got = append(got, "!"+name)
		} else {
			got = append(got, name+"="+string(a.Value))
		}
	}
	want := []string{"API_VERSION=v1", "ORIGIN=app.example", "SEEN=", "!SEEN"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("env %q, want %q", got, want)
	}
	if st := run(rules, request("/other", "")); len(st.Env) != 0 {
		t.Errorf("a request no rule matched recorded %d assignments", len(st.Env))
	}

	// %{ENV:NAME} reads what an earlier [E=] set in this request; unset or
	// never set, it reads empty.
	rules = []*Rule{
		compile(t, "^/(v[0-9]+)/", "-", "E=VER:$1"),
		compile(t, "^/v0/", "-", "E=!VER"),
		compile(t, "^/(.*)$", "/api/%{ENV:VER}/$1[%{ENV:NONE}]", "L", condSpec{"%{ENV:VER}", "^v", ""}),
	}
	for path, want := range map[string]string{"/v2/x": "/api/v2/v2/x[]", "/v0/x": "/v0/x", "/x": "/x"} {
		if st := run(rules, request(path, "")); string(st.Path) != want {
			t.Errorf("%s: rewritten to %q, want %q", path, st.Path, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	rules := []struct{ pattern, subst, flags, want string }{
		{"(", "/x", "", "cannot compile regex"},
		{"^/", "/x", "CO=a:b", "not supported"},
		{"^/", "/x", "E", "must be E=VAR:VAL"},
		{"^/", "/x", "E=:1", "must be E=VAR:VAL"},
		{"^/", "/x", "E=!X:1", "must be E=VAR:VAL"},
		{"^/", "/x", "E=A B:1", "must be E=VAR:VAL"},
		{"^/", "/x", "E=X:%{NOPE}", "not supported"},
		{"^/", "/x", "bogus", "unknown RewriteRule flag"},
		{"^/", "${map:x}", "", "RewriteMap"},
		{"^/", "%{NOPE}", "", "not supported"},
		{"^/", "%{SSL:SSL_NOPE}", "", `SSL variable "SSL_NOPE" is not supported`},
		{"^/", "-", "P", "needs a substitution"},
		{"^/", "/relative", "P", "literal scheme://host"},
		{"^/", "%{HTTP_HOST}/x", "P", "literal scheme://host"},
		{"^/", "ftp://h/", "P", `scheme "ftp"`},
		{"^/", "/x", "R=200", "between 300 and 599"},
		{"^/", "http://h/", "P,R", "cannot be combined"},
	}
	for _, c := range rules {
		if _, err := CompileRule(c.pattern, c.subst, c.flags, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("RewriteRule %s %s [%s]: %v, want %q", c.pattern, c.subst, c.flags, err, c.want)
		}
	}
	conds := []struct{ test, pattern, flags, want string }{
		{"%{HTTP_HOST}", "-U", "", "not supported"},
		{"%{HTTP_HOST}", "-eq", "", "not supported"},
		{"%{HTTP_HOST}", "x", "bogus", "flag"},
		{"%{HTTP_HOST", "x", "", "unclosed"},
	}
	for _, c := range conds {
		if _, err := CompileCond(c.test, c.pattern, c.flags); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("RewriteCond %s %s [%s]: %v, want %q", c.test, c.pattern, c.flags, err, c.want)
		}
	}
}

// Every server variable reads its part of the request (%{HTTPS} and
// %{REQUEST_SCHEME} both ways).
func TestVariables(t *testing.T) {
	r := request("/a b", "q=1", "Accept", "text/html", "Cookie", "c=1", "Forwarded", "for=192.0.2.1",
		"Proxy-Connection", "keep-alive", "Referer", "http://r.example/", "User-Agent", "ua/1", "X-Any", "v")
	r.Method = []byte("PUT")
	r.ServerName, r.ServerPort, r.RemoteAddr, r.DocumentRoot = "www.example.com", []byte("8080"), []byte("192.0.2.7"), "/srv/www"
	tls := *r
	tls.HTTPS = true
	client := &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}}
	var err error
	if client.RawSubject, err = asn1.Marshal(client.Subject.ToRDNSequence()); err != nil { // what mod_ssl's names are read from
		t.Fatal(err)
	}
	tls.TLS = &cryptotls.ConnectionState{Version: cryptotls.VersionTLS13, PeerCertificates: []*x509.Certificate{client},
		VerifiedChains: [][]*x509.Certificate{{client}}}
	for _, c := range []struct {
		name string
		req  *Request
		want string
	}{
		{"REQUEST_URI", r, "/a b"}, {"REQUEST_FILENAME", r, "/a b"}, {"QUERY_STRING", r, "q=1"},
		{"REQUEST_METHOD", r, "PUT"}, {"REQUEST_SCHEME", r, "http"}, {"REQUEST_SCHEME", &tls, "https"},
		{"HTTPS", r, "off"}, {"HTTPS", &tls, "on"}, {"HTTP_HOST", r, "front.example.com"},
		{"SERVER_NAME", r, "www.example.com"}, {"SERVER_PORT", r, "8080"}, {"REMOTE_ADDR", r, "192.0.2.7"},
		{"DOCUMENT_ROOT", r, "/srv/www"}, {"HTTP_ACCEPT", r, "text/html"}, {"HTTP_COOKIE", r, "c=1"},
		{"HTTP_FORWARDED", r, "for=192.0.2.1"}, {"HTTP_PROXY_CONNECTION", r, "keep-alive"},
		{"HTTP_REFERER", r, "http://r.example/"}, {"HTTP_USER_AGENT", r, "ua/1"}, {"HTTP:X-Any", r, "v"},
		{"http:x-any", r, "v"}, {"HTTP:X-None", r, ""}, {"request_method", r, "PUT"},
		{"SSL:SSL_CLIENT_VERIFY", &tls, "SUCCESS"}, {"SSL:SSL_CLIENT_S_DN_CN", &tls, "alice"},
		{"SSL:SSL_PROTOCOL", &tls, "TLSv1.3"}, {"SSL_CLIENT_S_DN", &tls, "CN=alice"},
		{"SSL:SSL_CLIENT_VERIFY", r, ""}, {"SSL:HTTPS", r, "off"},
	} {
		rule := compile(t, ".*", "-", "F", condSpec{"%{" + c.name + "}", "=" + c.want, ""})
		if c.want == "" {
			rule = compile(t, ".*", "-", "F", condSpec{"%{" + c.name + "}", `=""`, ""})
		}
		if st := run([]*Rule{rule}, c.req); st.Action != Respond {
			t.Errorf("%%{%s} is not %q", c.name, c.want)
		}
	}
}

// The lexicographic CondPatterns order as mod_rewrite's <, >, <= and >=
// do: the shorter string first, bytes at equal lengths; with NC, strcasecmp
// (ASCII letters folded, then bytes, a prefix first). Before the ninth
// session <= and >= were taken for regular expressions; before the tenth
// the order was plain bytes, so ">1000" held for "999", and NC folded
// Unicode, so two different invalid UTF-8 bytes compared equal.
func TestLexicographicConds(t *testing.T) {
	for _, c := range []struct {
		test, pattern, flags string
		want                 bool
	}{
		{"b", "<c", "", true}, {"c", "<c", "", false}, {"d", "<c", "", false},
		{"b", ">c", "", false}, {"c", ">c", "", false}, {"d", ">c", "", true},
		{"b", "<=c", "", true}, {"c", "<=c", "", true}, {"d", "<=c", "", false},
		{"b", ">=c", "", false}, {"c", ">=c", "", true}, {"d", ">=c", "", true},
		{"2100", ">=2000", "", true}, {"0930", "<=0800", "", false},
		{"B", "<c", "", true}, {"B", "<c", "NC", true}, {"b", "<C", "", false}, {"b", "<=B", "NC", true},
		{"c", "!<=c", "", false}, {"d", "!>=c", "", false},
		{"999", ">1000", "", false}, {"20000", ">1000", "", true}, {"aa", "<b", "", false}, {"b", "<aa", "", true},
		{"aa", "<B", "NC", true}, {"B", "<aa", "NC", false}, {"ab", ">=A", "NC", true}, {"a", "<AB", "NC", true},
		{"\xfe", "<\xff", "NC", true}, {"\xff", "<\xfe", "NC", false}, {"\xc3\xa9", "=\xc3\x89", "NC", false},
		{"K", "=\u212a", "NC", false}, {"Web", "=wEB", "NC", true}, {"We", "=wEB", "NC", false},
	} {
		r := compile(t, ".*", "-", "F", condSpec{"%{HTTP:X-V}", c.pattern, c.flags})
		st := run([]*Rule{r}, request("/", "", "X-V", c.test))
		if got := st.Action == Respond; got != c.want {
			t.Errorf("%q against %s [%s]: %v, want %v", c.test, c.pattern, c.flags, got, c.want)
		}
	}
}

// -lt, -le, -eq, -ne, -gt and -ge compare integers as C's atoi reads them
// (Apache 2.4's integer tests): leading blanks and a sign, digits up to the
// first other byte, none read as 0; !-ne is -eq.
func TestIntegerConds(t *testing.T) {
	for _, c := range []struct {
		test, pattern string
		want          bool
	}{
		{"999", "-lt1000", true}, {"1000", "-lt1000", false}, {"1000", "-le1000", true},
		{"1000", "-eq1000", true}, {"1000", "-ne1000", false}, {"7", "-ne1000", true}, {"1000", "!-ne1000", true},
		{"20000", "-gt1000", true}, {"1000", "-ge1000", true}, {"999", "-ge1000", false},
		{" +12abc", "-eq12", true}, {"-5", "-lt0", true}, {"", "-eq0", true}, {"x", "-eq0", true},
		{"12", "-eq12.9", true}, {"3", "!-gt2", false},
		// atoi keeps the low 32 bits of strtol's saturated 64-bit value.
		{"4294967297", "-eq1", true}, {"99999999999999999999", "-eq-1", true}, {"-99999999999999999999", "-eq0", true},
	} {
		r := compile(t, ".*", "-", "F", condSpec{"%{HTTP:X-V}", c.pattern, ""})
		st := run([]*Rule{r}, request("/", "", "X-V", c.test))
		if got := st.Action == Respond; got != c.want {
			t.Errorf("%q against %s: %v, want %v", c.test, c.pattern, got, c.want)
		}
	}
	for _, bad := range []string{"-lt", "-U", "-ne"} {
		if _, err := CompileCond("%{HTTP_HOST}", bad, ""); err == nil {
			t.Errorf("CondPattern %q compiled", bad)
		}
	}
}

// -l (also -L, -h) holds for a symbolic link, -x for anything with an
// execute bit, on the local filesystem as in mod_rewrite.
func TestLinkAndExecConds(t *testing.T) {
	dir := t.TempDir()
	plain, script, link := filepath.Join(dir, "plain"), filepath.Join(dir, "script"), filepath.Join(dir, "link")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(plain, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, pattern string
		want          bool
	}{
		{link, "-l", true}, {link, "-L", true}, {link, "-h", true}, {plain, "-l", false}, {filepath.Join(dir, "none"), "-l", false},
		{script, "-x", true}, {plain, "-x", false}, {dir, "-x", true}, {link, "!-x", true},
		{link, "-f", true}, // -f follows the link
	} {
		r := compile(t, ".*", "-", "F", condSpec{"%{HTTP:X-V}", c.pattern, ""})
		st := run([]*Rule{r}, request("/", "", "X-V", c.name))
		if got := st.Action == Respond; got != c.want {
			t.Errorf("%s %s: %v, want %v", c.name, c.pattern, got, c.want)
		}
	}
}

func TestFileTest(t *testing.T) {
	dir := t.TempDir()
	r := compile(t, ".*", "http://h%{REQUEST_URI}", "P", condSpec{"%{DOCUMENT_ROOT}/%{REQUEST_FILENAME}", "!-f", ""})
	req := request("/missing", "")
	req.DocumentRoot = dir
	if st := run([]*Rule{r}, req); st.Action != Proxy {
		t.Errorf("missing file: action %d", st.Action)
	}
	if err := os.WriteFile(filepath.Join(dir, "robots.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	req.Path = []byte("/robots.txt")
	if st := run([]*Rule{r}, req); st.Action != Continue {
		t.Errorf("an existing file is served locally: action %d", st.Action)
	}
}

func TestAppendPath(t *testing.T) {
	for _, c := range []struct {
		in   string
		ne   bool
		want string
	}{
		{"/a b/%/ü", false, "/a%20b/%25/%C3%BC"},
		{"/a b/%41", true, "/a%20b/%41"},
		{"/x;y=1:@!", false, "/x;y=1:@!"},
	} {
		if got := string(AppendPath(nil, []byte(c.in), c.ne)); got != c.want {
			t.Errorf("AppendPath(%q, %v) = %q, want %q", c.in, c.ne, got, c.want)
		}
	}
}
