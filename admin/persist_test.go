package admin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// persisted makes a fixture with BalancerPersist on, saving to path.
func persisted(t *testing.T, path string) *fixture {
	f := newFixture(t, func(b *config.Balancer) { b.Growth = 2 })
	f.sc.Persist = true
	f.a.UseStateFile(path, false)
	return f
}

func TestPersistRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", StateFileName)
	f := persisted(t, path)
	for _, w := range []struct{ method, uri, tag, body string }{
		{"PATCH", b1, b1, `{"loadfactor":7,"status":"+D","route":"n1"}`},
		{"PATCH", app, app, `{"lbmethod":"bybusyness","stickysession":"JS|js","maxattempts":0,"timeout":"5s"}`},
		{"POST", add, app, `{"url":"http://b3:8080","route":"r3"}`},
		{"DELETE", b2, b2, ``},
	} {
		if r := f.write(w.method, w.uri, w.tag, w.body); r.status >= 300 {
			t.Fatalf("%s %s: %d %s", w.method, w.uri, r.status, r.body)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// A restart: the same configuration, fresh state, the file restored.
	g := persisted(t, path)
	committed := false
	if err := g.a.Restore(g.sc, func() { committed = true }); err != nil || !committed {
		t.Fatalf("restore: %v %v", err, committed)
	}
	s := g.bal.Load()
	if s.Config.LBMethod != "bybusyness" || s.Config.StickyCookie != "JS" || s.MaxAttempts != 0 || s.Config.Timeout.D().String() != "5s" {
		t.Errorf("balancer not restored: %+v", s.Config)
	}
	if len(s.Members) != 2 || s.Members[0].Name != "http://b1:8080" || s.Members[1].Name != "http://b3:8080" {
		t.Fatalf("members not restored: %v", s.Names)
	}
	if m := s.Members[0]; m.LBFactor != 700 || m.Route != "n1" || m.State.Flags() != pool.FlagInit|pool.FlagDisabled {
		t.Errorf("b1 not restored: %+v %v", m, m.State.Flags())
	}
	if m := s.Members[1]; m.Route != "r3" || m.State.Flags() != pool.FlagInit|pool.FlagDisabled {
		t.Errorf("b3 not restored: %+v %v", m, m.State.Flags())
	}
}

// TestPersistOff: without BalancerPersist nothing is read or written.
func TestPersistOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil)
	f.a.UseStateFile(path, false)
	if err := f.a.Restore(f.sc, func() {}); err != nil {
		t.Fatal(err)
	}
	f.write("PATCH", b1, b1, `{"lbset":1}`)
	if b, _ := os.ReadFile(path); string(b) != "garbage" {
		t.Error("state written with BalancerPersist off")
	}
}

// TestBadStateFile is ADM-07: a state file that cannot be trusted stops the
// start with a message naming it, unless ignored.
func TestBadStateFile(t *testing.T) {
	good := func(t *testing.T) []byte {
		path := filepath.Join(t.TempDir(), StateFileName)
		f := persisted(t, path)
		f.write("PATCH", b1, b1, `{"loadfactor":3}`)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}(t)
	cases := []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"truncated", good[:len(good)-20], 0o600, "corrupt or truncated"},
		{"header only", good[:strings.IndexByte(string(good), '\n')], 0o600, "not a sluice state file, or truncated"},
		{"empty", nil, 0o600, "not a sluice state file"},
		{"garbage", []byte("\x00\x01binary\n{"), 0o600, "not a sluice state file"},
		{"flipped byte", append(append([]byte{}, good[:len(good)-5]...), 'X', '}', '\n', ' ', ' '), 0o600, "checksum mismatch"},
		{"unknown version", []byte(strings.Replace(string(good), "v1", "v9", 1)), 0o600, `unknown version "v9"`},
		{"world writable", good, 0o666, "writable by others"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), StateFileName)
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			f := persisted(t, path)
			err := f.a.Restore(f.sc, func() { t.Error("committed a bad state") })
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %s with %q", err, path, c.want)
			}
			// -ignore-state: start from the config, replace the file at the
			// next change.
			f.a.UseStateFile(path, true)
			if err := f.a.Restore(f.sc, func() {}); err != nil {
				t.Fatal(err)
			}
			if f.member(0).LBFactor != 100 {
				t.Error("an ignored state was applied")
			}
			f.write("PATCH", b1, b1, `{"lbset":2}`)
			if _, err := readState(path); err != nil {
				t.Errorf("not replaced: %v", err)
			}
		})
	}
}

// TestSaveFailure: a change that cannot be saved is not made.
func TestSaveFailure(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := persisted(t, filepath.Join(blocker, StateFileName)) // its directory is a file
	before := f.bal.Load()
	r := f.write("PATCH", b1, b1, `{"loadfactor":3,"status":"+D"}`)
	if r.status != 500 || !strings.Contains(r.body, "nothing changed") {
		t.Errorf("%d %s", r.status, r.body)
	}
	if f.bal.Load() != before || !f.member(0).State.Usable() {
		t.Error("an unsaved change was applied")
	}
}

// TestReloadForgets: without BalancerPersist a rebuild from the config
// drops the admin's flags, though member state outlives it.
func TestReloadForgets(t *testing.T) {
	f := newFixture(t, func(b *config.Balancer) { b.Members[1].Params.Status = "+H" })
	f.write("PATCH", b1, b1, `{"status":"+D+N"}`)
	f.write("PATCH", b2, b2, `{"status":"-H+S"}`)
	f.member(0).State.MarkError(f.a.now())
	if err := f.a.Restore(f.sc, func() {}); err != nil {
		t.Fatal(err)
	}
	if got := f.member(0).State.Flags(); got != pool.FlagInit|pool.FlagError {
		t.Errorf("b1 %v, want Init Err (E is the request path's)", got)
	}
	if got := f.member(1).State.Flags(); got != pool.FlagInit|pool.FlagHotStandby {
		t.Errorf("b2 %v, want its configured +H", got)
	}
}

// persistedWith is persisted with the configuration edited (a restart
// after the file changed).
func persistedWith(t *testing.T, path string, edit func(*config.Balancer)) *fixture {
	f := newFixture(t, func(b *config.Balancer) { b.Growth = 2; edit(b) })
	f.sc.Persist = true
	f.a.UseStateFile(path, false)
	return f
}

// TestPersistDropsUnconfigured: a configured member whose URL the
// configuration changed is not brought back from the file (apache.md §6.6:
// its persisted state is dropped); a member the admin added is.
func TestPersistDropsUnconfigured(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	f := persisted(t, path)
	f.write("PATCH", b1, b1, `{"lbset":1}`)
	f.write("POST", add, app, `{"url":"http://b3:8080","route":"r3"}`)
	g := persistedWith(t, path, func(b *config.Balancer) { b.Members[1].URL = "http://b2new:8080" })
	if err := g.a.Restore(g.sc, func() {}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(g.bal.Load().Names, " "); got != "http://b1:8080 http://b2new:8080 http://b3:8080" {
		t.Errorf("members after the URL change: %s", got)
	}
	if m := g.bal.Load().Members[0]; m.LBSet != 1 {
		t.Errorf("b1's persisted lbset lost: %d", m.LBSet)
	}

	// A file written before members were marked added re-adds them all,
	// as it did then.
	legacy := &stateDoc{Balancers: []stateBalancer{{Name: "app", LBMethod: "byrequests", Timeout: "0s", Removed: []string{},
		Members: []stateMember{{URL: "http://b1:8080", LoadFactor: 1}, {URL: "http://b9:8080", LoadFactor: 1}}}}}
	if err := writeState(path, legacy); err != nil {
		t.Fatal(err)
	}
	h := persisted(t, path)
	if err := h.a.Restore(h.sc, func() {}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.bal.Load().Names, " "); got != "http://b1:8080 http://b2:8080 http://b9:8080" {
		t.Errorf("members from a file without added: %s", got)
	}
}

// TestFailedRestoreKeepsFlags: member state is shared with the running
// configuration, so a restore that fails (here a record that no longer
// validates) must not have reset any flag first.
func TestFailedRestoreKeepsFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	f := persisted(t, path)
	f.write("PATCH", b1, b1, `{"status":"+D"}`)
	doc, err := readState(path)
	if err != nil {
		t.Fatal(err)
	}
	doc.Balancers[0].LBMethod = "heartbeat"
	if err := writeState(path, doc); err != nil {
		t.Fatal(err)
	}
	// A reload: a fresh snapshot of the same configuration over the
	// running members' state.
	g := persisted(t, path)
	g.sc.Build = func(bc *config.Balancer) (*pool.Snapshot, error) { return pool.NewSnapshot(f.reg, bc) }
	snap, err := g.sc.Build(g.bal.Load().Config)
	if err != nil {
		t.Fatal(err)
	}
	g.bal.Store(snap)
	committed := false
	if err := g.a.Restore(g.sc, func() { committed = true }); err == nil || committed {
		t.Fatalf("restore of a record that does not validate: %v, committed %v", err, committed)
	}
	if got := f.member(0).State.Flags(); got != pool.FlagInit|pool.FlagDisabled {
		t.Errorf("b1 %v after a failed restore, want Init Dis", got)
	}
}

// TestRestoreClearedStickySetCookie: clearing the sticky session of a
// balancer with sticky_set_cookie drops that too, and the state file must
// restore the same. Before, the restored balancer kept sticky_set_cookie
// without a cookie, failed validation, and sluice would not start.
func TestRestoreClearedStickySetCookie(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	sticky := func() *fixture {
		f := newFixture(t, func(b *config.Balancer) { b.StickySetCookie, b.StickyCookie, b.StickyURLParam = true, "S", "s" })
		f.sc.Persist = true
		f.a.UseStateFile(path, false)
		return f
	}
	f := sticky()
	if r := f.write("PATCH", app, app, `{"stickysession":"-"}`); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	g := sticky()
	if err := g.a.Restore(g.sc, func() {}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if c := g.bal.Load().Config; c.StickyCookie != "" || c.StickyURLParam != "" || c.StickySetCookie {
		t.Errorf("sticky session not restored as cleared: %q %q %v", c.StickyCookie, c.StickyURLParam, c.StickySetCookie)
	}
}
