//go:build !race

package pool

import "testing"

// Reading a head into a ResponseHead used before allocates nothing.
func TestResponseHeadAllocs(t *testing.T) {
	read := typicalReads(t)
	read()
	if n := testing.AllocsPerRun(100, read); n != 0 {
		t.Errorf("%.1f allocations per head", n)
	}
}
