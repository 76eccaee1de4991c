package server

import (
	"testing"
	"time"
)

// BenchmarkAccessLogLine measures a line in each built-in format for a
// request of the clock's own time (local, whose second logtime.go keeps
// rendered).
func BenchmarkAccessLogLine(b *testing.B) {
	ctx := logCtx(b, "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nReferer: http://r.example/\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\r\n")
	now := time.Now()
	line := make([]byte, 0, 512)
	for _, f := range []struct {
		name string
		line func([]byte) []byte
	}{
		{"combined", func(p []byte) []byte { return appendCLFLine(p, ctx, lineAt(ctx, now), 5, true) }},
		{"json", func(p []byte) []byte { return appendJSONLine(p, ctx, lineOf(ctx, false, time.Time{}), now, 5) }},
	} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				line = f.line(line[:0])
			}
		})
	}
}
