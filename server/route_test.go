package server

import (
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

func TestRouteMatchBuildsBackendPath(t *testing.T) {
	prefix := func(p, target string) *route {
		_, tp := splitTarget(target)
		return &route{cfg: &config.Route{Path: p, Target: target}, prefix: []byte(p), targetPath: tp,
			slashGap: strings.HasSuffix(p, "/") && tp != "" && !strings.HasSuffix(tp, "/")}
	}
	match := func(re, target string) *route {
		_, tp := splitTarget(target)
		r := &route{cfg: &config.Route{Path: re, Match: true, Target: target}, re: regexp.MustCompile(re), targetPath: tp}
		r.targetBytes, r.expand = matchTarget(tp)
		return r
	}
	cases := []struct {
		name string
		r    *route
		path string
		raw  string
		want string
		ok   bool
	}{
		{"doc example 1", prefix("/foo", "http://foo.example.com/bar"), "/foo/x", "/foo/x", "/bar/x", true},
		{"exact", prefix("/foo", "http://foo.example.com/bar"), "/foo", "/foo", "/bar", true},
		{"no partial segment", prefix("/foo", "http://h/bar"), "/foobar", "/foobar", "", false},
		{"trailing slashes", prefix("/mirror/foo/", "http://backend.example.com/"), "/mirror/foo/a/b", "/mirror/foo/a/b", "/a/b", true},
		{"balancer with slash target", prefix("/images", "balancer://myset/"), "/images/a.png", "/images/a.png", "/a.png", true},
		{"escaping", prefix("/p", "http://h"), "/p/a b%", "/p/a%20b%25", "/a%20b%25", true},
		{"slash on the path only", prefix("/y/", "http://h/sub"), "/y/foo", "/y/foo", "/sub/foo", true},
		{"slash on the path only, exact", prefix("/y/", "http://h/sub"), "/y/", "/y/", "/sub", true},
		{"slash on the path, no target path", prefix("/", "balancer://b"), "/foo", "/foo", "foo", true},
		{"match with $1", match(`^/m/(.*)\.gif$`, "http://h/img/$1"), "/m/dir/pic.gif", "/m/dir/pic.gif", "/img/dir/pic", true},
		{"match with $1, escaped", match(`^/m/(.*)$`, "http://h/img/$1"), "/m/a b%", "/m/a%20b%25", "/img/a%20b%25", true},
		{"match without ref appends uri", match(`\.png$`, "http://h"), "/z/pic.png", "/z/pic.png", "/z/pic.png", true},
		{"match miss", match(`\.png$`, "http://h"), "/z/pic.gif", "/z/pic.gif", "", false},
		{"match, $1 before a letter", match(`^/m/(.*)\.gif$`, "http://h/img/$1_t.gif"), "/m/dir/pic.gif", "/m/dir/pic.gif", "/img/dir/pic_t.gif", true},
		{"match, literal $", match(`\.png$`, "http://h/a$b"), "/z/pic.png", "/z/pic.png", "/a$b/z/pic.png", true},
		{"match, escaped $", match(`^/m/(.*)$`, `http://h/a\$1/$1`), "/m/x", "/m/x", "/a$1/x", true},
	}
	for _, c := range cases {
		for _, dst := range [][]byte{nil, []byte("kept")} {
			got, ok := c.r.match(dst, []byte(c.path), []byte(c.raw), false)
			if want := string(dst) + c.want; ok != c.ok || string(got) != want {
				t.Errorf("%s: match(%q, %q) = %q, %v; want %q, %v", c.name, dst, c.path, got, ok, want, c.ok)
			}
		}
	}
}

func TestNoCanonForwardsRawPath(t *testing.T) {
	r := &route{cfg: &config.Route{Path: "/raw", NoCanon: true}, prefix: []byte("/raw"), targetPath: "/x"}
	got, ok := r.match(nil, []byte("/raw/a b"), []byte("/raw/a%20b%3B"), false)
	if !ok || string(got) != "/x/a%20b%3B" {
		t.Fatalf("nocanon: got %q, %v", got, ok)
	}
}

func TestHasEncodedSlash(t *testing.T) {
	for raw, want := range map[string]bool{"/a%2Fb": true, "/a%2fb": true, "/a/b": false, "/a%25": false, "%2": false} {
		if got := hasEncodedSlash([]byte(raw)); got != want {
			t.Errorf("hasEncodedSlash(%q) = %v", raw, got)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestStatusFor(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{errNoMember, 503},
		{&pool.DialError{Addr: "127.0.0.1:1", Err: errors.New("refused")}, 503},
		{pool.ErrNoFreeConns, 503},
		{timeoutErr{}, 504},
		{fasthttp.ErrTimeout, 504},
		{errBodyTooLarge, 413},
		{io.ErrUnexpectedEOF, 502},
		{errors.New("cannot parse response status line"), 502},
	}
	for _, c := range cases {
		if got := statusFor(c.err); got != c.want {
			t.Errorf("statusFor(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if !failover(&pool.DialError{Err: errors.New("x")}) || failover(timeoutErr{}) {
		t.Error("failover must hold for dial errors only")
	}
}

func TestErrorPageLeaksNothing(t *testing.T) {
	var ctx fasthttp.RequestCtx
	errorPage(&ctx, 502)
	body := string(ctx.Response.Body())
	if ctx.Response.StatusCode() != 502 || !regexp.MustCompile(`502 Proxy Error`).MatchString(body) {
		t.Fatalf("unexpected page %d %q", ctx.Response.StatusCode(), body)
	}
	if regexp.MustCompile(`[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+`).MatchString(body) {
		t.Fatalf("error page holds an address: %q", body)
	}
}

// appendMemberPath joins a member's path and the route's with one slash,
// adding the one neither has, and starts the result with a slash.
func TestAppendMemberPath(t *testing.T) {
	for _, c := range []struct{ member, path, want string }{
		{"", "", "/"},
		{"", "foo", "/foo"},
		{"", "/foo", "/foo"},
		{"/sub", "", "/sub"},
		{"/sub", "foo", "/sub/foo"},
		{"/sub", "/foo", "/sub/foo"},
		{"/sub/", "/foo", "/sub/foo"},
		{"/sub/", "foo", "/sub/foo"},
	} {
		for _, dst := range []string{"", "kept"} {
			if got := string(appendMemberPath([]byte(dst), c.member, []byte(c.path))); got != dst+c.want {
				t.Errorf("appendMemberPath(%q, %q, %q) = %q, want %q", dst, c.member, c.path, got, dst+c.want)
			}
		}
	}
}

// appendKeepingSlashes decodes a raw path but its %2F, and resolves its
// segments as fasthttp does: for a path without %2F it gives fasthttp's
// own path.
func TestAppendKeepingSlashes(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"/api/v4/projects/group%2Fproject/issues", "/api/v4/projects/group%2Fproject/issues"},
		{"/a%2f%41", "/a%2fA"},
		{"/a%2F..%2Fb/../c", "/c"},
		{"/a/b/../c%2F..", "/a/c%2F.."},
		{"//x/./y/%2e%2e/z/", "/x/z/"},
		{"/../../x", "/x"},
		{"/%2F", "/%2F"},
	} {
		if got := string(appendKeepingSlashes([]byte("kept"), []byte(c.raw))); got != "kept"+c.want {
			t.Errorf("%s: %q, want %q", c.raw, got, "kept"+c.want)
		}
	}
	for _, raw := range []string{"/", "/a/b", "//a//b//", "/a/./b/../c", "/a/..", "/..", "/a/b/..", "/a/b/.", "/%41%20b", "/a/%2e%2e/b",
		"/x/../../y", "/.%2e/z", "/a//../b", "/./", "/a%3Fb", "/%zz", "/a%", "/%4"} {
		var u fasthttp.URI
		u.SetPath(raw)
		if got := string(appendKeepingSlashes(nil, []byte(raw))); got != string(u.Path()) {
			t.Errorf("%s: %q, fasthttp's path %q", raw, got, u.Path())
		}
	}
}

// A ProxyPassMatch target reads $N as Apache's ap_pregsub does: one digit,
// then literal text ($1_t is group 1 and "_t"), and a $ before no digit is
// kept; a target without $N gets the whole URI appended.
func TestProxyPassMatchTargetPath(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.Path()) })
	for _, tc := range []struct{ conf, uri, want string }{
		{`ProxyPassMatch ^/m/(.*)\.gif$ http://BACKEND/img/$1_t.gif`, "/m/dir/pic.gif", "/img/dir/pic_t.gif"},
		{`ProxyPassMatch ^/m/(.*)\.gif$ http://BACKEND/img/$10.gif`, "/m/pic.gif", "/img/pic0.gif"},
		{`ProxyPassMatch ^/m/(.*)\.gif$ http://BACKEND/a$b/$1`, "/m/pic.gif", "/a$b/pic"},
		{`ProxyPassMatch \.png$ http://BACKEND/a$b`, "/z/pic.png", "/a$b/z/pic.png"},
	} {
		_, c := startProxy(t, tc.conf+"\n", be)
		if status, body, _ := do(t, c, "GET", tc.uri); status != 200 || body != tc.want {
			t.Errorf("%s: %s reached the member as %q (status %d), want %q", tc.conf, tc.uri, body, status, tc.want)
		}
	}
}
