package lowport

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeIsBelowEphemeralAndNotRepeated(t *testing.T) {
	var s Set
	seen := map[int]bool{}
	for range 50 {
		p, err := s.Free()
		if err != nil {
			t.Fatal(err)
		}
		if p < lo || p >= hi {
			t.Fatalf("port %d outside %d-%d", p, lo, hi-1)
		}
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
	}
}

func TestFreeSkipsPortsInUse(t *testing.T) {
	var s Set
	p, err := s.Free()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("the port Free returned cannot be bound: %v", err)
	}
	defer ln.Close()
	// Every other port taken by this Set; the one listening must not come back.
	s.mu.Lock()
	for q := lo; q < hi; q++ {
		s.used[q] = q != p
	}
	s.mu.Unlock()
	if q, err := s.Free(); err == nil {
		t.Fatalf("Free returned %d, which is listening", q)
	}
}
