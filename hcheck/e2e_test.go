package hcheck

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// These tests run the scheduler on the real clock against real backends;
// they wait on probe events, never on sleeps.

// watch runs a checker over ms and returns its probes as they happen.
func watch(t *testing.T, ms []*pool.Member, exprs Exprs) (*Checker, <-chan Probe) {
	t.Helper()
	events := make(chan Probe, 256)
	c := New(Options{Observe: func(_ string, p Probe) {
		select {
		case events <- p:
		default: // the test stopped reading
		}
	}})
	c.Update(ms, exprs, 4)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return c, events
}

// waitFor returns the first probe that satisfies cond.
func waitFor(t *testing.T, events <-chan Probe, what string, cond func(Probe) bool) Probe {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case p := <-events:
			if cond(p) {
				return p
			}
		case <-timeout:
			t.Fatalf("no probe %s within 10s", what)
		}
	}
}

func TestEndToEndFailingEndpointTripsAndRecovers(t *testing.T) {
	var status atomic.Int64
	status.Store(500)
	b := newBackend(t, func(int, string) string { return reply(int(status.Load()), "") })
	m := member(t, pool.NewRegistry(), "http://"+b.addr, hc("GET11", 20*time.Millisecond, 2, 3))
	c, events := watch(t, []*pool.Member{m}, nil)

	down := waitFor(t, events, "tripping C", func(p Probe) bool { return p.Change == Down })
	if !m.State.Flags().Has(pool.FlagHCFail) || down.OK || down.Status != 500 || down.Why != "status 500 is not in 200-399" {
		t.Fatalf("down probe %+v, flags %q", down, m.State.Flags())
	}
	h, _ := c.Health(m.ID)
	if n := len(h.History); n < 3 || h.History[n-1].Change != Down || h.History[n-2].OK || h.History[n-3].OK {
		t.Fatalf("history before C: %+v", h.History)
	}

	status.Store(200)
	up := waitFor(t, events, "clearing C", func(p Probe) bool { return p.Change == Up })
	if !m.State.Usable() || !up.OK || up.Status != 200 || up.Latency <= 0 {
		t.Fatalf("up probe %+v, flags %q", up, m.State.Flags())
	}
	if got := c.Counters(); got.Down != 1 || got.Up != 1 {
		t.Fatalf("counters %+v", got)
	}
	if _, accepted, _ := b.stats(); accepted != 1 {
		t.Errorf("%d connections: HTTP/1.1 checks should share one", accepted)
	}
}

func TestEndToEndSlowEndpointDoesNotPileUp(t *testing.T) {
	b := newBackend(t, func(int, string) string { return reply(200, "") })
	b.delay = 60 * time.Millisecond // six intervals
	m := member(t, pool.NewRegistry(), "http://"+b.addr, hc("GET", 10*time.Millisecond, 1, 1))
	_, events := watch(t, []*pool.Member{m}, nil)
	var probes []Probe
	for range 4 {
		probes = append(probes, waitFor(t, events, "", func(Probe) bool { return true }))
	}
	for i := 1; i < len(probes); i++ {
		prevEnd := probes[i-1].Time.Add(probes[i-1].Latency)
		if probes[i].Time.Before(prevEnd) {
			t.Fatalf("check %d started at %v before check %d ended at %v", i+1, probes[i].Time, i, prevEnd)
		}
	}
	if heads, _, maxActive := b.stats(); maxActive != 1 || len(heads) > 5 {
		t.Fatalf("%d checks at once, %d sent; want 1 at a time", maxActive, len(heads))
	}
}

func TestEndToEndBodyExpression(t *testing.T) {
	var body atomic.Value
	body.Store("<h1>Under maintenance</h1>")
	b := newBackend(t, func(int, string) string { return reply(200, body.Load().(string)) })
	exprs, err := CompileExprs([]config.HCExpr{{Name: "in_maint", Expr: `hc('body') !~ /Under maintenance/`}})
	if err != nil {
		t.Fatal(err)
	}
	p := hc("GET", 20*time.Millisecond, 1, 1)
	p.HCExpr, p.HCURI = "in_maint", "/status.php"
	m := member(t, pool.NewRegistry(), "http://"+b.addr+"/app/", p)
	_, events := watch(t, []*pool.Member{m}, exprs)
	down := waitFor(t, events, "tripping C", func(p Probe) bool { return p.Change == Down })
	if !strings.HasPrefix(down.Why, "hcexpr in_maint: hc('body') !~ /Under maintenance/ was false") {
		t.Fatalf("why %q", down.Why)
	}
	body.Store("all good")
	waitFor(t, events, "clearing C", func(p Probe) bool { return p.Change == Up })
	if heads, _, _ := b.stats(); !strings.HasPrefix(heads[0], "GET /app/status.php HTTP/1.0\r\n") {
		t.Fatalf("request %q", heads[0])
	}
}
