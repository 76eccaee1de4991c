package hcheck

import (
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/pool"
)

// FuzzProbe has a member answer a keep-alive GET health check with
// arbitrary bytes. Whatever it sent, the check ends (the member closes a
// connection left without a request for 20 ms), a pass has a status in
// 200-399, and a connection the check kept serves the next check: the
// member's plain 200 to it must pass, never be read as something else.
func FuzzProbe(f *testing.F) {
	for _, seed := range []string{
		reply(200, "ok"),
		reply(503, "down"),
		chunked("chunked body"),
		reply(200, "ok") + "HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 100 Continue\r\n\r\n" + reply(200, "ok"),
		"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"not http at all\r\n\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	var (
		mu     sync.Mutex
		answer []byte
		first  bool
	)
	b := newBackend(f, func(int, string) string {
		mu.Lock()
		defer mu.Unlock()
		if first {
			first = false
			return string(answer)
		}
		return reply(200, "")
	})
	b.keptFor = 20 * time.Millisecond
	c := New(Options{})
	m := member(f, pool.NewRegistry(), "http://"+b.addr, hc("GET11", time.Second, 1, 1))
	f.Fuzz(func(t *testing.T, in []byte) {
		mu.Lock()
		answer, first = in, true
		mu.Unlock()
		out, cn := probeOnce(t, c, m, nil, nil)
		if out.ok && (out.status < 200 || out.status > 399) {
			t.Fatalf("passed with status %d; member sent %q", out.status, in)
		}
		if cn == nil {
			return
		}
		out, cn = probeOnce(t, c, m, nil, cn)
		closeConn(cn)
		if !out.ok || out.status != 200 {
			t.Fatalf("the next check on the kept connection: %+v; member first sent %q", out, in)
		}
	})
}
