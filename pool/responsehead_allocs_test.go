//go:build !race

package pool

import (
	"bufio"
	"bytes"
	"testing"
)

// typicalHead is a member's answer with the fields a web application
// usually sends.
const typicalHead = "HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 02:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\n" +
	"Content-Length: 5\r\nCache-Control: no-cache\r\nSet-Cookie: a=1; Path=/\r\nX-Backend: b1\r\n\r\nhello"

// Reading a head into a ResponseHead used before allocates nothing.
func TestResponseHeadAllocs(t *testing.T) {
	var h ResponseHead
	head := []byte(typicalHead)
	src := bytes.NewReader(nil)
	br := bufio.NewReader(src)
	read := func() {
		src.Reset(head)
		br.Reset(src)
		if err := h.readFinal(br); err != nil || h.Fields() != 6 {
			t.Fatalf("%v, %d fields", err, h.Fields())
		}
	}
	read()
	if n := testing.AllocsPerRun(100, read); n != 0 {
		t.Errorf("%.1f allocations per head", n)
	}
}
