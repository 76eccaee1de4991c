package pool

import "testing"

// BenchmarkHeadScan is the cost memberConn adds to reading a typical
// response head (and the start of its body).
func BenchmarkHeadScan(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 02:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\n" +
		"Content-Length: 5\r\nCache-Control: no-cache\r\nSet-Cookie: a=1; Path=/\r\nX-Backend: b1\r\n\r\nhello")
	b.SetBytes(int64(len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		h := headScan{active: true, first: true}
		if err := h.scan(resp); err != nil || h.active {
			b.Fatal(err)
		}
	}
}
