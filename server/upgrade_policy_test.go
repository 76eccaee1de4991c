package server

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// TestTunnelDialsThroughPolicy (threats.md ADM-04): a WebSocket tunnel to
// a member added through the manager dials through the admin's policy at
// every dial. While the member's name resolves inside
// admin.member_networks the tunnel opens; once it resolves outside, the
// upgrade gets 503 and the member is never connected to.
func TestTunnelDialsThroughPolicy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			br := bufio.NewReader(c)
			for {
				if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
					break
				}
			}
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			c.Close()
		}
	}()
	one := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("one") })
	cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\n"+strings.ReplaceAll(managerConf, "BACKEND", one)), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin.MemberNetworks = []string{"127.0.0.0/8"}
	s, c := serveProxy(t, cfg)
	names := &swapResolver{m: map[string]string{"ws.test": "127.0.0.1"}}
	s.adm.policy.Resolver = names
	manage := func(method, uri, body string) {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), new(fasthttp.Response)
		defer fasthttp.ReleaseRequest(req)
		req.Header.SetMethod(method)
		req.SetRequestURI("http://127.0.0.1/balancer-manager/api/balancers/b/members" + uri)
		req.Header.SetContentType("application/json")
		req.Header.Set("If-Match", "*")
		req.SetBodyString(body)
		if err := c.Do(req, resp); err != nil || resp.StatusCode()/100 != 2 {
			t.Fatalf("%s %s: %d %s %v", method, uri, resp.StatusCode(), resp.Body(), err)
		}
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	manage("POST", "", `{"url":"ws://ws.test:`+port+`","route":"r2","status":"-D"}`)
	manage("PATCH", "/r1", `{"status":"+D"}`)
	upgrade := func() int {
		t.Helper()
		conn, err := c.Dial("")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: front.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		var resp fasthttp.ResponseHeader
		if err := resp.Read(bufio.NewReader(conn)); err != nil {
			t.Fatalf("no answer to the upgrade: %v", err)
		}
		return resp.StatusCode()
	}
	if st := upgrade(); st != fasthttp.StatusSwitchingProtocols || accepted.Load() != 1 {
		t.Fatalf("inside member_networks: %d with %d connections, want 101 with 1", st, accepted.Load())
	}
	names.set("ws.test", "10.0.0.1")
	manage("PATCH", "/r2", `{"status":"-E"}`)
	if st := upgrade(); st != fasthttp.StatusServiceUnavailable {
		t.Errorf("rebound outside member_networks: %d, want 503", st)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("the member accepted %d connections, want only the first", n)
	}
}
