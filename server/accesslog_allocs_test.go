//go:build !race

package server

import (
	"net"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/logformat"
	"github.com/valyala/fasthttp"
)

// Building a line allocates nothing once its pooled buffer has grown
// (IPv6 clients too: TestAppendIPAllocs).
func TestAccessLogLineAllocs(t *testing.T) {
	ctx := logCtx(t, "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nReferer: http://r.example/\r\nUser-Agent: ua/1.0 \xc3\xa9\r\n\r\n")
	now := time.Date(2026, 11, 27, 18, 4, 5, 0, time.UTC)
	local := time.Unix(1_800_000_000, 123_000_000)
	b := make([]byte, 0, 512)
	for _, f := range []struct {
		name string
		line func([]byte) []byte
	}{
		{"combined", func(b []byte) []byte { return appendCLFLine(b, ctx, lineAt(ctx, now), 5, true) }},
		{"json", func(b []byte) []byte { return appendJSONLine(b, ctx, lineOf(ctx, false, time.Time{}), now, 5) }},
		// The clock's local times, whose second is kept rendered (logtime.go).
		{"combined, local", func(b []byte) []byte { return appendCLFLine(b, ctx, lineAt(ctx, local), 5, true) }},
		{"json, local", func(b []byte) []byte { return appendJSONLine(b, ctx, lineOf(ctx, false, time.Time{}), local, 5) }},
	} {
		if n := testing.AllocsPerRun(100, func() { b = f.line(b[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations per line, want 0", f.name, n)
		}
	}
}

// A LogFormat line allocates nothing either.
func TestLogFormatLineAllocs(t *testing.T) {
	ctx := logCtx(t, "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nCookie: sid=abc\r\nUser-Agent: ua/1.0\r\n\r\n")
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Add("Set-Cookie", "a=1")
	ctx.Response.Header.Add("Set-Cookie", "b=2")
	f, err := logformat.Parse(`%h %l %u %t "%r" %>s %b %D %{sid}C "%{User-Agent}i" %{X-Out}o %{Content-Type}o %{Set-Cookie}o %v %V %{%Y-%m-%d}t %T %X`)
	if err != nil {
		t.Fatal(err)
	}
	l := &accessLog{items: f}
	vh := &vhost{serverName: "site.example"}
	now := time.Now()
	b := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { b = l.appendLine(b[:0], ctx, lineOf(ctx, false, time.Time{}), vh, nil, now, 5) }); n != 0 {
		t.Errorf("%v allocations per line, want 0", n)
	}
}

// TestLogRequestAllocs: a proxied request written to the config-wide log
// and to its host's CustomLog, both in LogFormat strings that read
// variables, allocates nothing.
func TestLogRequestAllocs(t *testing.T) {
	_, c, _ := startLoggedProxy(t)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://front.example.com/x")
	do := func() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%v %d", err, resp.StatusCode())
		}
	}
	do()
	if n := testing.AllocsPerRun(200, do); n != 0 {
		t.Errorf("a logged request allocates %.1f times", n)
	}
}

// TestAppendIPAllocs: writing a client's address allocates nothing, IPv6
// too (net.IP's String did).
func TestAppendIPAllocs(t *testing.T) {
	b := make([]byte, 0, 64)
	for _, ip := range []net.IP{net.IPv4(192, 0, 2, 7), net.ParseIP("2001:db8::1")} {
		if n := testing.AllocsPerRun(100, func() { b = appendIP(b[:0], ip) }); n != 0 {
			t.Errorf("appendIP(%v): %v allocations, want 0", ip, n)
		}
	}
}
