package server

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// TestRemoteIPApply: mod_remoteip's reading of the field, right to left,
// through the proxies it trusts (apache.md-style cases of its docs).
func TestRemoteIPApply(t *testing.T) {
	for _, tc := range []struct {
		name, peer, field    string
		internal, trusted    []string
		client, left, byList string
	}{
		{"no list: any peer", "10.0.0.1", "203.0.113.7", nil, nil, "203.0.113.7", "", "10.0.0.1"},
		{"no list: a private address refused", "10.0.0.1", "192.168.1.5", nil, nil, "10.0.0.1", "192.168.1.5", ""},
		{"trusted peer, the rightmost only", "10.0.0.1", "198.51.100.1, 203.0.113.7", nil, []string{"10.0.0.0/8"}, "203.0.113.7", "198.51.100.1", "10.0.0.1"},
		{"a trusted proxy cannot present a private address", "10.0.0.1", "192.168.1.5", nil, []string{"10.0.0.0/8"}, "10.0.0.1", "192.168.1.5", ""},
		{"an internal one can", "10.0.0.1", "192.168.1.5", []string{"10.0.0.0/8"}, nil, "192.168.1.5", "", ""},
		{"a peer that is no proxy", "198.51.100.9", "203.0.113.7", nil, []string{"10.0.0.0/8"}, "198.51.100.9", "203.0.113.7", ""},
		{"not an address", "10.0.0.1", "unknown", nil, nil, "10.0.0.1", "unknown", ""},
		{"through an internal and a trusted proxy", "10.0.0.1", "198.51.100.1, 203.0.113.9", []string{"10.0.0.0/8"}, []string{"203.0.113.9"}, "198.51.100.1", "", "203.0.113.9"},
		// Apache: "do not allow an external proxy to present an internal
		// proxy"; past a trusted one, an internal one counts as trusted.
		{"a trusted proxy cannot present an internal one", "203.0.113.9", "127.0.0.1, 198.51.100.7", []string{"198.51.100.0/24"}, []string{"203.0.113.9"}, "198.51.100.7", "127.0.0.1", "203.0.113.9"},
		{"through two trusted proxies", "10.0.0.1", "198.51.100.1, 203.0.113.9", nil, []string{"10.0.0.0/8", "203.0.113.9"}, "198.51.100.1", "", "10.0.0.1, 203.0.113.9"},
		{"IPv6", "10.0.0.1", "2001:db8::1", nil, nil, "2001:db8::1", "", "10.0.0.1"},
		{"IPv6 outside global unicast", "10.0.0.1", "fd00::1", nil, nil, "10.0.0.1", "fd00::1", ""},
		{"an internal proxy naming itself", "10.0.0.1", "10.0.0.1", []string{"10.0.0.0/8"}, nil, "10.0.0.1", "", ""},
		// A second line (a proxy that adds its own) is read after the first,
		// as Apache reads the lines joined: the client's first line cannot
		// pass for the proxy's.
		{"lines", "10.0.0.1", "198.51.100.66", nil, []string{"10.0.0.0/8"}, "203.0.113.8", "198.51.100.66", "10.0.0.1"},
	} {
		ri, err := newRemoteIP(&config.RemoteIP{Header: "X-Forwarded-For", Internal: tc.internal, Trusted: tc.trusted, ProxiesHeader: "X-Forwarded-By"})
		if err != nil {
			t.Fatal(err)
		}
		var req fasthttp.Request
		req.Header.Set("X-Forwarded-For", tc.field)
		if tc.name == "lines" {
			req.Header.Add("X-Forwarded-For", "203.0.113.8")
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(tc.peer), Port: 5000}, nil)
		ri.apply(&ctx)
		if got := ctx.RemoteIP().String(); got != tc.client {
			t.Errorf("%s: client %s, want %s", tc.name, got, tc.client)
		}
		if got := string(ctx.Request.Header.Peek("X-Forwarded-For")); got != tc.left {
			t.Errorf("%s: X-Forwarded-For left %q, want %q", tc.name, got, tc.left)
		}
		if got := string(ctx.Request.Header.Peek("X-Forwarded-By")); got != tc.byList {
			t.Errorf("%s: X-Forwarded-By %q, want %q", tc.name, got, tc.byList)
		}
	}
}

// TestRemoteIPFieldCase: the client's field in lower case (as a gateway
// from HTTP/2 sends it) is read, and is what is rewritten: no line of the
// addresses read is left beside the rest, and a client's own
// x-forwarded-by does not stand beside the proxies listed.
func TestRemoteIPFieldCase(t *testing.T) {
	ri, err := newRemoteIP(&config.RemoteIP{Header: "X-Forwarded-For", Trusted: []string{"10.0.0.0/8"}, ProxiesHeader: "X-Forwarded-By"})
	if err != nil {
		t.Fatal(err)
	}
	var req fasthttp.Request
	req.Header.DisableNormalizing() // as sluice's server keeps names
	req.Header.Set("x-forwarded-for", "198.51.100.1, 203.0.113.7")
	req.Header.Set("x-forwarded-by", "6.6.6.6")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 5000}, nil)
	ctx.Request.Header.DisableNormalizing()
	ri.apply(&ctx)
	if got := ctx.RemoteIP().String(); got != "203.0.113.7" {
		t.Errorf("client %s, want 203.0.113.7", got)
	}
	fields := map[string][]string{}
	for k, v := range ctx.Request.Header.All() {
		name := strings.ToLower(string(k))
		fields[name] = append(fields[name], string(v))
	}
	if got := fields["x-forwarded-for"]; len(got) != 1 || got[0] != "198.51.100.1" {
		t.Errorf("X-Forwarded-For lines %q, want the one rest", got)
	}
	if got := fields["x-forwarded-by"]; len(got) != 1 || got[0] != "10.0.0.1" {
		t.Errorf("X-Forwarded-By lines %q, want the one proxy passed", got)
	}
}

// TestRemoteIPRequest: behind a proxy, the client's address from
// RemoteIPHeader is the one Require ip tests, %a logs (%{c}a keeps the
// peer) and X-Forwarded-For carries to the member; a vhost takes the main
// server's settings, and a request without the field is the peer's.
func TestRemoteIPRequest(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(string(ctx.Request.Header.Peek("X-Forwarded-For")))
	})
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	s, addr := serveTCP(t, mustParse(t, fmt.Sprintf(`Listen 127.0.0.1:0
RemoteIPHeader X-Client-IP
RemoteIPInternalProxy 127.0.0.1
LogFormat "%%a %%{c}a %%U" mine
CustomLog %s mine
<Location /office/>
    Require ip 192.168.10.0/24
</Location>
ProxyPass / http://%s/
`, log, be)))
	do := func(path string, header ...string) *fasthttp.Response {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: h\r\n%sConnection: close\r\n\r\n", path, strings.Join(header, ""))
		var resp fasthttp.Response
		if err := resp.Read(bufio.NewReader(c)); err != nil {
			t.Fatal(err)
		}
		return &resp
	}
	if r := do("/office/x", "X-Client-IP: 192.168.10.7\r\n"); r.StatusCode() != 200 || string(r.Body()) != "192.168.10.7" {
		t.Errorf("from the office through the proxy: %d, member saw X-Forwarded-For %q", r.StatusCode(), r.Body())
	}
	if r := do("/office/x"); r.StatusCode() != 403 {
		t.Errorf("the proxy's own request: %d, want 403", r.StatusCode())
	}
	if r := do("/office/x", "X-Client-IP: 10.9.9.9\r\n"); r.StatusCode() != 403 {
		t.Errorf("from elsewhere: %d, want 403", r.StatusCode())
	}
	if r := do("/pub", "X-Client-IP: 192.168.10.7\r\n"); string(r.Body()) != "192.168.10.7" {
		t.Errorf("the next request's member saw X-Forwarded-For %q", r.Body())
	}
	flushLogs(s)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := "192.168.10.7 127.0.0.1 /office/x\n127.0.0.1 127.0.0.1 /office/x\n10.9.9.9 127.0.0.1 /office/x\n192.168.10.7 127.0.0.1 /pub\n"
	if string(b) != want {
		t.Errorf("access log:\n%s\nwant:\n%s", b, want)
	}
}

// TestRemoteIPKeepAlive: on one connection, a request with the client's
// field logs and forwards that client and the next one without it the
// peer, then the client again: the peer's address, written as text once
// per connection, never stands for a client mod_remoteip found.
func TestRemoteIPKeepAlive(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(string(ctx.Request.Header.Peek("X-Forwarded-For")))
	})
	log := filepath.Join(t.TempDir(), "access.log")
	s, addr := serveTCP(t, mustParse(t, fmt.Sprintf(`Listen 127.0.0.1:0
RemoteIPHeader X-Client-IP
RemoteIPInternalProxy 127.0.0.1
LogFormat "%%a %%h %%{c}a" mine
CustomLog %s mine
ProxyPass / http://%s/
`, log, be)))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var want strings.Builder
	for i, client := range []string{"", "192.0.2.7", "", "", "198.51.100.9", ""} {
		field := ""
		if client != "" {
			field = "X-Client-IP: " + client + "\r\n"
		}
		fmt.Fprintf(c, "GET /r%d HTTP/1.1\r\nHost: h\r\n%s\r\n", i, field)
		var resp fasthttp.Response
		if err := resp.Read(br); err != nil {
			t.Fatal(err)
		}
		if client == "" {
			client = "127.0.0.1"
		}
		if string(resp.Body()) != client {
			t.Errorf("request %d: member saw X-Forwarded-For %q, want %q", i, resp.Body(), client)
		}
		fmt.Fprintf(&want, "%s %s 127.0.0.1\n", client, client)
	}
	flushLogs(s)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want.String() {
		t.Errorf("access log:\n%s\nwant:\n%s", b, want.String())
	}
}

// TestTrustedProxiesWithRemoteIP: trusted_proxies is about the peer that
// connected. Behind mod_remoteip the request's address becomes the
// client's, and that address (not a trusted proxy) was tested before, so
// a trusted proxy's X-Forwarded-Proto and X-Forwarded-Host were dropped.
func TestTrustedProxiesWithRemoteIP(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(fmt.Sprintf("%s|%s|%s", ctx.Request.Header.Peek("X-Forwarded-For"),
			ctx.Request.Header.Peek("X-Forwarded-Proto"), ctx.Request.Header.Peek("X-Forwarded-Host")))
	})
	cfg, err := config.ParseYAML("t.yaml", []byte(fmt.Sprintf(`listen: ['127.0.0.1:0']
trusted_proxies: [127.0.0.0/8]
server:
  routes: [{path: /, target: "http://%s/"}]
  remote_ip: {header: X-Forwarded-For, internal: [127.0.0.0/8]}
`, be)))
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveTCP(t, cfg)
	resp := rawRequest(t, dialTCP(t, addr), "GET / HTTP/1.1\r\nHost: front\r\nX-Forwarded-For: 203.0.113.5\r\n"+
		"X-Forwarded-Proto: https\r\nX-Forwarded-Host: edge.example\r\n\r\n")
	if got, want := string(resp.Body()), "203.0.113.5|https|edge.example, front"; got != want {
		t.Fatalf("member saw %q, want %q", got, want)
	}
}
