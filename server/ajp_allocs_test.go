//go:build !race

package server

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestAJPRequestAllocs proves a request to an ajp:// member allocates
// nothing in steady state: its forward request (fields, query, route
// attributes), the answer's packets and body. The container here
// allocates nothing itself and keeps the connection.
func TestAJPRequestAllocs(t *testing.T) {
	packet := func(p ...byte) []byte { return append([]byte{'A', 'B', byte(len(p) >> 8), byte(len(p))}, p...) }
	answer := append(packet(4, 0, 200, 0, 2, 'O', 'K', 0, 0, 2, 0xA0, 0x01, 0, 10, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', 0,
		0xA0, 0x03, 0, 1, '5', 0), packet(3, 0, 5, 'h', 'e', 'l', 'l', 'o', 0)...)
	answer = append(answer, packet(5, 1)...)
	addr := serveConns(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		var h [4]byte
		for {
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return
			}
			if _, err := br.Discard(int(binary.BigEndian.Uint16(h[2:]))); err != nil {
				return
			}
			if _, err := c.Write(answer); err != nil {
				return
			}
		}
	})
	_, c := startProxy(t, strings.ReplaceAll(`
<Proxy balancer://tc>
    BalancerMember ajp://APP route=n1
    ProxySet stickysession=JSESSIONID
</Proxy>
ProxyPass /app/ balancer://tc/shop/
`, "APP", addr), "")
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://front.example.com/app/cart?y=1")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Cookie", "JSESSIONID=abc.n1")
	do := func() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 || string(resp.Body()) != "hello" {
			t.Fatalf("%v %d %q", err, resp.StatusCode(), resp.Body())
		}
	}
	do()
	if n := testing.AllocsPerRun(200, do); n != 0 {
		t.Fatalf("a request to an ajp:// member allocates %.1f times", n)
	}
}
