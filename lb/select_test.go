package lb

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

func TestSparesAndStandbys(t *testing.T) {
	byreq := method(t, "byrequests")
	f := func(want string, dead []string, specs ...string) {
		t.Helper()
		s := snap(t, specs...)
		if got := requests(t, s, byreq, len(strings.Fields(want)), dead...); got != want {
			t.Errorf("%v, dead %v:\ngot  %s\nwant %s", specs, dead, got, want)
		}
	}
	// apache.md Appendix A: request 2 finds DEAD and fails over to B1; then
	// B3, the first spare, replaces DEAD and competes with B1. B4 (second
	// spare) and B2 (standby) are never used.
	f("B1 B1 B3 B1 B3 B1 B3 B1", []string{"DEAD"}, "B1", "DEAD", "B3 +R", "B4 +R", "B2 +H")
	// Appendix A: the standby of lbset 0 is used before lbset 1.
	f("B3 B3 B3 B3", []string{"DEAD"}, "DEAD", "B3 +H", "B1 set=1", "B2 set=1")
	// Spares replace unusable members one for one, in config order.
	f("S1 S2 S1 S2", nil, "B1 +D", "B2 +S", "S1 +R", "S2 +R", "S3 +R")
	// A draining member counts as unusable, so a spare replaces it.
	f("B1 S1 B1 S1", nil, "B1", "B2 +N", "S1 +R")
	// A draining spare or standby is not counted and not used.
	f("B1 B1 B1", nil, "B1", "S1 +R +N", "H1 +H +N")
	// No unusable member: spares and standbys stay idle.
	f("B1 B2 B1 B2", nil, "B1", "S1 +R", "B2", "H1 +H")
	// Standbys only when no regular member or eligible spare is usable;
	// several standbys compete.
	f("H1 H2 H1 H2", nil, "B1 +D", "H1 +H", "H2 +H")
	// A spare standing in for a dead member wins over the standby.
	f("S1 S1 S1", []string{"B1"}, "B1", "S1 +R", "H1 +H")
	// A member with both R and H is a spare.
	f("RH RH", nil, "B1 +D", "RH +R +H")
	// Tiers are tried lowest first, whatever the config order and gaps.
	f("A A A", nil, "C set=7", "A set=0", "B set=3")
	f("C B C B", nil, "C set=7", "A set=0 +D", "B set=7", "D set=9")
	// Everything unusable: no member.
	f("- -", nil, "B1 +D", "B2 +S", "H1 +H +C")
	// Every member dead: forcerecovery lets each request retry them all.
	f("- -", []string{"B1", "B2"}, "B1", "B2")
}

func TestStandbysIgnoreSpareCount(t *testing.T) {
	// A standby is used only when nothing was offered in its lbset, even if
	// more members are unusable than there are spares.
	s := snap(t, "B1 +D", "B2 +D", "S1 +R", "H1 +H")
	if got := picks(t, s, method(t, "byrequests"), 3, 0, 0); got != "S1 S1 S1" {
		t.Fatalf("got %s, want S1 S1 S1", got)
	}
}

func TestTriedMembersAreNotPicked(t *testing.T) {
	for _, mname := range []string{"byrequests", "bytraffic", "bybusyness"} {
		t.Run(mname, func(t *testing.T) {
			m := method(t, mname)
			s := snap(t, "B1", "B2", "B3", "S1 +R", "H1 +H", "L1 set=1")
			var tried Tried
			var got []string
			for {
				mb := Pick(s, m, t0, &tried)
				if mb == nil {
					break
				}
				got = append(got, name(mb))
				if len(got) > len(s.Members) {
					t.Fatalf("picked %v: a member twice", got)
				}
			}
			// The tried regular members make S1 eligible, then H1, then lbset 1.
			if len(got) != 6 || strings.Join(got[3:], " ") != "S1 H1 L1" {
				t.Fatalf("failover order %v, want B1..B3 in any order then S1 H1 L1", got)
			}
			for _, mb := range s.Members {
				if !tried.Has(mb.Index) {
					t.Errorf("%s not recorded in tried", name(mb))
				}
				if b := mb.State.Busy.Load(); b != 1 {
					t.Errorf("%s busy %d, want 1", name(mb), b)
				}
			}
		})
	}
}

func TestRetryAndErrorTiming(t *testing.T) {
	m := method(t, "byrequests")
	s := snap(t, "B1 retry=10s", "B2")
	b1 := member(t, s, "B1")
	if marked, _ := b1.State.MarkError(t0); !marked {
		t.Fatal("MarkError did not set E")
	}
	if got := b1.State.Flags().String(); got != "Init Err " {
		t.Errorf("flags %q, want %q", got, "Init Err ")
	}
	// Retry must have passed strictly: at exactly 10s B1 is still skipped.
	for _, at := range []time.Duration{0, time.Second, 10 * time.Second} {
		if got := name(Pick(s, m, t0.Add(at), nil)); got != "B2" {
			t.Fatalf("at +%v picked %s, want B2", at, got)
		}
	}
	if r := b1.State.Retries.Load(); r != 0 {
		t.Fatalf("retries %d before the retry time, want 0", r)
	}
	// Just after, the skeleton retries B1 and it competes again.
	mb := Pick(s, m, t0.Add(10*time.Second+time.Nanosecond), nil)
	if name(mb) != "B1" || b1.State.Flags()&pool.FlagError != 0 || b1.State.Retries.Load() != 1 {
		t.Fatalf("after retry: flags %q retries %d, want E cleared, 1 retry and B1 picked (picked %s)",
			b1.State.Flags(), b1.State.Retries.Load(), name(mb))
	}

	// retry=0 is retried by any later pick, but not at the same instant.
	s = snap(t, "B1 retry=0s", "B2 +H")
	b1 = member(t, s, "B1")
	b1.State.MarkError(t0)
	if got := name(Pick(s, m, t0, nil)); got != "B2" {
		t.Fatalf("retry=0 at the error instant picked %s, want B2", got)
	}
	if got := name(Pick(s, m, t0.Add(time.Nanosecond), nil)); got != "B1" {
		t.Fatalf("retry=0 one ns later picked %s, want B1", got)
	}

	// S is never retried; D stays until cleared.
	s = snap(t, "B1 retry=0s +S", "B2 +D", "B3 +H")
	member(t, s, "B1").State.MarkError(t0)
	if got := name(Pick(s, m, t0.Add(time.Hour), nil)); got != "B3" {
		t.Fatalf("with S and D picked %s, want B3", got)
	}
	if f := member(t, s, "B1").State.Flags(); f&pool.FlagError == 0 {
		t.Fatalf("stopped member left E: %q", f)
	}
}

func TestIgnoreErrors(t *testing.T) {
	s := snap(t, "B1 +I", "B2")
	b1 := member(t, s, "B1")
	if marked, _ := b1.State.MarkError(t0); marked {
		t.Fatal("MarkError set E on an I member")
	}
	// E set by status= is cleared at once by the retry.
	s = snap(t, "B1 +I +E", "B2 +D")
	if got := name(Pick(s, method(t, "byrequests"), t0, nil)); got != "B1" {
		t.Fatalf("picked %s, want B1", got)
	}
}

func TestForceRecovery(t *testing.T) {
	m := method(t, "byrequests")
	for _, on := range []bool{true, false} {
		s := build(t, &config.Balancer{ForceRecovery: on}, "B1", "B2 +S", "B3 +H")
		for _, mb := range s.Members {
			mb.State.MarkError(t0)
		}
		got := Pick(s, m, t0.Add(time.Second), nil)
		if on {
			if name(got) != "B1" {
				t.Fatalf("forcerecovery on: picked %s, want B1", name(got))
			}
			for _, mb := range s.Members {
				if mb.State.Flags()&pool.FlagError != 0 || mb.State.Retries.Load() != 1 {
					t.Errorf("%s after recovery: %q retries %d", name(mb), mb.State.Flags(), mb.State.Retries.Load())
				}
			}
			// B2 keeps S and stays unusable.
			if f := member(t, s, "B2").State.Flags().String(); f != "Init Stop " {
				t.Errorf("B2 flags %q, want %q", f, "Init Stop ")
			}
			continue
		}
		if got != nil {
			t.Fatalf("forcerecovery off: picked %s, want none", name(got))
		}
		for _, mb := range s.Members {
			if mb.State.Flags()&pool.FlagError == 0 || mb.State.Retries.Load() != 0 {
				t.Errorf("%s without recovery: %q retries %d", name(mb), mb.State.Flags(), mb.State.Retries.Load())
			}
		}
	}

	// One member out of E (even a disabled one) means no recovery.
	s := snap(t, "B1", "B2 +D")
	member(t, s, "B1").State.MarkError(t0)
	Recover(s, t0)
	if member(t, s, "B1").State.Flags()&pool.FlagError == 0 {
		t.Fatal("recovered although B2 is not in error")
	}
	// A member whose retry time has passed leaves E through the retry, and
	// the others stay in E.
	s = snap(t, "B1 retry=1s", "B2 retry=1m")
	member(t, s, "B1").State.MarkError(t0)
	member(t, s, "B2").State.MarkError(t0)
	Recover(s, t0.Add(2*time.Second))
	if f1, f2 := member(t, s, "B1").State.Flags(), member(t, s, "B2").State.Flags(); f1 != pool.FlagInit || f2&pool.FlagError == 0 {
		t.Fatalf("after partial retry: B1 %q B2 %q", f1, f2)
	}
	// An empty balancer is left alone.
	Recover(snap(t), t0)
	// Without a config, forcerecovery is on, Apache's default.
	s = snap(t, "B1")
	s.Config = nil
	member(t, s, "B1").State.MarkError(t0)
	Recover(s, t0)
	if !member(t, s, "B1").State.Usable() {
		t.Fatal("nil config: no recovery")
	}
}

func TestFlagDisplay(t *testing.T) {
	f := func(status, want string) {
		t.Helper()
		s := snap(t, "B1 "+status)
		if got := s.Members[0].State.Flags().String(); got != want {
			t.Errorf("status %q: got %q, want %q", status, got, want)
		}
	}
	f("+O", "Init Ok ")
	f("+D", "Init Dis ")
	f("+R", "Init Spar Ok ")
	f("+H", "Init Stby Ok ")
	f("+C", "Init HcFl ")
	f("+E", "Init Err ")
	f("+N", "Init Drn Ok ")
	f("+I", "Init Ign Ok ")
	f("+S", "Init Stop ")
	f("+D-D", "Init Ok ")
	f("-O", "??? ")
}

func TestBusyNeverNegative(t *testing.T) {
	s := snap(t, "B1")
	mb := Pick(s, method(t, "bybusyness"), t0, nil)
	Done(mb, 0, 0)
	Done(mb, 0, 0)
	if b := mb.State.Busy.Load(); b != 0 {
		t.Fatalf("busy %d, want 0", b)
	}
	if e := mb.State.Elected.Load(); e != 1 {
		t.Fatalf("elected %d, want 1", e)
	}
}

func TestMethodByName(t *testing.T) {
	for _, n := range []string{"byrequests", "bytraffic", "bybusyness"} {
		m, ok := MethodByName(n)
		if !ok || m.Name() != n {
			t.Errorf("MethodByName(%q) = %v, %v", n, m, ok)
		}
	}
	if m, ok := MethodByName(""); !ok || m.Name() != "byrequests" {
		t.Errorf("default method = %v, %v; want byrequests", m, ok)
	}
	for _, n := range []string{"heartbeat", "ByRequests", "roundrobin"} {
		if _, ok := MethodByName(n); ok {
			t.Errorf("MethodByName(%q) succeeded", n)
		}
	}
}

// TestConcurrentPicks checks that lock-free picks keep the counters exact:
// every pick is elected once, Busy returns to zero, and byrequests'
// lbstatus still sums to zero over the members.
func TestConcurrentPicks(t *testing.T) {
	for _, mname := range []string{"byrequests", "bytraffic", "bybusyness"} {
		t.Run(mname, func(t *testing.T) {
			s := snap(t, "B1", "B2 lf=2", "B3 lf=3", "B4 +R", "B5 +D")
			m := method(t, mname)
			const workers, each = 8, 500
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range each {
						mb := Pick(s, m, t0, nil)
						if mb == nil || !mb.State.Usable() {
							t.Errorf("picked %v", mb)
							return
						}
						Done(mb, 100, 100)
					}
				})
			}
			wg.Wait()
			var elected uint64
			var lbsum int64
			for _, mb := range s.Members {
				elected += mb.State.Elected.Load()
				lbsum += mb.State.LBStatus.Load()
				if b := mb.State.Busy.Load(); b != 0 {
					t.Errorf("%s busy %d", name(mb), b)
				}
			}
			if elected != workers*each {
				t.Errorf("elected %d, want %d", elected, workers*each)
			}
			if lbsum != 0 {
				t.Errorf("lbstatus sums to %d", lbsum)
			}
		})
	}
}
