package hcheck

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

const addr = "127.0.0.1:8080"

// step advances the bubble's clock by d and lets every goroutine settle.
func step(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func flags(m *pool.Member) pool.Flags { return m.State.Flags() }

// hcfails and hcpasses count consecutive results: F P F F F trips C on
// the fifth check (Apache, counting cumulatively, on the fourth), and
// P F P P clears it on the fourth (Apache: the third).
func TestThresholdsAreConsecutive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.script[addr] = []bool{false, true, false, false, false, true, false, true, true}
		c := newTestChecker(f, Options{})
		m := member(t, pool.NewRegistry(), "http://"+addr, hc("GET", time.Second, 2, 3))
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()

		step(time.Second + time.Millisecond) // first check one interval after start
		wantC := []bool{false, false, false, false, true, true, true, true, false}
		for i, want := range wantC {
			if i > 0 {
				step(time.Second)
			}
			if got := flags(m).Has(pool.FlagHCFail); got != want {
				t.Fatalf("after check %d: C=%v, want %v (flags %q)", i+1, got, want, flags(m))
			}
		}
		h, _ := c.Health(m.ID)
		if h.Checks != 9 || len(h.History) != 9 {
			t.Fatalf("checks %d, history %d, want 9", h.Checks, len(h.History))
		}
		for i, pr := range h.History {
			want := NoChange
			switch i {
			case 4:
				want = Down
			case 8:
				want = Up
			}
			if pr.Change != want || pr.Passive {
				t.Errorf("probe %d: change %v passive %v, want %v", i+1, pr.Change, pr.Passive, want)
			}
			if pr.OK != (i == 1 || i == 5 || i == 7 || i == 8) {
				t.Errorf("probe %d: OK=%v", i+1, pr.OK)
			}
		}
		if got, want := c.Counters(), (Counters{Checks: 9, Passed: 4, Failed: 5, Down: 1, Up: 1}); got != want {
			t.Errorf("counters %+v, want %+v", got, want)
		}
	})
}

func TestFirstCheckOneIntervalAfterStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		c := newTestChecker(f, Options{})
		m := member(t, pool.NewRegistry(), "http://"+addr, hc("TCP", 5*time.Second, 1, 1))
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()
		t0 := time.Now()
		if h, _ := c.Health(m.ID); !h.Next.Equal(t0.Add(5 * time.Second)) {
			t.Fatalf("next check at %v, want %v", h.Next, t0.Add(5*time.Second))
		}
		step(5*time.Second - time.Millisecond)
		if n := f.count(addr); n != 0 {
			t.Fatalf("%d checks before the first interval", n)
		}
		step(time.Millisecond)
		if n := f.count(addr); n != 1 {
			t.Fatalf("%d checks at the first interval, want 1", n)
		}
		step(10 * time.Second)
		if n := f.count(addr); n != 3 {
			t.Fatalf("%d checks after 15s, want 3", n)
		}
	})
}

// A check slower than its interval is not started again while it runs;
// the next one starts an interval after it ended.
func TestSlowCheckDoesNotPileUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.delay = 2500 * time.Millisecond
		c := newTestChecker(f, Options{})
		m := member(t, pool.NewRegistry(), "http://"+addr, hc("GET", time.Second, 1, 1))
		c.Update([]*pool.Member{m}, nil, 16)
		stop := start(c)
		defer stop()
		// Starts at 1s, 4.5s (ended 3.5s), 8s (ended 7s).
		step(10 * time.Second)
		if n := f.count(addr); n != 3 || f.maxInflight != 1 {
			t.Fatalf("%d checks, %d at once; want 3, 1", n, f.maxInflight)
		}
		h, _ := c.Health(m.ID)
		if h.History[0].Latency != 2500*time.Millisecond {
			t.Errorf("latency %v", h.History[0].Latency)
		}
		if !h.Running {
			t.Errorf("the third check should still be running at 10s")
		}
	})
}

// ProxyHCTPsize bounds the checks in flight; 0 runs them one at a time.
func TestConcurrencyBound(t *testing.T) {
	for _, tt := range []struct{ size, want int }{{0, 1}, {2, 2}, {16, 4}} {
		synctest.Test(t, func(t *testing.T) {
			f := newFake()
			f.delay = time.Second
			c := newTestChecker(f, Options{})
			reg := pool.NewRegistry()
			var ms []*pool.Member
			for _, a := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"} {
				ms = append(ms, member(t, reg, "http://"+a, hc("GET", 10*time.Second, 1, 1)))
			}
			c.Update(ms, nil, tt.size)
			stop := start(c)
			defer stop()
			step(15 * time.Second)
			if f.maxInflight != tt.want {
				t.Errorf("size %d: %d checks at once, want %d", tt.size, f.maxInflight, tt.want)
			}
			for _, m := range ms {
				if n := f.count(m.Addr); n != 1 {
					t.Errorf("size %d: %s checked %d times by 15s, want 1", tt.size, m.Addr, n)
				}
			}
		})
	}
}

func TestStoppedMembersAreNotChecked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		c := newTestChecker(f, Options{})
		m := member(t, pool.NewRegistry(), "http://"+addr, hc("GET", time.Second, 1, 1))
		m.State.SetFlags(pool.FlagStopped)
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()
		step(5*time.Second + time.Millisecond)
		if n := f.count(addr); n != 0 {
			t.Fatalf("S member checked %d times", n)
		}
		m.State.ClearFlags(pool.FlagStopped)
		step(time.Second)
		if n := f.count(addr); n != 1 {
			t.Fatalf("checked %d times after S was cleared, want 1", n)
		}
	})
}

// A passing check clears E set by traffic (Apache 2.4.55+); failures while
// E is set do not count toward hcfails.
func TestPassClearsError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.script[addr] = []bool{false, false, true, true}
		c := newTestChecker(f, Options{})
		m := member(t, pool.NewRegistry(), "http://"+addr, hc("GET", time.Second, 2, 1))
		m.State.MarkError(time.Now())
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()
		step(2*time.Second + time.Millisecond)
		if got := flags(m); got.Has(pool.FlagHCFail) || !got.Has(pool.FlagError) {
			t.Fatalf("after two failures in E: flags %q, want E without C", got)
		}
		step(time.Second)
		if !flags(m).Has(pool.FlagError) {
			t.Fatalf("E cleared after one pass with hcpasses=2")
		}
		step(time.Second)
		if got := flags(m); !got.Usable() {
			t.Fatalf("flags %q after two passes, want usable", got)
		}
	})
}

func TestTransitionsAreLoggedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.script[addr] = []bool{false, false, false, false, true, true, true}
		var rec records
		c := newTestChecker(f, Options{Log: slog.New(&rec)})
		m := member(t, pool.NewRegistry(), "http://"+addr, hc("GET", time.Second, 1, 1))
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()
		step(7*time.Second + time.Millisecond)
		if d, u := rec.count("health check failed, member disabled"), rec.count("health check passed, member enabled"); d != 1 || u != 1 {
			t.Fatalf("logged %d disables and %d enables, want 1 each (%q)", d, u, rec.msgs)
		}
	})
}

// Update keeps a member's streaks, history and schedule when its check is
// unchanged, restarts them when it changed, and forgets removed members.
func TestUpdateKeepsStateByID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.script[addr] = []bool{false, false}
		c := newTestChecker(f, Options{})
		reg := pool.NewRegistry()
		m := member(t, reg, "http://"+addr, hc("GET", time.Second, 1, 3))
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()
		step(2*time.Second + 500*time.Millisecond)
		before, _ := c.Health(m.ID)
		if before.FailStreak != 2 {
			t.Fatalf("fail streak %d, want 2", before.FailStreak)
		}

		// A reload rebuilds the member: same ID, same check.
		c.Update([]*pool.Member{member(t, reg, "http://"+addr, hc("GET", time.Second, 1, 3))}, nil, 0)
		after, _ := c.Health(m.ID)
		if after.FailStreak != 2 || len(after.History) != 2 || !after.Next.Equal(before.Next) {
			t.Fatalf("after a reload: %+v, want the state of %+v", after, before)
		}

		// A changed interval restarts the streaks, keeps the history.
		c.Update([]*pool.Member{member(t, reg, "http://"+addr, hc("GET", 4*time.Second, 1, 3))}, nil, 0)
		changed, _ := c.Health(m.ID)
		if changed.FailStreak != 0 || len(changed.History) != 2 || !changed.Next.Equal(time.Now().Add(4*time.Second)) {
			t.Fatalf("after a changed check: %+v", changed)
		}

		c.Update(nil, nil, 0)
		if _, ok := c.Health(m.ID); ok {
			t.Fatalf("removed member still has health")
		}
		step(10 * time.Second)
		if n := f.count(addr); n != 2 {
			t.Fatalf("removed member checked again: %d checks", n)
		}
	})
}

// A reload keeps an https member's pool, and its TLS configuration with
// it, unless its SSLProxy* settings or certificates changed
// (pool.BackendOptions.Same): then its check keeps its streaks and
// schedule. Under another TLS configuration the check starts again, and
// uses the new one.
func TestReloadKeepsTheCheckOfATLSMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.script[addr] = []bool{false, false, false, false}
		c := newTestChecker(f, Options{})
		var used atomic.Pointer[tls.Config]
		c.probe = func(ctx context.Context, p *plan, cn *conn) (outcome, *conn) {
			used.Store(p.tlsConf)
			return f.probe(ctx, p, cn)
		}
		reg := pool.NewRegistry()
		load := func(verify string, be *pool.Backend) *pool.Member {
			cfg, err := config.ParseYAML("p.yaml", []byte("listen: [':80']\nserver:\n  proxy_tls: {verify: "+verify+"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			m := member(t, reg, "https://"+addr, hc("GET", time.Second, 1, 3))
			if m.Backend = be; be == nil {
				m.Backend = pool.NewBackend(m, pool.BackendOptions{Timeout: time.Second, TLS: cfg.Main.ProxyTLS})
			}
			return m
		}
		f.delay = 500 * time.Millisecond
		m := load("none", nil)
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()
		step(2*time.Second + 250*time.Millisecond)                // the second check runs until 2.5s
		c.Update([]*pool.Member{load("none", m.Backend)}, nil, 0) // the pool kept
		step(250 * time.Millisecond)
		if h, _ := c.Health(m.ID); h.FailStreak != 2 || !h.Next.Equal(time.Now().Add(500*time.Millisecond)) {
			t.Fatalf("after a reload that kept the pool, during the second check: %+v, want its result and the next check at 3s", h)
		}
		changed := load("require", nil)
		c.Update([]*pool.Member{changed}, nil, 0)
		if h, _ := c.Health(m.ID); h.FailStreak != 0 || !h.Next.Equal(time.Now().Add(time.Second)) {
			t.Fatalf("after a reload to other TLS settings: %+v, want the streaks reset and the next check a second away", h)
		}
		step(time.Second + 250*time.Millisecond)
		if used.Load() != changed.Backend.TLS {
			t.Fatal("the check after the TLS settings changed did not use the new configuration")
		}
	})
}

// A member removed, or whose check changed, while its check runs does not
// take that check's result.
func TestResultOfAStaleCheckIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.delay = 2 * time.Second
		f.script[addr] = []bool{false, false}
		c := newTestChecker(f, Options{})
		reg := pool.NewRegistry()
		m := member(t, reg, "http://"+addr, hc("GET", time.Second, 1, 1))
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()
		step(1500 * time.Millisecond) // the first check runs until 3s
		c.Update([]*pool.Member{member(t, reg, "http://"+addr, hc("HEAD", time.Second, 1, 1))}, nil, 0)
		step(2 * time.Second)
		h, _ := c.Health(m.ID)
		if len(h.History) != 0 || flags(m).Has(pool.FlagHCFail) {
			t.Fatalf("result of the GET check applied to the HEAD check: %+v, flags %q", h, flags(m))
		}
		if h.Method != "HEAD" || h.Running || h.Next.IsZero() {
			t.Fatalf("HEAD check not scheduled: %+v", h)
		}

		step(500 * time.Millisecond) // the HEAD check runs from 4s (an interval after the GET ended)
		c.Update(nil, nil, 0)
		step(5 * time.Second)
		if n := f.count(addr); n != 2 || flags(m).Has(pool.FlagHCFail) {
			t.Fatalf("%d checks, flags %q; want 2 and no C", n, flags(m))
		}
	})
}

func TestUncheckedMemberLosesC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.script[addr] = []bool{false}
		c := newTestChecker(f, Options{})
		reg := pool.NewRegistry()
		m := member(t, reg, "http://"+addr, hc("GET", time.Second, 1, 1))
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()
		step(time.Second + time.Millisecond)
		if !flags(m).Has(pool.FlagHCFail) {
			t.Fatalf("no C after a failure")
		}
		c.Update([]*pool.Member{member(t, reg, "http://"+addr, hc("NONE", 0, 0, 0))}, nil, 0)
		if flags(m).Has(pool.FlagHCFail) {
			t.Fatalf("C kept on a member no longer checked")
		}
		if h, ok := c.Health(m.ID); !ok || h.Method != "" || !h.Next.IsZero() || len(h.History) != 1 {
			t.Fatalf("health of an unchecked member: %+v %v", h, ok)
		}
	})
}

// keptConn is a check connection that records its Close.
type keptConn struct {
	net.Conn
	closed atomic.Bool
}

func (k *keptConn) Close() error {
	k.closed.Store(true)
	return nil
}

// A reload that turns a member's check off while the check runs closes the
// connection that check would have kept: no check will use it again.
func TestCheckTurnedOffClosesItsConnection(t *testing.T) {
	for name, changed := range map[string]config.WorkerParams{
		"off":     hc("NONE", 0, 0, 0),
		"changed": hc("HEAD11", time.Second, 1, 1), // a check of its own, on a connection of its own
	} {
		t.Run(name, func(t *testing.T) { testCheckChangedClosesItsConnection(t, changed) })
	}
}

func testCheckChangedClosesItsConnection(t *testing.T, changed config.WorkerParams) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.delay = 2 * time.Second
		c := newTestChecker(f, Options{})
		kept := &keptConn{}
		c.probe = func(ctx context.Context, p *plan, cn *conn) (outcome, *conn) {
			out, _ := f.probe(ctx, p, cn)
			return out, &conn{Conn: kept}
		}
		reg := pool.NewRegistry()
		m := member(t, reg, "http://"+addr, hc("GET11", time.Second, 1, 1))
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()
		step(1500 * time.Millisecond) // the check runs until 3s
		c.Update([]*pool.Member{member(t, reg, "http://"+addr, changed)}, nil, 0)
		step(1600 * time.Millisecond) // past the first check's end, before the next one's
		if !kept.closed.Load() {
			t.Fatal("the connection of a check turned off or changed meanwhile was kept open")
		}
	})
}

// Shutdown cancels the check in flight and drops its result.
func TestShutdownDropsTheCheckInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.delay = time.Hour
		f.script[addr] = []bool{false}
		c := newTestChecker(f, Options{})
		m := member(t, pool.NewRegistry(), "http://"+addr, hc("GET", time.Second, 1, 1))
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		step(2 * time.Second)
		t0 := time.Now()
		stop()
		if time.Since(t0) != 0 {
			t.Errorf("shutdown waited %v", time.Since(t0))
		}
		if h, _ := c.Health(m.ID); len(h.History) != 0 || flags(m).Has(pool.FlagHCFail) {
			t.Fatalf("canceled check recorded: %+v", h)
		}
	})
}

func TestRecordPassive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen []Probe
		c := newTestChecker(newFake(), Options{Observe: func(id string, p Probe) { seen = append(seen, p) }})
		m := member(t, pool.NewRegistry(), "http://"+addr, hc("NONE", 0, 0, 0))
		c.Update([]*pool.Member{m}, nil, 0)
		t0 := time.Now()
		for i := range HistorySize + 4 {
			c.RecordPassive(m.ID, t0.Add(time.Duration(i)*time.Second), 500+i, "failonstatus")
		}
		c.RecordPassive("balancer://b|http://unknown", t0, 503, "failonstatus")
		h, _ := c.Health(m.ID)
		if len(h.History) != HistorySize || len(seen) != HistorySize+4 {
			t.Fatalf("history %d, observed %d", len(h.History), len(seen))
		}
		for i, p := range h.History {
			if !p.Passive || p.OK || p.Status != 504+i || !p.Time.Equal(t0.Add(time.Duration(4+i)*time.Second)) || p.Why != "failonstatus" {
				t.Fatalf("probe %d: %+v", i, p)
			}
		}
		if got := c.Counters().Passive; got != HistorySize+4 {
			t.Errorf("passive counter %d", got)
		}
		if got := flags(m); !got.Usable() {
			t.Errorf("RecordPassive changed flags: %q", got)
		}
	})
}

func TestDefaultJitter(t *testing.T) {
	c := New(Options{})
	seen := map[bool]bool{}
	for range 1000 {
		d := c.jitter(10 * time.Second)
		if d < 0 || d > time.Second {
			t.Fatalf("jitter %v outside [0, 1s]", d)
		}
		seen[d > 500*time.Millisecond] = true
	}
	if len(seen) != 2 {
		t.Fatalf("jitter is not spread: %v", seen)
	}
}

// A panic inside one check (a sluice bug) is logged, records no result
// and leaves the member as it was; checking goes on an interval later.
func TestPanicInACheckIsContained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.script[addr] = []bool{false, false}
		var rec records
		c := newTestChecker(f, Options{Log: slog.New(&rec)})
		calls := 0
		c.probe = func(ctx context.Context, p *plan, cn *conn) (outcome, *conn) {
			if calls++; calls == 2 {
				panic("probe bug")
			}
			return f.probe(ctx, p, cn)
		}
		m := member(t, pool.NewRegistry(), "http://"+addr, hc("GET", time.Second, 1, 2))
		c.Update([]*pool.Member{m}, nil, 0)
		stop := start(c)
		defer stop()

		step(2*time.Second + time.Millisecond) // a failure, then the panic
		if n := rec.count("health check failed inside sluice (a sluice bug, please report it)"); n != 1 {
			t.Fatalf("logged the panic %d times, want once (%q)", n, rec.msgs)
		}
		if h, _ := c.Health(m.ID); h.Checks != 1 || flags(m).Has(pool.FlagHCFail) {
			t.Fatalf("after the panic: %d checks recorded, C=%v; want 1 and the member kept in", h.Checks, flags(m).Has(pool.FlagHCFail))
		}
		step(time.Second) // the second failure in a row, an interval later
		if h, _ := c.Health(m.ID); h.Checks != 2 || !flags(m).Has(pool.FlagHCFail) {
			t.Fatalf("after the next check: %d checks recorded, C=%v; want 2 and C set", h.Checks, flags(m).Has(pool.FlagHCFail))
		}
	})
}

// A member removed while its due check waits for a free slot (ProxyHCTPsize
// reached) is not checked afterwards, and the slot goes on to the others.
func TestRemovedWhileWaitingForASlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.delay = time.Second
		c := newTestChecker(f, Options{})
		reg := pool.NewRegistry()
		a := member(t, reg, "http://10.0.0.1:80", hc("GET", 10*time.Second, 1, 1))
		b := member(t, reg, "http://10.0.0.2:80", hc("GET", 10*time.Second, 1, 1))
		d := member(t, reg, "http://10.0.0.3:80", hc("GET", 10*time.Second, 1, 1))
		c.Update([]*pool.Member{a, b, d}, nil, 1)
		stop := start(c)
		defer stop()
		step(10*time.Second + 500*time.Millisecond) // one check runs, two wait
		if n := f.count(a.Addr) + f.count(b.Addr) + f.count(d.Addr); n != 1 {
			t.Fatalf("%d checks started with one slot", n)
		}
		waiting := b
		if f.count(b.Addr) == 1 {
			waiting = d
		}
		var keep []*pool.Member
		for _, m := range []*pool.Member{a, b, d} {
			if m != waiting {
				keep = append(keep, m)
			}
		}
		c.Update(keep, nil, 1)
		step(5 * time.Second)
		if n := f.count(waiting.Addr); n != 0 {
			t.Errorf("a member removed while waiting for a slot was checked %d times", n)
		}
		for _, m := range keep {
			if n := f.count(m.Addr); n != 1 {
				t.Errorf("%s checked %d times by 15.5s, want 1", m.Addr, n)
			}
		}
	})
}
