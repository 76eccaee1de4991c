//go:build !race

package server

import (
	"testing"
	"time"
)

// Building a line allocates nothing once its pooled buffer has grown
// (an IPv4 client; an IPv6 address goes through net.IP.String).
func TestAccessLogLineAllocs(t *testing.T) {
	ctx := logCtx(t, "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nReferer: http://r.example/\r\nUser-Agent: ua/1.0 \xc3\xa9\r\n\r\n")
	now := time.Date(2026, 11, 27, 18, 4, 5, 0, time.UTC)
	b := make([]byte, 0, 512)
	for _, f := range []struct {
		name string
		line func([]byte) []byte
	}{
		{"combined", func(b []byte) []byte { return appendCLFLine(b, ctx, now, 5, true) }},
		{"json", func(b []byte) []byte { return appendJSONLine(b, ctx, now, 5) }},
	} {
		if n := testing.AllocsPerRun(100, func() { b = f.line(b[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations per line, want 0", f.name, n)
		}
	}
}
