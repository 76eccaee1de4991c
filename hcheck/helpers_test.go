package hcheck

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// hc returns worker parameters for a checked member.
func hc(method string, interval time.Duration, passes, fails int) config.WorkerParams {
	return config.WorkerParams{HCMethod: method, HCInterval: config.Duration(interval), HCPasses: passes, HCFails: fails}
}

func member(t testing.TB, reg *pool.Registry, url string, p config.WorkerParams) *pool.Member {
	t.Helper()
	m, err := pool.NewMember(reg, "b", url, p, false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeProbe stands in for the network: it answers from a script per member
// address (pass when the script runs out), after delay.
type fakeProbe struct {
	mu          sync.Mutex
	delay       time.Duration
	script      map[string][]bool
	calls       map[string]int
	inflight    int
	maxInflight int
}

func newFake() *fakeProbe {
	return &fakeProbe{script: map[string][]bool{}, calls: map[string]int{}}
}

func (f *fakeProbe) probe(ctx context.Context, p *plan, cn *conn) (outcome, *conn) {
	f.mu.Lock()
	f.calls[p.addr]++
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	ok := true
	if s := f.script[p.addr]; len(s) > 0 {
		ok, f.script[p.addr] = s[0], s[1:]
	}
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	f.inflight--
	f.mu.Unlock()
	if !ok {
		return outcome{status: 500, why: "status 500 is not in 200-399"}, cn
	}
	return outcome{ok: true, status: 200}, cn
}

func (f *fakeProbe) count(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[addr]
}

// newTestChecker returns a checker on the fake probe, without jitter.
func newTestChecker(f *fakeProbe, o Options) *Checker {
	c := New(o)
	c.probe = f.probe
	c.jitter = func(time.Duration) time.Duration { return 0 }
	return c
}

// start runs c until the returned stop is called; stop waits for Run.
func start(c *Checker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	return func() {
		cancel()
		<-done
	}
}

// records collects log records.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// idleChecker has n members that are due every second but stopped (S), so
// each dispatch walks and reschedules them without starting a check.
func idleChecker(tb testing.TB, n int) (*Checker, *pool.Member) {
	c := New(Options{})
	c.jitter = func(time.Duration) time.Duration { return 0 }
	reg := pool.NewRegistry()
	var ms []*pool.Member
	for i := range n {
		m, err := pool.NewMember(reg, "b", fmt.Sprintf("http://10.0.%d.%d:80", i/250, i%250), hc("GET", time.Second, 1, 1), false)
		if err != nil {
			tb.Fatal(err)
		}
		m.State.SetFlags(pool.FlagStopped)
		ms = append(ms, m)
	}
	c.Update(ms, nil, 4)
	return c, ms[0]
}
