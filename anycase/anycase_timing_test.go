package anycase

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkRequestAbsent looks up a field a browser's request does not
// carry (a first visit has no Referer): the cost of learning it is absent.
func BenchmarkRequestAbsent(b *testing.B) {
	var h fasthttp.RequestHeader
	h.DisableNormalizing()
	head := "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html\r\nAccept-Language: en-US\r\n" +
		"Accept-Encoding: gzip\r\nCookie: a=1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n" +
		"Sec-Fetch-Site: none\r\nUpgrade-Insecure-Requests: 1\r\nCache-Control: max-age=0\r\n\r\n"
	if err := h.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if Request(&h, "Referer") != nil {
			b.Fatal("found")
		}
	}
}
