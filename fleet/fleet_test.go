package fleet

// Tests against a real etcd (fleet/etcdtest): the compare-on-revision
// transaction, the watch, the reload after a compaction, etcd down and
// back, and the leased health views.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/admin"
	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/fleet/etcdtest"
)

const waitTimeout = 10 * time.Second

// target records what a Store hands it.
type target struct {
	mu     sync.Mutex
	recs   map[string]admin.Record
	peers  map[string]string
	resets int
	health string
}

func newTarget(health string) *target {
	return &target{recs: map[string]admin.Record{}, peers: map[string]string{}, health: health}
}

func (t *target) ApplyRecord(balancer string, rec []byte, rev int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rec == nil {
		delete(t.recs, balancer)
		return
	}
	t.recs[balancer] = admin.Record{Balancer: balancer, Data: rec, Rev: rev}
}

func (t *target) Reset(recs []admin.Record, peers map[string][]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resets++
	clear(t.recs)
	for _, r := range recs {
		t.recs[r.Balancer] = r
	}
	clear(t.peers)
	for id, p := range peers {
		t.peers[id] = string(p)
	}
}

func (t *target) SetPeer(instance string, rec []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rec == nil {
		delete(t.peers, instance)
		return
	}
	t.peers[instance] = string(rec)
}

func (t *target) HealthRecord() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return []byte(t.health)
}

func (t *target) setHealth(h string) {
	t.mu.Lock()
	t.health = h
	t.mu.Unlock()
}

// record is balancer's record as t has it.
func (t *target) record(balancer string) (string, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.recs[balancer]
	return string(r.Data), r.Rev
}

func (t *target) peer(instance string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.peers[instance]
}

func newStore(t *testing.T, endpoint string) *Store {
	t.Helper()
	s, err := New(config.Fleet{Etcd: config.Etcd{
		Endpoints: []string{endpoint}, Prefix: "/test", Timeout: config.Duration(time.Second),
	}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// run runs s.Run until the test ends.
func run(t *testing.T, s *Store, instance string, tg Target) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, instance, tg) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func load(t *testing.T, s *Store, tg Target) {
	t.Helper()
	if err := s.Load(context.Background(), tg); err != nil {
		t.Fatalf("load: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func save(t *testing.T, s *Store, balancer, rec string, rev int64) int64 {
	t.Helper()
	n, err := s.Save(context.Background(), balancer, []byte(rec), rev)
	if err != nil {
		t.Fatalf("save %s at %d: %v", balancer, rev, err)
	}
	return n
}

func TestSaveComparesRevisions(t *testing.T) {
	e := etcdtest.Start(t)
	s := newStore(t, e.Endpoint())
	if _, err := s.Save(context.Background(), "app", []byte("x"), 0); !errors.Is(err, admin.ErrUnavailable) {
		t.Fatalf("save before any load: %v, want ErrUnavailable", err)
	}
	load(t, s, newTarget(""))
	r1 := save(t, s, "app", "one", 0)
	_, err := s.Save(context.Background(), "app", []byte("two"), 0)
	var stale *admin.StaleError
	if !errors.As(err, &stale) || stale.Rev != r1 {
		t.Fatalf("save at revision 0 over %d: %v", r1, err)
	}
	r2 := save(t, s, "app", "two", r1)
	if r2 <= r1 {
		t.Fatalf("revision %d after %d", r2, r1)
	}
	// Other balancers have their own records.
	save(t, s, "web", "w", 0)

	// Concurrent writes from the same revision: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.Save(context.Background(), "app", []byte("racer "+strconv.Itoa(i)), r2)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.As(err, &stale):
			t.Errorf("a losing write failed with %v, want *StaleError", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent writes won, want 1", won, len(errs))
	}
	c := s.Counters()
	if c.Saved != 4 || c.Conflicts != 8 || c.Unavailable != 1 || c.Loads != 1 || !c.Synced || c.Revision == 0 {
		t.Errorf("counters %+v, want 4 saved, 8 conflicts, 1 unavailable, 1 load, synced at a revision", c)
	}
}

func TestWatchAppliesChanges(t *testing.T) {
	e := etcdtest.Start(t)
	a, b := newStore(t, e.Endpoint()), newStore(t, e.Endpoint())
	ta, tb := newTarget(""), newTarget("")
	load(t, a, ta)
	rev := save(t, a, "app", "before", 0)
	load(t, b, tb)
	if got, r := tb.record("app"); got != "before" || r != rev {
		t.Fatalf("loaded %q at %d, want %q at %d", got, r, "before", rev)
	}
	run(t, b, "b", tb)
	rev = save(t, a, "app", "after", rev)
	waitFor(t, "record at b", func() bool { got, r := tb.record("app"); return got == "after" && r == rev })

	// A deleted record is handed over as nil.
	cli := client(t, e)
	if _, err := cli.Delete(context.Background(), a.balancerKey("app")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deletion at b", func() bool { got, _ := tb.record("app"); return got == "" })
	// Keys sluice does not write are ignored.
	if _, err := cli.Put(context.Background(), "/test/other/x", "y"); err != nil {
		t.Fatal(err)
	}
	last := save(t, a, "app", "again", 0)
	waitFor(t, "the next record at b", func() bool { got, _ := tb.record("app"); return got == "again" })
	// b was handed three record changes (after, the deletion, again) and
	// followed the prefix up to the last (or a later health view).
	waitFor(t, "b's revision", func() bool { return b.Counters().Revision >= last })
	if c := b.Counters(); c.Changes != 3 || c.Loads != 1 || !c.Connected {
		t.Errorf("b's counters %+v, want 3 changes, 1 load, connected", c)
	}
}

// TestEmptyValueIsNotDeletion: a record put with an empty value (etcd's
// gateway then omits the value) is handed over as a record, not as nil:
// its revision is the one the next change must replace.
func TestEmptyValueIsNotDeletion(t *testing.T) {
	e := etcdtest.Start(t)
	a, b := newStore(t, e.Endpoint()), newStore(t, e.Endpoint())
	ta, tb := newTarget(""), newTarget("")
	load(t, a, ta)
	save(t, a, "app", "before", 0)
	load(t, b, tb)
	run(t, b, "b", tb)
	rev, err := client(t, e).Put(context.Background(), a.balancerKey("app"), "")
	if err != nil {
		t.Fatal(err)
	}
	has := func(tg *target) bool {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		r, ok := tg.recs["app"]
		return ok && r.Data != nil && len(r.Data) == 0 && r.Rev == rev
	}
	waitFor(t, "the empty record at b", func() bool { return has(tb) })
	load(t, a, ta)
	if !has(ta) {
		t.Errorf("the empty record was loaded as %+v", ta.recs["app"])
	}
}

// TestCompactionReloads: a watcher behind a compaction reloads everything
// and goes on from there.
func TestCompactionReloads(t *testing.T) {
	e := etcdtest.Start(t)
	a, b := newStore(t, e.Endpoint()), newStore(t, e.Endpoint())
	ta, tb := newTarget(""), newTarget("")
	load(t, a, ta)
	load(t, b, tb) // b's watch will start from here
	var rev int64
	for i := range 5 {
		rev = save(t, a, "app", "v"+strconv.Itoa(i), rev)
	}
	save(t, a, "gone", "x", 0)
	cli := client(t, e)
	if _, err := cli.Delete(context.Background(), a.balancerKey("gone")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(context.Background(), rev+2); err != nil {
		t.Fatal(err)
	}
	run(t, b, "b", tb)
	waitFor(t, "reload at b", func() bool { got, r := tb.record("app"); return got == "v4" && r == rev })
	tb.mu.Lock()
	resets := tb.resets
	tb.mu.Unlock()
	if resets != 2 || b.Counters().Loads != 2 {
		t.Errorf("%d whole loads (counted %d), want 2 (start, compaction)", resets, b.Counters().Loads)
	}
	rev = save(t, a, "app", "later", rev)
	waitFor(t, "the change after the reload", func() bool { got, r := tb.record("app"); return got == "later" && r == rev })
}

// TestEtcdDownAndBack: writes fail with ErrUnavailable within the timeout
// while etcd is down; after a restart the watch resumes, and the health
// views come back.
func TestEtcdDownAndBack(t *testing.T) {
	e := etcdtest.Start(t)
	a, b := newStore(t, e.Endpoint()), newStore(t, e.Endpoint())
	ta, tb := newTarget(`{"a":1}`), newTarget(`{"b":1}`)
	load(t, a, ta)
	load(t, b, tb)
	run(t, a, "a", ta)
	run(t, b, "b", tb)
	rev := save(t, a, "app", "up", 0)
	waitFor(t, "record at b", func() bool { _, r := tb.record("app"); return r == rev })
	waitFor(t, "b's health at a", func() bool { return ta.peer("b") == `{"b":1}` })

	e.Kill()
	_, err := a.Save(context.Background(), "app", []byte("down"), rev)
	if !errors.Is(err, admin.ErrUnavailable) {
		t.Fatalf("save with etcd down: %v, want ErrUnavailable", err)
	}
	waitFor(t, "disconnected status", func() bool { return !a.Status().Connected })
	if c := a.Counters(); c.Connected || c.Unavailable != 1 || !c.Synced {
		t.Errorf("counters with etcd down: %+v, want disconnected, 1 unavailable, still synced", c)
	}
	if got, _ := tb.record("app"); got != "up" {
		t.Errorf("b lost its state while etcd was down: %q", got)
	}
	tb.setHealth(`{"b":2}`)

	e.Restart()
	waitFor(t, "a write after the restart", func() bool {
		n, err := a.Save(context.Background(), "app", []byte("back"), rev)
		if err == nil {
			rev = n
		}
		return err == nil
	})
	waitFor(t, "resync at b", func() bool { got, r := tb.record("app"); return got == "back" && r == rev })
	waitFor(t, "b's new health at a", func() bool { return ta.peer("b") == `{"b":2}` })
	if st := a.Status(); !st.Connected || !st.Synced || st.Instance != "a" {
		t.Errorf("status after the restart: %+v", st)
	}
}

// TestHealthLeaves: an instance that stops withdraws its health view.
func TestHealthLeaves(t *testing.T) {
	e := etcdtest.Start(t)
	a, b := newStore(t, e.Endpoint()), newStore(t, e.Endpoint())
	ta, tb := newTarget(`{}`), newTarget(`{"v":1}`)
	load(t, a, ta)
	run(t, a, "a", ta)
	load(t, b, tb)
	stopB := run(t, b, "b/1", tb) // a name that needs escaping in the key
	waitFor(t, "b's health at a", func() bool { return ta.peer("b/1") == `{"v":1}` })
	tb.setHealth(`{"v":2}`)
	waitFor(t, "b's changed health at a", func() bool { return ta.peer("b/1") == `{"v":2}` })
	stopB()
	waitFor(t, "b gone at a", func() bool { return ta.peer("b/1") == "" })
}

// client changes etcd behind the stores' back.
func client(t *testing.T, e *etcdtest.Etcd) *etcdtest.Client {
	t.Helper()
	return e.Client()
}

// panicky is a target whose ApplyRecord panics for one balancer, and whose
// Reset panics once: a fault in applying stored state.
type panicky struct {
	*target
	resetPanicked bool
}

func (p *panicky) ApplyRecord(balancer string, rec []byte, rev int64) {
	if balancer == "boom" {
		panic("applying boom")
	}
	p.target.ApplyRecord(balancer, rec, rev)
}

func (p *panicky) Reset(recs []admin.Record, peers map[string][]byte) {
	if !p.resetPanicked {
		p.resetPanicked = true
		panic("resetting")
	}
	p.target.Reset(recs, peers)
}

// TestPanicInApplyIsContained: a panic while a record is applied is logged
// and that record skipped; the watch goes on with the next, and the
// process (here the test binary) lives.
func TestPanicInApplyIsContained(t *testing.T) {
	e := etcdtest.Start(t)
	var logs syncBuffer
	b, err := New(config.Fleet{Etcd: config.Etcd{
		Endpoints: []string{e.Endpoint()}, Prefix: "/test", Timeout: config.Duration(time.Second),
	}}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	a := newStore(t, e.Endpoint())
	load(t, a, newTarget(""))
	tb := &panicky{target: newTarget("")}
	load(t, b, tb) // Reset panics
	if !strings.Contains(logs.String(), "resetting") {
		t.Errorf("the panic in Reset was not logged: %s", logs.String())
	}
	run(t, b, "b", tb)
	save(t, a, "boom", "x", 0)
	last := save(t, a, "app", "after", 0)
	waitFor(t, "the record after the panic", func() bool { got, _ := tb.record("app"); return got == "after" })
	waitFor(t, "b's revision", func() bool { return b.Counters().Revision >= last })
	if !strings.Contains(logs.String(), "applying boom") || !strings.Contains(logs.String(), "follow.go") {
		t.Errorf("the panic in ApplyRecord was not logged with its stack: %s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer the store's goroutines may log to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
