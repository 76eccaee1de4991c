package server

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestTunnelRefusesMalformedAnswer (threats.md SMG-15, HDR-12): a member's
// answer to an upgrade with a field name that is not a token gets 502,
// whether it switches protocols or not.
func TestTunnelRefusesMalformedAnswer(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX Y: z\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX Y: z\r\nContent-Length: 2\r\n\r\nok",
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				if l, err := br.ReadString('\n'); err != nil || l == "\r\n" {
					break
				}
			}
			_, _ = io.WriteString(c, answer)
		}()
		_, c := startProxy(t, "ProxyPass /ws ws://BACKEND/ upgrade=websocket\n", ln.Addr().String())
		conn, err := c.Dial("")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		var resp fasthttp.ResponseHeader
		if err := resp.Read(bufio.NewReader(conn)); err != nil {
			t.Fatalf("no answer to the upgrade: %v", err)
		}
		if resp.StatusCode() != fasthttp.StatusBadGateway || resp.Peek("X Y") != nil {
			t.Errorf("answer %q relayed as %d with X Y %q, want 502 without it", answer, resp.StatusCode(), resp.Peek("X Y"))
		}
	}
}
