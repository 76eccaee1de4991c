package lb

import (
	"strings"
	"testing"
)

func TestByRequestsSchedules(t *testing.T) {
	f := func(want string, specs ...string) {
		t.Helper()
		s := snap(t, specs...)
		n := len(strings.Fields(want))
		if got := picks(t, s, method(t, "byrequests"), n, 0, 0); got != want {
			t.Errorf("%v:\ngot  %s\nwant %s", specs, got, want)
		}
	}
	// apache.md Appendix A: loadfactor 1:2.
	f("B2 B1 B2 B2 B1 B2 B2 B1 B2", "B1", "B2 lf=2")
	// Appendix A and the byrequests doc's "a c d a c d": the disabled
	// member neither gains nor pays.
	f("B1 B2 B4 B1 B2 B4 B1 B2 B4", "B1 lf=25", "B2 lf=25", "B3 lf=25 +D", "B4 lf=25")
	// Equal members rotate in config order.
	f("B1 B2 B3 B1 B2 B3", "B1", "B2", "B3")
	// A draining member is never elected.
	f("B1 B3 B1 B3", "B1", "B2 +N", "B3")
	// A single member always wins.
	f("B1 B1 B1", "B1")
	// No member: nil.
	f("- -")
}

func TestByRequestsProportions(t *testing.T) {
	f := func(n int, want map[string]int, specs ...string) {
		t.Helper()
		s := snap(t, specs...)
		got := map[string]int{}
		for _, b := range strings.Fields(picks(t, s, method(t, "byrequests"), n, 0, 0)) {
			got[b]++
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%v over %d picks: %s won %d times, want %d (%v)", specs, n, k, got[k], v, got)
			}
		}
		var sum int64
		for _, m := range s.Members {
			sum += m.State.LBStatus.Load()
		}
		if sum != 0 {
			t.Errorf("%v: lbstatus sums to %d, want 0", specs, sum)
		}
	}
	f(400, map[string]int{"B1": 100, "B2": 300}, "B1", "B2 lf=3")
	// The byrequests doc's 70/30 example: 7 a and 3 b in every 10 picks.
	f(10, map[string]int{"A": 7, "B": 3}, "A lf=70", "B lf=30")
	f(1000, map[string]int{"A": 700, "B": 300}, "A lf=70", "B lf=30")
	f(600, map[string]int{"B1": 100, "B2": 200, "B3": 300}, "B1", "B2 lf=2", "B3 lf=3")
}
