package main

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

// hopBackendResponse names its own hop-by-hop header and sends headers whose
// case, order and duplicates must survive.
const hopBackendResponse = "HTTP/1.1 200 OK\r\n" +
	"Content-Length: 2\r\n" +
	"Connection: X-B\r\n" +
	"X-B: hidden\r\n" +
	"Keep-Alive: timeout=5\r\n" +
	"X-Resp-Case: v\r\n" +
	"Set-Cookie: a=1\r\n" +
	"x-lower-resp: w\r\n" +
	"Set-Cookie: b=2; Path=/\r\n" +
	"X-Dup: 1\r\n" +
	"X-Dup: 2\r\n" +
	"\r\nok"

func TestHopByHop(t *testing.T) {
	b := newBackend(t, "b1", func(w *bufio.Writer, r *backendReq) bool {
		w.WriteString(hopBackendResponse)
		return false
	})
	cfg := writeConfig(t, t.TempDir(), "hop.conf", "Listen 127.0.0.1:0\nProxyPass / http://{B1}/\n", "{B1}", b.addr)
	s := startSluice(t, cfg)

	m := rawDo(t, s.Addr(), "GET /h HTTP/1.1\r\n"+
		"Host: front.example.com\r\n"+
		"Connection: close, X-Secret\r\n"+
		"X-Secret: s\r\n"+
		"Keep-Alive: timeout=5\r\n"+
		"TE: gzip\r\n"+
		"Proxy-Authorization: Basic YTpi\r\n"+
		"Upgrade: h2c\r\n"+
		"X-Custom-Case: A\r\n"+
		"x-lower: b\r\n"+
		"X-Dup: 1\r\n"+
		"X-Dup: 2\r\n"+
		"\r\n")
	wantStatus(t, m, 200)
	if string(m.Body) != "ok" {
		t.Errorf("client body %q, want ok", m.Body)
	}

	got := b.last()
	for _, h := range []string{"X-Secret", "Keep-Alive", "TE", "Proxy-Authorization", "Upgrade"} {
		if got.Has(h) {
			t.Errorf("backend received hop-by-hop %s: %q", h, got.Values(h))
		}
	}
	for _, v := range got.Values("Connection") {
		if strings.Contains(strings.ToLower(v), "x-secret") {
			t.Errorf("backend received Connection: %q", v)
		}
	}
	wantSubsequence(t, "backend header names", got.Names(), []string{"X-Custom-Case", "x-lower", "X-Dup", "X-Dup"})
	if vs := got.Values("X-Dup"); !slices.Equal(vs, []string{"1", "2"}) {
		t.Errorf("backend X-Dup = %q, want [1 2]", vs)
	}

	for _, h := range []string{"X-B", "Keep-Alive"} {
		if m.Has(h) {
			t.Errorf("client received hop-by-hop %s: %q", h, m.Values(h))
		}
	}
	for _, v := range m.Values("Connection") {
		if strings.Contains(strings.ToLower(v), "x-b") {
			t.Errorf("client received Connection: %q", v)
		}
	}
	wantSubsequence(t, "client header names", m.Names(), []string{"X-Resp-Case", "x-lower-resp", "X-Dup", "X-Dup"})
	if vs := m.Values("X-Dup"); !slices.Equal(vs, []string{"1", "2"}) {
		t.Errorf("client X-Dup = %q, want [1 2]", vs)
	}
	if vs := m.Values("Set-Cookie"); !slices.Equal(vs, []string{"a=1", "b=2; Path=/"}) {
		t.Errorf("client Set-Cookie = %q, want [a=1 b=2; Path=/]", vs)
	}
}

// wantSubsequence checks that want appears in got in order (exact case).
func wantSubsequence(t *testing.T, what string, got, want []string) {
	t.Helper()
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Errorf("%s %q do not contain %q in order (exact case)", what, got, want)
	}
}

const forwardedConf = `
Listen 127.0.0.1:0
ServerName proxy.example.com
ProxyPass / http://{B1}/
`

const forwardedOffConf = `
Listen 127.0.0.1:0
ServerName proxy.example.com
ProxyAddHeaders Off
ProxyPreserveHost On
ProxyVia On
ProxyPass / http://{B1}/
`

// forwardedTrustedYAML trusts loopback, so the client's X-Forwarded-For is
// kept and appended to (Apache's behaviour).
const forwardedTrustedYAML = `
listen: ["127.0.0.1:0"]
trusted_proxies: ["127.0.0.0/8"]
server:
  server_name: proxy.example.com
  add_headers: true
  routes:
    - path: /
      target: http://{B1}/
`

func TestForwardedHeaders(t *testing.T) {
	b := newBackend(t, "b1", nil)
	dir := t.TempDir()
	send := func(t *testing.T, s *sluiceProc) *wireMsg {
		t.Helper()
		m := getURI(t, s.Addr(), "/fwd", "X-Forwarded-For: 10.0.0.9")
		wantStatus(t, m, 200)
		if want := "b1 GET /fwd"; string(m.Body) != want {
			t.Errorf("client body %q, want %q", m.Body, want)
		}
		return m
	}

	t.Run("defaults", func(t *testing.T) {
		s := startSluice(t, writeConfig(t, dir, "fwd.conf", forwardedConf, "{B1}", b.addr))
		m := send(t, s)
		got := b.last()
		xff := got.Values("X-Forwarded-For")
		if len(xff) != 1 || !strings.HasSuffix(xff[0], "127.0.0.1") {
			t.Errorf("backend X-Forwarded-For = %q, want one line ending in the client address 127.0.0.1", xff)
		}
		if v := got.Get("X-Forwarded-Host"); v != "front.example.com" {
			t.Errorf("backend X-Forwarded-Host = %q, want front.example.com", v)
		}
		if v := got.Get("X-Forwarded-Server"); v != "proxy.example.com" {
			t.Errorf("backend X-Forwarded-Server = %q, want proxy.example.com", v)
		}
		if v := got.Values("Host"); len(v) != 1 || v[0] != b.addr {
			t.Errorf("backend Host = %q, want [%s] (ProxyPreserveHost Off)", v, b.addr)
		}
		if got.Has("Via") || m.Has("Via") {
			t.Errorf("Via added with ProxyVia Off: request %q, response %q", got.Values("Via"), m.Values("Via"))
		}
	})

	t.Run("trusted client X-Forwarded-For is appended to", func(t *testing.T) {
		s := startSluice(t, writeConfig(t, dir, "fwd.yaml", forwardedTrustedYAML, "{B1}", b.addr))
		send(t, s)
		if v := b.last().Values("X-Forwarded-For"); !slices.Equal(v, []string{"10.0.0.9, 127.0.0.1"}) {
			t.Errorf("backend X-Forwarded-For = %q, want [10.0.0.9, 127.0.0.1]", v)
		}
	})

	t.Run("ProxyAddHeaders Off, ProxyPreserveHost On, ProxyVia On", func(t *testing.T) {
		s := startSluice(t, writeConfig(t, dir, "fwdoff.conf", forwardedOffConf, "{B1}", b.addr))
		m := send(t, s)
		got := b.last()
		// Apache passes the client's value untouched; sluice may drop it
		// from an untrusted peer, but must not add the client address.
		for _, v := range got.Values("X-Forwarded-For") {
			if strings.Contains(v, "127.0.0.1") {
				t.Errorf("backend X-Forwarded-For = %q: client address added with ProxyAddHeaders Off", v)
			}
		}
		for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Server"} {
			if got.Has(h) {
				t.Errorf("backend received %s = %q with ProxyAddHeaders Off", h, got.Values(h))
			}
		}
		if v := got.Values("Host"); !slices.Equal(v, []string{"front.example.com"}) {
			t.Errorf("backend Host = %q, want [front.example.com] (ProxyPreserveHost On)", v)
		}
		if v := got.Get("Via"); !strings.HasPrefix(v, "1.1 ") {
			t.Errorf("backend Via = %q, want 1.1 <proxy>", v)
		}
		if v := m.Get("Via"); !strings.HasPrefix(v, "1.1 ") {
			t.Errorf("client Via = %q, want 1.1 <proxy>", v)
		}
	})
}
