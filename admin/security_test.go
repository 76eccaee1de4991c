package admin

import (
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

// TestPreconditions is ADM-06: every write needs a current If-Match.
func TestPreconditions(t *testing.T) {
	f := newFixture(t, nil)
	if r := f.do("PATCH", b1, `{"lbset":1}`); r.status != 428 {
		t.Errorf("no If-Match: %d", r.status)
	}
	old := f.etag(b1)
	f.write("PATCH", b1, b1, `{"lbset":1}`)
	r := f.do("PATCH", b1, `{"lbset":2}`, "If-Match", old)
	if r.status != 412 || r.header["Etag"] != f.etag(b1) || f.member(0).LBSet != 1 {
		t.Errorf("stale If-Match: %d %v lbset %d", r.status, r.header, f.member(0).LBSet)
	}
	if r := f.do("PATCH", b1, `{"lbset":2}`, "If-Match", `"x", `+f.etag(b1)); r.status != 200 {
		t.Errorf("list with the current ETag: %d", r.status)
	}
	if r := f.do("PATCH", b1, `{"lbset":3}`, "If-Match", "*"); r.status != 200 {
		t.Errorf("If-Match *: %d", r.status)
	}
	// A flag change by another admin makes the old ETag stale too.
	tag := f.etag(b1)
	f.write("PATCH", b1, b1, `{"status":"+D"}`)
	if r := f.do("PATCH", b1, `{"status":"-D"}`, "If-Match", tag); r.status != 412 {
		t.Errorf("stale after a flag change: %d", r.status)
	}
	// POST uses the balancer's ETag, DELETE the member's.
	if r := f.do("POST", add, `{"url":"http://b3"}`, "If-Match", tag); r.status != 412 {
		t.Errorf("POST with a member ETag: %d", r.status)
	}
	if r := f.do("DELETE", b1, "", "If-Match", f.etag(app)); r.status != 412 {
		t.Errorf("DELETE with the balancer ETag: %d", r.status)
	}
}

// TestGetChangesNothing: a GET with change parameters is only a read.
func TestGetChangesNothing(t *testing.T) {
	f := newFixture(t, nil)
	tag := f.etag(b1)
	f.do("GET", b1+"?loadfactor=5&w_lf=5&status=%2BD", "")
	f.do("HEAD", b1, "")
	if f.etag(b1) != tag || f.member(0).LBFactor != 100 || !f.member(0).State.Usable() {
		t.Error("a GET changed the member")
	}
}

// TestCrossSite is ADM-02.
func TestCrossSite(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"other origin", []string{"Origin", "http://evil.example"}, 403},
		{"other port", []string{"Origin", "http://127.0.0.1:9091"}, 403},
		{"https origin on http", []string{"Origin", "https://127.0.0.1:9090"}, 403},
		{"null origin", []string{"Origin", "null"}, 403},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same-site fetch", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"no-cors", []string{"Sec-Fetch-Mode", "no-cors"}, 403},
		{"same origin", []string{"Origin", "http://127.0.0.1:9090", "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors"}, 200},
		{"no browser headers", nil, 200},
	}
	for _, c := range cases {
		r := f.write("PATCH", b1, b1, `{"lbset":1}`, c.hdr...)
		if r.status != c.status {
			t.Errorf("%s: %d, want %d", c.name, r.status, c.status)
		}
	}
	// A form post cannot send JSON without a CORS preflight.
	if r := f.do("PATCH", b1, `lbset=1`, "If-Match", "*", "Content-Type", "application/x-www-form-urlencoded"); r.status != 415 {
		t.Errorf("form body: %d", r.status)
	}
	if r := f.do("GET", list, "", "Upgrade", "websocket", "Connection", "Upgrade"); r.status != 400 {
		t.Errorf("websocket upgrade: %d", r.status)
	}
}

// TestHosts is the DNS rebinding defence.
func TestHosts(t *testing.T) {
	f := newFixture(t, nil)
	// A wildcard ServerAlias matches as in the vhosts' selection; one that
	// would admit any name ("*", "*.com", "www.*") admits none.
	f.sc.Hosts = []string{"admin.example.com", "*.example.org", "*", "*.com", "www.*"}
	for host, want := range map[string]int{
		"127.0.0.1:9090": 200, "localhost:9090": 200, "[::1]:9090": 200, "10.1.2.3": 200, "admin.example.com:9090": 200,
		"ADMIN.example.com.": 200, "evil.example:9090": 403, "127.0.0.1.nip.io:9090": 403, "": 403, "[evil": 403,
		"www.Example.org:8080": 200, "a.b.example.org": 200, "example.org": 403, "www.example.org.evil": 403,
		"rebind.attacker.com": 403, "www.attacker.net": 403,
	} {
		f.host = host
		if r := f.do("GET", list, ""); r.status != want {
			t.Errorf("Host %q: %d, want %d", host, r.status, want)
		}
	}
}

// TestToken is ADM-08.
func TestToken(t *testing.T) {
	f := newFixture(t, nil)
	f.sc.Token = "s3cret"
	if r := f.do("GET", list, ""); r.status != 401 || !strings.HasPrefix(r.header["Www-Authenticate"], "Bearer") {
		t.Errorf("no token: %d %v", r.status, r.header)
	}
	if r := f.do("GET", list, "", "Authorization", "Bearer s3cret"); r.status != 200 {
		t.Errorf("right token: %d", r.status)
	}
	// RFC 9110 §11.1: the scheme is case-insensitive; 1*SP before the token.
	for _, auth := range []string{"bearer s3cret", "BEARER   s3cret"} {
		if r := f.do("GET", list, "", "Authorization", auth); r.status != 200 {
			t.Errorf("Authorization: %s: %d", auth, r.status)
		}
	}
	for _, auth := range []string{"Bearers3cret", "Basic s3cret", "Bearer ", "Bearer"} {
		if r := f.do("GET", list, "", "Authorization", auth); r.status != 401 || !strings.Contains(r.body, "needs Authorization") {
			t.Errorf("Authorization: %s: %d %s", auth, r.status, r.body)
		}
	}
	// The page loads without one; the API it calls asks for it.
	if r := f.do("GET", "/", ""); r.status != 200 {
		t.Errorf("page: %d", r.status)
	}
	if r := f.do("GET", list+"?token=s3cret", ""); r.status != 400 || !strings.Contains(r.body, "never in the URL") {
		t.Errorf("token in the URL: %d %s", r.status, r.body)
	}
	r := f.do("PATCH", b1, `{"lbset":4}`, "If-Match", "*", "Authorization", "Bearer s3cret")
	if r.status != 200 || !strings.Contains(f.logs.String(), "who="+TokenID("s3cret")) || strings.Contains(f.logs.String(), "s3cret") {
		t.Errorf("audit by token id: %d\n%s", r.status, f.logs)
	}
	// Wrong tokens are limited: past ten, even the right one waits.
	for range 10 {
		if r := f.do("GET", list, "", "Authorization", "Bearer guess"); r.status != 401 {
			t.Fatalf("wrong token: %d", r.status)
		}
	}
	if r := f.do("GET", list, "", "Authorization", "Bearer s3cret"); r.status != 429 || r.header["Retry-After"] == "" {
		t.Errorf("after ten wrong tokens: %d", r.status)
	}
}

// TestRequire enforces a manager location's Require lines.
func TestRequire(t *testing.T) {
	f := newFixture(t, nil)
	f.a.opts.Resolver = fakeResolver{
		reverse: map[string][]string{"10.0.0.7": {"ops1.admin.example.com."}, "10.0.0.8": {"spoof.admin.example.com."}},
		forward: map[string][]string{"ops1.admin.example.com": {"10.0.0.7"}, "spoof.admin.example.com": {"10.9.9.9"}},
	}
	f.sc.Location, f.sc.Prefix = true, "/balancer-manager"
	cases := []struct {
		require []string
		peer    string
		want    int
	}{
		{nil, "127.0.0.1:1", 200},
		{nil, "10.0.0.7:1", 403},
		{[]string{"ip 10.0.0.0/8"}, "10.0.0.7:1", 200},
		{[]string{"ip 10.0"}, "10.0.3.4:1", 200},
		{[]string{"ip 10.0.0.0/255.255.255.0"}, "10.0.1.1:1", 403},
		{[]string{"ip 192.168.1.1 ::1"}, "[::1]:1", 200},
		{[]string{"ip 192.168.1.1"}, "192.168.1.2:1", 403},
		{[]string{"host admin.example.com"}, "10.0.0.7:1", 200},
		{[]string{"host admin.example.com"}, "10.0.0.8:1", 403}, // forward lookup disagrees
		{[]string{"host other.example"}, "10.0.0.7:1", 403},
		{[]string{"local"}, "127.0.0.2:1", 200},
		{[]string{"all denied"}, "127.0.0.1:1", 403},
		{[]string{"all granted"}, "203.0.113.9:1", 200},
		{[]string{"ip 192.168.0.0/16", "local"}, "127.0.0.1:1", 200},
	}
	for _, c := range cases {
		f.sc.Require, f.peer = c.require, c.peer
		if r := f.do("GET", "/balancer-manager/api/balancers", ""); r.status != c.want {
			t.Errorf("%v from %s: %d, want %d", c.require, c.peer, r.status, c.want)
		}
	}
	f.sc.Require, f.peer = []string{"all granted"}, "127.0.0.1:1"
	if r := f.do("GET", "/balancer-manager", ""); r.status != 301 || r.header["Location"] == "" {
		t.Errorf("bare location: %d %v", r.status, r.header)
	}
	if r := f.do("GET", "/balancer-manager/", ""); r.status != 200 || !strings.Contains(r.body, "<title>") {
		t.Errorf("page: %d", r.status)
	}
}

func TestMethods(t *testing.T) {
	f := newFixture(t, nil)
	for _, c := range []struct{ method, uri, allow string }{
		{"POST", list, "GET, HEAD"},
		{"PUT", app, "GET, HEAD, PATCH"},
		{"DELETE", app, "GET, HEAD, PATCH"},
		{"PATCH", add, "GET, HEAD, POST"},
		{"POST", b1, "GET, HEAD, PATCH, DELETE"},
		{"POST", "/", "GET, HEAD"},
	} {
		r := f.do(c.method, c.uri, "")
		if r.status != 405 || r.header["Allow"] != c.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 %q", c.method, c.uri, r.status, r.header["Allow"], c.allow)
		}
	}
}

// TestLocked: nonce=None makes a balancer unmanageable, as in Apache.
func TestLocked(t *testing.T) {
	f := newFixture(t, func(b *config.Balancer) { b.Nonce = "None" })
	if r := f.write("PATCH", b1, b1, `{"lbset":1}`); r.status != 403 || !strings.Contains(r.body, "nonce=None") {
		t.Errorf("%d %s", r.status, r.body)
	}
	if r := f.do("GET", app, ""); r.status != 200 || !strings.Contains(r.body, `"locked": true`) {
		t.Errorf("%d %s", r.status, r.body)
	}
}

// TestEscaping is ADM-03: hostile names reach the page only as JSON, with
// HTML's special characters escaped, and the page inserts them as text.
func TestEscaping(t *testing.T) {
	f := newFixture(t, nil)
	f.write("PATCH", b1, b1, `{"route":"\"><script>alert(1)</script>"}`)
	r := f.do("GET", list, "")
	if strings.Contains(r.body, "<script>") || !strings.Contains(r.body, `\u003cscript\u003e`) {
		t.Errorf("JSON not HTML-safe: %s", r.body)
	}
	js := f.do("GET", "/app.js", "").body
	if strings.Contains(js, "innerHTML") || strings.Contains(js, "insertAdjacentHTML") || strings.Contains(js, "document.write") {
		t.Error("the page must not insert markup")
	}
}
