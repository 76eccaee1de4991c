package admin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	json "github.com/goccy/go-json"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/hcheck"
	"github.com/sluiceproxy/sluice/pool"
)

// memStore is a Store in memory: one revision counter, records by
// balancer.
type memStore struct {
	mu   sync.Mutex
	rev  int64
	recs map[string]Record
	down bool
}

func (s *memStore) Save(_ context.Context, balancer string, rec []byte, rev int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, fmt.Errorf("%w: test", ErrUnavailable)
	}
	if cur := s.recs[balancer].Rev; cur != rev {
		return 0, &StaleError{Rev: cur}
	}
	s.rev++
	s.recs[balancer] = Record{Balancer: balancer, Data: rec, Rev: s.rev}
	return s.rev, nil
}

func (s *memStore) Status() StoreStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StoreStatus{Instance: "self:9090", Connected: !s.down, Synced: true}
}

// put stores a record as another instance would, returning its revision.
func (s *memStore) put(t *testing.T, r stateBalancer) Record {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return s.putData(r.Name, data)
}

// putData stores data as balancer's record, whatever it holds.
func (s *memStore) putData(balancer string, data []byte) Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev++
	s.recs[balancer] = Record{Balancer: balancer, Data: data, Rev: s.rev}
	return s.recs[balancer]
}

// fleetFixture is the fixture in fleet mode over store; changed counts
// membership changes.
func fleetFixture(t *testing.T, store *memStore, changed *int) *fixture {
	t.Helper()
	f := newFixture(t, func(b *config.Balancer) { b.Growth = 2 })
	f.a = New(Options{
		Log:     slog.New(slog.NewTextHandler(f.logs, nil)),
		Store:   store,
		Live:    func() *Scope { return f.sc },
		Changed: func() { *changed++ },
	})
	t.Cleanup(f.a.Close)
	return f
}

func newMemStore() *memStore { return &memStore{recs: map[string]Record{}} }

func TestFleetWrites(t *testing.T) {
	store, changed := newMemStore(), 0
	f := fleetFixture(t, store, &changed)
	// Before any change the record does not exist: revision 0.
	if tag := f.etag(b1); tag != `"0"` || f.etag(app) != `"0"` {
		t.Fatalf("ETags before any change: %s %s", tag, f.etag(app))
	}
	f.member(0).State.SetFlags(pool.FlagHCFail) // the local health check's
	r := f.do("PATCH", b1, `{"loadfactor":3,"status":"+D"}`, "If-Match", `"0"`)
	if r.status != 200 || r.header["Etag"] != `"1"` {
		t.Fatalf("PATCH: %d %v %s", r.status, r.header, r.body)
	}
	// Every member of the balancer shares the record's revision.
	if f.etag(b2) != `"1"` || f.etag(app) != `"1"` {
		t.Errorf("ETags after the change: %s %s", f.etag(b2), f.etag(app))
	}
	var saved stateBalancer
	if err := json.Unmarshal(store.recs["app"].Data, &saved); err != nil {
		t.Fatal(err)
	}
	if m := saved.Members[0]; m.LoadFactor != 3 || m.Flags != "D" {
		t.Errorf("saved %+v, want loadfactor 3 and D without the local C", m)
	}

	// Another instance saved revision 2: this one still shows 1, its If-Match
	// passes here and fails in the store (412 with the stored revision).
	store.put(t, saved)
	r = f.do("PATCH", b1, `{"loadfactor":4}`, "If-Match", `"1"`)
	if r.status != 412 || r.header["Etag"] != `"2"` {
		t.Errorf("stale in the store: %d %v %s", r.status, r.header, r.body)
	}
	// If-Match: * matched only this instance's view: 409.
	if r = f.do("PATCH", b1, `{"loadfactor":4}`, "If-Match", "*"); r.status != 409 {
		t.Errorf("*, stale in the store: %d %s", r.status, r.body)
	}
	// A stale ETag is refused here already.
	if r = f.do("PATCH", b1, `{"loadfactor":4}`, "If-Match", `"0"`); r.status != 412 {
		t.Errorf("stale here: %d %s", r.status, r.body)
	}

	// The store down: 503 with the reason, nothing changed.
	f.a.ApplyRecord("app", store.recs["app"].Data, store.recs["app"].Rev)
	before := f.bal.Load()
	store.down = true
	for _, w := range []struct{ method, uri, body string }{
		{"PATCH", b1, `{"loadfactor":5}`},
		{"PATCH", b2, `{"status":"+D"}`},
		{"POST", add, `{"url":"http://b3:8080"}`},
		{"DELETE", b2, ``},
	} {
		r = f.write(w.method, w.uri, app, w.body)
		if r.status != 503 || !strings.Contains(r.body, `"fleet store unavailable: nothing changed"`) {
			t.Errorf("%s %s with the store down: %d %s", w.method, w.uri, r.status, r.body)
		}
	}
	if f.bal.Load() != before || f.member(0).LBFactor != 300 || !f.member(1).State.Usable() {
		t.Error("a change the store did not take was applied")
	}
	store.down = false
	if r = f.write("POST", add, app, `{"url":"http://b3:8080","status":"-D"}`); r.status != 201 || changed != 1 {
		t.Errorf("POST with the store back: %d %s; %d membership changes", r.status, r.body, changed)
	}
}

// TestFleetApply: records saved by other instances become live as local
// changes do; older ones are ignored; a deleted one restores the
// configuration.
func TestFleetApply(t *testing.T) {
	store, changed := newMemStore(), 0
	f := fleetFixture(t, store, &changed)
	f.member(1).State.SetFlags(pool.FlagHCFail) // this instance's health view of b2
	rec := stateBalancer{
		Name: "app", LBMethod: "bybusyness", Timeout: "5s", Removed: []string{"http://b1:8080"},
		Members: []stateMember{
			{URL: "http://b2:8080", LoadFactor: 2, Route: "r2", Flags: "N"},
			{URL: "http://b3:8080", LoadFactor: 1, Route: "r3", Flags: ""},
		},
	}
	r := store.put(t, rec)
	f.a.ApplyRecord("app", r.Data, r.Rev)
	s := f.bal.Load()
	if s.Config.LBMethod != "bybusyness" || len(s.Members) != 2 || s.Members[0].Name != "http://b2:8080" || s.Members[1].Name != "http://b3:8080" {
		t.Fatalf("not applied: %+v %v", s.Config, s.Names)
	}
	if m := s.Members[0]; m.LBFactor != 200 || m.State.Flags() != pool.FlagInit|pool.FlagDrain|pool.FlagHCFail || m.State.LBStatus.Load() != 200 {
		t.Errorf("b2: lbfactor %d flags %v lbstatus %d; want 200, Init Drn with this instance's C kept, recalculated", m.LBFactor, m.State.Flags(), m.State.LBStatus.Load())
	}
	if changed != 1 || f.etag(app) != `"1"` {
		t.Errorf("%d membership changes, ETag %s", changed, f.etag(app))
	}
	if !strings.Contains(f.logs.String(), `msg="fleet change applied" balancer=app revision=1`) {
		t.Errorf("no log line:\n%s", f.logs)
	}
	// The same or an older revision changes nothing.
	f.a.ApplyRecord("app", []byte(`{"name":"app","timeout":"bad"}`), 1)
	if f.bal.Load() != s {
		t.Error("an old revision was applied")
	}
	// A record that cannot be read is logged and ignored.
	f.a.ApplyRecord("app", []byte(`{"name":`), 7)
	if f.bal.Load() != s || !strings.Contains(f.logs.String(), "cannot read a balancer record") {
		t.Error("a broken record was applied")
	}
	// Deleted: back to the configuration.
	f.a.ApplyRecord("app", nil, 8)
	s = f.bal.Load()
	if s.Config.LBMethod != "byrequests" || len(s.Names) != 2 || s.Names[0] != "http://b1:8080" || f.member(1).State.Flags() != pool.FlagInit|pool.FlagHCFail {
		t.Errorf("not back to the configuration: %s %v %v", s.Config.LBMethod, s.Names, f.member(1).State.Flags())
	}
	if f.etag(app) != `"0"` {
		t.Errorf("ETag without a record: %s", f.etag(app))
	}

	// Reset: the whole state; a balancer without a record goes back.
	r = store.put(t, rec)
	f.a.Reset([]Record{r}, nil)
	if len(f.bal.Load().Names) != 2 || f.bal.Load().Names[1] != "http://b3:8080" {
		t.Errorf("reset did not apply: %v", f.bal.Load().Names)
	}
	f.a.Reset(nil, nil)
	if f.bal.Load().Names[0] != "http://b1:8080" || f.etag(app) != `"0"` {
		t.Errorf("reset did not restore the configuration: %v", f.bal.Load().Names)
	}
}

// TestFleetUnreadableRecord: a record that cannot be read leaves the
// balancer as it was, but its revision is the one the next change must
// replace: the balancer stays writable.
func TestFleetUnreadableRecord(t *testing.T) {
	store, changed := newMemStore(), 0
	f := fleetFixture(t, store, &changed)
	if r := f.write("PATCH", b1, b1, `{"loadfactor":3}`); r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	before := f.bal.Load()
	bad := store.putData("app", []byte(`{"name":`))
	f.a.ApplyRecord("app", bad.Data, bad.Rev)
	if f.bal.Load() != before || !strings.Contains(f.logs.String(), "cannot read a balancer record") {
		t.Fatal("an unreadable record was applied")
	}
	if tag := f.etag(app); tag != revTag(bad.Rev) {
		t.Errorf("ETag %s after an unreadable record at %d", tag, bad.Rev)
	}
	if r := f.do("PATCH", b1, `{"loadfactor":4}`, "If-Match", "*"); r.status != 200 || f.member(0).LBFactor != 400 {
		t.Fatalf("a change over the unreadable record: %d %s", r.status, r.body)
	}
	if store.recs["app"].Rev <= bad.Rev {
		t.Error("the unreadable record was not replaced")
	}

	// Unreadable from the start: nothing to restore, still writable.
	store, changed = newMemStore(), 0
	f = fleetFixture(t, store, &changed)
	bad = store.putData("app", []byte(`[]`))
	f.a.Reset([]Record{bad}, nil)
	if err := f.a.Restore(f.sc, func() {}); err != nil {
		t.Fatal(err)
	}
	if r := f.write("PATCH", b1, b1, `{"loadfactor":2}`); r.status != 200 || f.member(0).LBFactor != 200 {
		t.Errorf("a change over an unreadable first record: %d %s", r.status, r.body)
	}
}

// TestFleetRecordChecked: a record from etcd is held to what the admin API
// accepts (threats.md ADM-04); one it would have refused is logged and the
// balancer kept as it is, when it arrives and at a restore.
func TestFleetRecordChecked(t *testing.T) {
	members := func(urls ...string) []stateMember {
		var ms []stateMember
		for _, u := range urls {
			ms = append(ms, stateMember{URL: u, LoadFactor: 1})
		}
		return ms
	}
	many := 100000
	for name, c := range map[string]struct {
		edit func(*stateBalancer)
		log  string
	}{
		"socket":      {func(r *stateBalancer) { r.Members = members("unix:/run/docker.sock|http://localhost/") }, "cannot be a Unix domain socket"},
		"maxattempts": {func(r *stateBalancer) { r.MaxAttempts = &many }, "maxattempts: must be a whole number from 0 to 99"},
		"negative":    {func(r *stateBalancer) { r.Timeout = "-5s" }, "timeout: must be seconds from 0 to 7200"},
		"huge":        {func(r *stateBalancer) { r.Timeout = "2562047h" }, "timeout: must be seconds from 0 to 7200"},
		"growth":      {func(r *stateBalancer) { r.Members = members("http://b3", "http://b4", "http://b5") }, "would have 5 members (growth allows 4)"},
		"locked":      {func(*stateBalancer) {}, "has nonce=None"},
	} {
		t.Run(name, func(t *testing.T) {
			store, changed := newMemStore(), 0
			f := fleetFixture(t, store, &changed)
			if name == "locked" {
				f.sc.Entries[0].Configured.Nonce = "None"
			}
			rec := stateBalancer{Name: "app", LBMethod: "bybusyness", Timeout: "0s"}
			c.edit(&rec)
			before := f.bal.Load()
			r := store.put(t, rec)
			f.a.ApplyRecord("app", r.Data, r.Rev)
			if f.bal.Load() != before || !strings.Contains(f.logs.String(), "cannot apply a balancer record") || !strings.Contains(f.logs.String(), c.log) {
				t.Fatalf("applied, or not logged with %q:\n%s", c.log, f.logs)
			}
			f.logs.Reset()
			if err := f.a.Restore(f.sc, func() {}); err != nil {
				t.Fatal(err)
			}
			if f.bal.Load().Config.LBMethod != "byrequests" || !strings.Contains(f.logs.String(), "kept as configured") {
				t.Errorf("restored: %s\n%s", f.bal.Load().Config.LBMethod, f.logs)
			}
		})
	}

	// A setting out of the admin's ranges that the configuration gives is
	// kept; a field this version does not know (a newer instance's, in a
	// rolling upgrade) is dropped, the rest applied.
	store, changed := newMemStore(), 0
	f := fleetFixture(t, store, &changed)
	f.sc.Entries[0].Configured.Timeout = config.Duration(3 * time.Hour)
	r := store.put(t, stateBalancer{Name: "app", LBMethod: "bybusyness", Timeout: "3h0m0s"})
	f.a.ApplyRecord("app", r.Data, r.Rev)
	if got := f.bal.Load().Config; got.LBMethod != "bybusyness" || got.Timeout.D() != 3*time.Hour {
		t.Errorf("the configured timeout was refused: %s %v\n%s", got.LBMethod, got.Timeout.D(), f.logs)
	}
	r = store.putData("app", []byte(`{"name":"app","lbmethod":"byrequests","timeout":"0s","admin":true}`))
	f.a.ApplyRecord("app", r.Data, r.Rev)
	if f.bal.Load().Config.LBMethod != "byrequests" {
		t.Errorf("a record with a field this version does not know was not applied:\n%s", f.logs)
	}
}

// TestFleetKeepsDrainingDisabled: a record that arrives while a DELETE
// waits for its member to drain does not enable that member again; the
// DELETE then refuses (the balancer changed) and the member stays disabled,
// as it says.
func TestFleetKeepsDrainingDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, changed := newMemStore(), 0
		f := fleetFixture(t, store, &changed)
		m := f.member(1)
		m.State.Busy.Store(1)
		tag := f.etag(b2)
		done := make(chan reply)
		go func() { done <- f.do("DELETE", b2+"?timeout=1m", "", "If-Match", tag) }()
		synctest.Wait() // draining, D set
		r := store.put(t, stateBalancer{Name: "app", LBMethod: "bybusyness", Timeout: "0s",
			Members: []stateMember{{URL: "http://b1:8080", LoadFactor: 1}, {URL: "http://b2:8080", LoadFactor: 1}}})
		f.a.ApplyRecord("app", r.Data, r.Rev)
		if m.State.Usable() {
			t.Error("a fleet record enabled a draining member")
		}
		if err := f.a.Restore(f.sc, func() {}); err != nil || m.State.Usable() {
			t.Errorf("a restore enabled a draining member (%v)", err)
		}
		m.State.Busy.Store(0)
		got := <-done
		if got.status != 409 || !strings.Contains(got.body, "stays disabled") || m.State.Usable() {
			t.Errorf("DELETE: %d %s; member usable: %v", got.status, got.body, m.State.Usable())
		}
		// Once the DELETE ended, records decide again.
		r = store.put(t, stateBalancer{Name: "app", LBMethod: "byrequests", Timeout: "0s",
			Members: []stateMember{{URL: "http://b2:8080", LoadFactor: 1}}})
		f.a.ApplyRecord("app", r.Data, r.Rev)
		if !m.State.Usable() {
			t.Error("a record could not enable the member after its DELETE ended")
		}
	})
}

// TestFleetRevision: the revision an instance shows as applied never goes
// back, a deletion included.
func TestFleetRevision(t *testing.T) {
	store, changed := newMemStore(), 0
	f := fleetFixture(t, store, &changed)
	app := store.put(t, stateBalancer{Name: "app", LBMethod: "byrequests", Timeout: "0s"})
	web := store.put(t, stateBalancer{Name: "web", LBMethod: "byrequests", Timeout: "0s"})
	f.a.ApplyRecord("app", app.Data, app.Rev)
	f.a.ApplyRecord("web", web.Data, web.Rev)
	f.a.ApplyRecord("web", nil, web.Rev+1)
	var all listJSON
	f.do("GET", list, "").json(t, &all)
	var mine instanceJSON
	if err := json.Unmarshal(f.a.HealthRecord(), &mine); err != nil {
		t.Fatal(err)
	}
	if all.Fleet.Revision != web.Rev+1 || mine.Revision != web.Rev+1 {
		t.Errorf("revision %d, published %d after the deletion at %d", all.Fleet.Revision, mine.Revision, web.Rev+1)
	}
}

// TestFleetRestore: at start and reload the records override the
// configuration; the state file is not read.
func TestFleetRestore(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	store, changed := newMemStore(), 0
	f := fleetFixture(t, store, &changed)
	f.a.UseStateFile(path, false)
	f.sc.Persist = true
	r := store.put(t, stateBalancer{Name: "app", LBMethod: "byrequests", Timeout: "0s", Removed: []string{},
		Members: []stateMember{{URL: "http://b1:8080", LoadFactor: 4, Route: "r1", Flags: "D"}}})
	// Before the server's scope exists the record is only kept.
	live := f.a.opts.Live
	f.a.opts.Live = nil
	f.a.Reset([]Record{r}, nil)
	f.a.opts.Live = live
	f.member(0).State.SetFlags(pool.FlagHCFail)
	if err := f.a.Restore(f.sc, func() {}); err != nil {
		t.Fatal(err)
	}
	if m := f.member(0); m.LBFactor != 400 || m.State.Flags() != pool.FlagInit|pool.FlagDisabled|pool.FlagHCFail {
		t.Errorf("b1: %d %v", m.LBFactor, m.State.Flags())
	}
	var all listJSON
	f.do("GET", list, "").json(t, &all)
	if !all.Persist || all.Fleet == nil || all.Fleet.Revision != r.Rev || all.Fleet.Instance != "self:9090" {
		t.Errorf("list: %+v %+v", all, all.Fleet)
	}
}

// TestFleetHealth: the health view this instance publishes, and the
// others' in GET.
func TestFleetHealth(t *testing.T) {
	store, changed := newMemStore(), 0
	f := fleetFixture(t, store, &changed)
	f.member(1).State.SetFlags(pool.FlagHCFail)
	var mine instanceJSON
	if err := json.Unmarshal(f.a.HealthRecord(), &mine); err != nil {
		t.Fatal(err)
	}
	if h := mine.Balancers["app"]["http://b2:8080"]; h.OperationalState != "down" || h.Flags != "OC" {
		t.Errorf("published %+v", mine)
	}
	f.a.SetPeer("other:9090", []byte(`{"revision":3,"balancers":{"app":{"http://b1:8080":{"operational_state":"down","flags":"OC","why":"connection refused"}}}}`))
	f.a.SetPeer("self:9090", f.a.HealthRecord()) // its own key, seen through the watch
	f.a.SetPeer("broken", []byte(`{`))
	var m memberJSON
	f.do("GET", b1, "").json(t, &m)
	if len(m.Fleet) != 2 || m.Fleet[0].Instance != "self:9090" || m.Fleet[0].OperationalState != "up" ||
		m.Fleet[1].Instance != "other:9090" || m.Fleet[1].Why != "connection refused" {
		t.Errorf("fleet view of b1: %+v", m.Fleet)
	}
	var all listJSON
	f.do("GET", list, "").json(t, &all)
	if got := all.Fleet.Instances; len(got) != 2 || got[1].Instance != "other:9090" || got[1].Revision != 3 {
		t.Errorf("instances: %+v", got)
	}
	f.a.SetPeer("other:9090", nil)
	f.do("GET", b1, "").json(t, &m)
	if len(m.Fleet) != 1 {
		t.Errorf("a peer that left is still shown: %+v", m.Fleet)
	}
}

// TestMemberHealthView: a checked member's health in GET (its schedule
// and probes, oldest first, latency in milliseconds), and why it is down in
// the health view this instance publishes to the fleet.
func TestMemberHealthView(t *testing.T) {
	changed := 0
	f := fleetFixture(t, newMemStore(), &changed)
	next := time.Date(2026, 11, 27, 12, 0, 5, 0, time.UTC)
	h := hcheck.Health{
		Method: "GET", Target: "/status", Expr: "ok234", Interval: 5 * time.Second, Passes: 2, Fails: 3,
		FailStreak: 0, PassStreak: 1, Checks: 7, Next: next,
		History: []hcheck.Probe{
			{Time: next.Add(-10 * time.Second), OK: true, Status: 200, Latency: 1500 * time.Microsecond},
			{Time: next.Add(-5 * time.Second), Status: 503, Latency: 2 * time.Millisecond, Why: "status 503", Change: hcheck.Down},
		},
	}
	f.a.opts.Health = func(id string) (hcheck.Health, bool) { return h, id == f.member(0).ID }
	var m memberJSON
	f.do("GET", b1, "").json(t, &m)
	got := m.Health
	if got == nil || got.Interval != "5s" || got.Next == nil || !got.Next.Equal(next) || got.Checks != 7 || got.PassStreak != 1 ||
		got.Method != "GET" || got.URI != "/status" || got.Expr != "ok234" || got.Passes != 2 || got.Fails != 3 {
		t.Fatalf("health %+v", got)
	}
	if p := got.History; len(p) != 2 || !p[0].OK || p[0].LatencyMS != 1.5 || p[1].OK || p[1].Status != 503 ||
		p[1].Why != "status 503" || p[1].Change != "down" || !p[1].Time.Equal(next.Add(-5*time.Second)) {
		t.Errorf("history %+v", p)
	}

	f.member(0).State.SetFlags(pool.FlagHCFail)
	var mine instanceJSON
	if err := json.Unmarshal(f.a.HealthRecord(), &mine); err != nil {
		t.Fatal(err)
	}
	if v := mine.Balancers["app"]["http://b1:8080"]; v.OperationalState != "down" || v.Why != "status 503" {
		t.Errorf("published %+v, want down with the last probe's why", v)
	}
	if v := mine.Balancers["app"]["http://b2:8080"]; v.OperationalState != "up" || v.Why != "" {
		t.Errorf("published %+v for the unchecked member", v)
	}
}
