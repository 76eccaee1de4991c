package pool

import (
	"bufio"
	"bytes"
	"testing"
)

// BenchmarkResponseHead is reading a typical member's response head.
func BenchmarkResponseHead(b *testing.B) {
	var h ResponseHead
	head := []byte(typicalHead)
	src := bytes.NewReader(nil)
	br := bufio.NewReader(src)
	b.SetBytes(int64(len(typicalHead)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(head)
		br.Reset(src)
		if err := h.readFinal(br); err != nil {
			b.Fatal(err)
		}
	}
}
