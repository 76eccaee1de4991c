//go:build !race

package pool

import (
	"bufio"
	"bytes"
	"testing"
)

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
