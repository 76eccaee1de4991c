package lb

import (
	"strings"
	"testing"
)

func TestByBusyness(t *testing.T) {
	m := method(t, "bybusyness")
	// apache.md Appendix A: sequential requests alternate.
	s := snap(t, "B1", "B2")
	if got, want := picks(t, s, m, 6, 0, 0), "B1 B2 B1 B2 B1 B2"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}

	// A request in flight on B1 sends everything else to B2.
	s = snap(t, "B1", "B2")
	held := Pick(s, m, t0, nil)
	if name(held) != "B1" {
		t.Fatalf("first pick %s, want B1", name(held))
	}
	if got, want := picks(t, s, m, 5, 0, 0), strings.Repeat("B2 ", 4)+"B2"; got != want {
		t.Fatalf("with B1 busy: got %s, want %s", got, want)
	}
	Done(held, 0, 0)

	// Concurrent requests spread by busy count, whatever the weights.
	s = snap(t, "B1", "B2 lf=10", "B3")
	var got []string
	for range 3 {
		got = append(got, name(Pick(s, m, t0, nil)))
	}
	if strings.Join(got, " ") != "B2 B1 B3" {
		t.Fatalf("three in flight: got %v, want B2 B1 B3", got)
	}
	for _, mb := range s.Members {
		if b := mb.State.Busy.Load(); b != 1 {
			t.Errorf("%s busy %d, want 1", name(mb), b)
		}
	}
}
