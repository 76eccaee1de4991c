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

// TestFastCGIRequestAllocs proves a request to an fcgi:// member with
// enablereuse=on allocates nothing in steady state: its CGI environment
// (fields, SetEnv variables, balancer variables), records and answer. The
// application here is one that allocates nothing itself. Its answer has a
// Content-Length: one without is sent chunked, where fasthttp allocates
// once (its chunk writer escapes), as for an HTTP member's chunked answer.
func TestFastCGIRequestAllocs(t *testing.T) {
	answer := func() []byte {
		stdout := "Status: 200 OK\r\nContent-Type: text/plain\r\nX-App: php\r\nContent-Length: 5\r\n\r\nhello"
		rec := func(typ byte, b string) []byte {
			return append([]byte{1, typ, 0, 1, byte(len(b) >> 8), byte(len(b)), 0, 0}, b...)
		}
		out := append(rec(6, stdout), rec(6, "")...)
		return append(out, rec(3, "\x00\x00\x00\x00\x00\x00\x00\x00")...)
	}()
	addr := serveConns(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		var h [8]byte
		for {
			if _, err := io.ReadFull(br, h[:]); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint16(h[4:])) + int(h[6])
			if _, err := br.Discard(n); err != nil {
				return
			}
			if h[1] == 5 && n == 0 { // the end of STDIN
				if _, err := c.Write(answer); err != nil {
					return
				}
			}
		}
	})
	_, c := startProxy(t, strings.ReplaceAll(`
SetEnv APP_ENV production
<Proxy balancer://fpm>
    BalancerMember fcgi://APP enablereuse=on
</Proxy>
ProxyPass /app/ balancer://fpm/srv/www/
`, "APP", addr), "")
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://front.example.com/app/index.php?y=1")
	req.Header.Set("Accept", "text/html")
	req.Header.Add("Accept", "application/json")
	req.Header.Set("Cookie", "sid=1")
	do := func() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 || string(resp.Body()) != "hello" {
			t.Fatalf("%v %d %q", err, resp.StatusCode(), resp.Body())
		}
	}
	do()
	if n := testing.AllocsPerRun(200, do); n != 0 {
		t.Fatalf("a request to an fcgi:// member allocates %.1f times", n)
	}
}
