package lb

import (
	"strings"
	"testing"
)

func TestByTraffic(t *testing.T) {
	s := snap(t, "B1", "B2 lf=2")
	m := method(t, "bytraffic")
	// apache.md Appendix A: equal small requests (150 bytes sent; 25 read,
	// "HTTP/1.1 200 OK" without its CRLF and a 10-byte body).
	if got, want := picks(t, s, m, 6, 150, 25), "B1 B2 B2 B1 B2 B2"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// One 100 KB response on B1: every following request goes to B2.
	b1 := Pick(s, m, t0, nil)
	if name(b1) != "B1" {
		t.Fatalf("7th pick %s, want B1", name(b1))
	}
	Done(b1, 150, 100<<10+15)
	if got, want := picks(t, s, m, 20, 150, 25), strings.Repeat("B2 ", 19)+"B2"; got != want {
		t.Fatalf("after 100 KB on B1:\ngot  %s\nwant %s", got, want)
	}
	if lb := s.Members[0].State.LBStatus.Load(); lb != 0 {
		t.Errorf("bytraffic changed lbstatus to %d", lb)
	}
}

func TestByTrafficCountsBytes(t *testing.T) {
	s := snap(t, "B1")
	m := Pick(s, method(t, "bytraffic"), t0, nil)
	Done(m, 10, 20)
	Done(m, -1, 0) // negative counts are ignored
	if tr, rd := m.State.Transferred.Load(), m.State.Read.Load(); tr != 10 || rd != 20 {
		t.Errorf("transferred %d read %d, want 10 20", tr, rd)
	}
}
