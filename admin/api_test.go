package admin

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

func TestReads(t *testing.T) {
	f := newFixture(t, nil)
	f.member(0).State.Elected.Store(7)
	f.member(0).State.MarkError(f.a.now())

	var l listJSON
	r := f.do("GET", list, "")
	r.json(t, &l)
	if r.status != 200 || r.header["Etag"] == "" || r.header["Content-Type"] != "application/json" {
		t.Fatalf("list: %d %v", r.status, r.header)
	}
	if len(l.Balancers) != 1 || l.Balancers[0].Name != "app" || len(l.Balancers[0].Members) != 2 || l.Balancers[0].MaxMembers != 7 {
		t.Fatalf("list: %+v", l)
	}
	m := l.Balancers[0].Members[0]
	if m.ID != "http://b1:8080" || m.Route != "r1" || m.LoadFactor != 1 || m.Elected != 7 || m.Flags != "OE" ||
		m.Status != "Init Err " || m.AdminState != "ready" || m.OperationalState != "down" || m.ErrorTime == nil {
		t.Errorf("member: %+v", m)
	}

	var b balancerJSON
	r = f.do("GET", app, "")
	r.json(t, &b)
	if r.status != 200 || b.LBMethod != "byrequests" || b.MaxAttempts != 1 || r.header["Etag"] != b.ETag {
		t.Errorf("balancer: %d %+v", r.status, b)
	}
	var ms []memberJSON
	f.do("GET", add, "").json(t, &ms)
	if len(ms) != 2 {
		t.Errorf("members: %+v", ms)
	}
	// A member by its escaped URL, its unnormalized URL, or its route.
	for _, uri := range []string{b1, "/api/balancers/app/members/HTTP:%2F%2FB1:8080", "/api/balancers/app/members/r1"} {
		var one memberJSON
		r := f.do("GET", uri, "")
		r.json(t, &one)
		if r.status != 200 || one.ID != "http://b1:8080" || r.header["Etag"] != one.ETag {
			t.Errorf("GET %s: %d %+v", uri, r.status, one)
		}
	}
	for _, uri := range []string{"/api/balancers/nope", "/api/balancers/app/members/http%3A%2F%2Fb9", "/api/other", "/api/balancers/app/x/y", "/nope", "/api/balancers/app/members/%zz"} {
		if r := f.do("GET", uri, ""); r.status != 404 {
			t.Errorf("GET %s: %d, want 404", uri, r.status)
		}
	}
	// The page and its assets; /metrics only where a writer is set.
	for uri, ct := range map[string]string{"/": "text/html", "/app.js": "text/javascript", "/app.css": "text/css"} {
		r := f.do("GET", uri, "")
		if r.status != 200 || !strings.HasPrefix(r.header["Content-Type"], ct) || !strings.Contains(r.header["Content-Security-Policy"], "default-src 'none'") {
			t.Errorf("GET %s: %d %v", uri, r.status, r.header)
		}
	}
	if r := f.do("GET", "/metrics", ""); r.status != 404 {
		t.Errorf("metrics without a writer: %d", r.status)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, nil)
	f.a.opts.Metrics = func(w io.Writer) { _, _ = w.Write([]byte("sluice_up 1\n")) }
	r := f.do("GET", "/metrics", "")
	if r.status != 200 || r.body != "sluice_up 1\n" || !strings.HasPrefix(r.header["Content-Type"], "text/plain; version=0.0.4") {
		t.Errorf("metrics: %d %q %v", r.status, r.body, r.header)
	}
	// Not on a manager location.
	f.sc.Location, f.sc.Require, f.sc.Prefix = true, []string{"all granted"}, "/bm"
	if r := f.do("GET", "/bm/metrics", ""); r.status != 404 {
		t.Errorf("metrics on a location: %d", r.status)
	}
}

func TestPatchBalancer(t *testing.T) {
	f := newFixture(t, nil)
	r := f.write("PATCH", app, app, `{"lbmethod":"BYBUSYNESS","maxattempts":0,"timeout":"1.5s","stickysession":"JSESSIONID|jsessionid","nofailover":true,"forcerecovery":false}`)
	var b balancerJSON
	r.json(t, &b)
	if r.status != 200 || r.header["Etag"] != b.ETag {
		t.Fatalf("%d %s", r.status, r.body)
	}
	bc := f.bal.Load().Config
	if bc.LBMethod != "bybusyness" || *bc.MaxAttempts != 0 || f.bal.Load().MaxAttempts != 0 || bc.Timeout.D().String() != "1.5s" ||
		bc.StickyCookie != "JSESSIONID" || bc.StickyURLParam != "jsessionid" || !bc.NoFailover || bc.ForceRecovery {
		t.Errorf("config: %+v", bc)
	}
	// Seconds as a number; "-" clears the sticky session.
	f.write("PATCH", app, app, `{"timeout":30,"stickysession":"-"}`)
	if bc := f.bal.Load().Config; bc.Timeout.D().String() != "30s" || bc.StickyCookie != "" || bc.StickyURLParam != "" {
		t.Errorf("config: %+v", bc)
	}
	if !strings.Contains(f.logs.String(), `change="lbmethod byrequests -> bybusyness; maxattempts 1 -> 0; timeout 0s -> 1.5s; stickysession (none) -> \"JSESSIONID|jsessionid\"; nofailover false -> true; forcerecovery true -> false"`) {
		t.Errorf("audit log:\n%s", f.logs)
	}
}

func TestPatchMember(t *testing.T) {
	f := newFixture(t, nil)
	f.member(1).State.LBStatus.Store(-50)
	r := f.write("PATCH", b1, b1, `{"loadfactor":2.5,"lbset":3,"route":"n1","redirect":"r2"}`)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := f.member(0)
	if m.LBFactor != 250 || m.LBSet != 3 || m.Route != "n1" || m.Redirect != "r2" {
		t.Errorf("member: %+v", m)
	}
	// recalc_factors: lbstatus = lbfactor on every member.
	if m.State.LBStatus.Load() != 250 || f.member(1).State.LBStatus.Load() != 100 {
		t.Errorf("lbstatus %d %d", m.State.LBStatus.Load(), f.member(1).State.LBStatus.Load())
	}
	// The member's state survived the new snapshot.
	if m.State != stateOf(t, f.reg, m.ID) {
		t.Error("state not kept by ID")
	}
	// Status goes to the hot state: same snapshot.
	before := f.bal.Load()
	m.State.MarkError(f.a.now())
	r = f.write("PATCH", "/api/balancers/app/members/n1", "/api/balancers/app/members/n1", `{"status":"+D+N-E"}`)
	if r.status != 200 || f.bal.Load() != before {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := m.State.Flags(); got != pool.FlagInit|pool.FlagDisabled|pool.FlagDrain {
		t.Errorf("flags %v", got)
	}
	// Coming back resets the lbmethod's scores.
	f.member(1).State.LBStatus.Store(-70)
	f.write("PATCH", "/api/balancers/app/members/n1", "/api/balancers/app/members/n1", `{"status":"-DN"}`)
	if !m.State.Usable() || f.member(1).State.LBStatus.Load() != 0 {
		t.Errorf("flags %v lbstatus %d", m.State.Flags(), f.member(1).State.LBStatus.Load())
	}
	for _, s := range []string{"S", "I", "H", "R", "C"} {
		f.write("PATCH", b2, b2, `{"status":"+`+s+`"}`)
		bit, _ := pool.FlagForLetter(s[0])
		if !f.member(1).State.Flags().Has(bit) {
			t.Errorf("+%s not set", s)
		}
	}
}

func TestAddMember(t *testing.T) {
	f := newFixture(t, func(b *config.Balancer) { b.Growth = 1 })
	r := f.write("POST", add, app, `{"url":"HTTP://B3:80/","route":"r3","loadfactor":2}`)
	var m memberJSON
	r.json(t, &m)
	if r.status != 201 || m.ID != "http://b3/" || m.Flags != "OD" || m.LoadFactor != 2 || r.header["Location"] != "/api/balancers/app/members/http:%2F%2Fb3%2F" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	if len(f.bal.Load().Members) != 3 || f.bal.Load().Members[2].State.Usable() {
		t.Error("not added disabled")
	}
	// growth=1: full.
	r = f.write("POST", add, app, `{"url":"http://b4"}`)
	if r.status != 400 || !strings.Contains(r.body, "is full: 3 members (growth allows 3)") {
		t.Errorf("%d %s", r.status, r.body)
	}
}

func TestAddMemberChecks(t *testing.T) {
	f := newFixture(t, nil)
	changed := 0
	f.a.opts.Changed = func() { changed++ }
	cases := []struct{ body, want string }{
		{`{"route":"x"}`, `url: is required`},
		{`{"url":"http://b1:8080"}`, `duplicate member of balancer://app`},
		{`{"url":"file:///etc/passwd"}`, `scheme \"file\" is not supported`},
		{`{"url":"unix:/var/run/docker.sock|http://x/"}`, `cannot be a Unix domain socket through the admin API`},
		{`{"url":"http://user:pass@h/"}`, `cannot carry user:password@`},
		{`{"url":"http://h/p?q#f"}`, `query string or fragment`},
		{`{"url":"http://h","status":"+E"}`, `the E flag is set by failed requests`},
		{`{"url":"http://h","loadfactor":0}`, `loadfactor: must be a number from 1 to 100`},
	}
	for _, c := range cases {
		r := f.write("POST", add, app, c.body)
		if r.status != 400 || !strings.Contains(r.body, c.want) {
			t.Errorf("%s: %d %s, want 400 with %q", c.body, r.status, r.body, c.want)
		}
	}
	if len(f.bal.Load().Members) != 2 || changed != 0 {
		t.Errorf("a refused add changed something: %d members, %d changes", len(f.bal.Load().Members), changed)
	}
	// Enabled at once when asked.
	r := f.write("POST", add, app, `{"url":"http://b3","status":"-D"}`)
	if r.status != 201 || !f.bal.Load().Members[2].State.Usable() || changed != 1 {
		t.Errorf("%d %s", r.status, r.body)
	}
}

func TestRemoveMember(t *testing.T) {
	f := newFixture(t, nil)
	r := f.write("DELETE", b2, b2, "")
	var out removedJSON
	r.json(t, &out)
	if r.status != 200 || out.Removed != "http://b2:8080" || !out.Drained || len(f.bal.Load().Members) != 1 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// In flight past the timeout: removed all the same, and said so.
	m := f.member(0)
	m.State.Busy.Store(1)
	r = f.write("DELETE", b1+"?timeout=5ms", b1, "")
	r.json(t, &out)
	if r.status != 200 || out.Drained || out.Busy != 1 || len(f.bal.Load().Members) != 0 {
		t.Errorf("%d %s", r.status, r.body)
	}
	if !m.State.Flags().Has(pool.FlagDisabled) {
		t.Error("a removed member must take no new request")
	}
}

func TestWaitDrained(t *testing.T) {
	f := newFixture(t, nil)
	if r := f.do("GET", b1+"?wait=drained&timeout=1s", ""); r.status != 200 {
		t.Errorf("idle member: %d", r.status)
	}
	st := f.member(0).State
	st.Busy.Store(2)
	if r := f.do("GET", b1+"?wait=drained&timeout=5ms", ""); r.status != 504 || !strings.Contains(r.body, `"busy": 2`) {
		t.Errorf("busy member: %d %s", r.status, r.body)
	}
	done := make(chan reply)
	go func() { done <- f.do("GET", b1+"?wait=drained&timeout=1m", "") }()
	st.Busy.Store(0)
	if r := <-done; r.status != 200 {
		t.Errorf("drained member: %d", r.status)
	}
	for _, q := range []string{"?wait=idle", "?wait=drained&timeout=6m", "?wait=drained&timeout=x"} {
		if r := f.do("GET", b1+q, ""); r.status != 400 {
			t.Errorf("%s: %d", q, r.status)
		}
	}
}

func TestConcurrentWrites(t *testing.T) {
	f := newFixture(t, nil)
	tag := f.etag(b1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.do("PATCH", b1, `{"lbset":`+strconv.Itoa(1+i%9)+`}`, "If-Match", tag)
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[200] != 1 || codes[412] != 49 {
		t.Errorf("one ETag, 50 writers: %v, want one 200 and 49 412", codes)
	}
}

func TestPprof(t *testing.T) {
	f := newFixture(t, nil)
	r := f.do("GET", "/debug/pprof/", "")
	if r.status != 200 || !strings.Contains(r.body, "goroutine") {
		t.Errorf("pprof index: %d %.200q", r.status, r.body)
	}
	// Profiles in pprof's format are gzipped protocol buffers.
	for _, path := range []string{"/debug/pprof/heap?gc=1", "/debug/pprof/allocs", "/debug/pprof/profile?seconds=1"} {
		r = f.do("GET", path, "")
		if r.status != 200 || !strings.HasPrefix(r.body, "\x1f\x8b") || r.header["Content-Type"] != "application/octet-stream" {
			t.Errorf("%s: %d %q, %d bytes %.2q", path, r.status, r.header["Content-Type"], len(r.body), r.body)
		}
	}
	if r := f.do("GET", "/debug/pprof/trace?seconds=1", ""); r.status != 200 || !strings.HasPrefix(r.body, "go 1.") {
		t.Errorf("trace: %d %.20q", r.status, r.body)
	}
	if r := f.do("GET", "/debug/pprof/heap?debug=1", ""); r.status != 200 || !strings.HasPrefix(r.body, "heap profile:") || r.header["Content-Type"] != "text/plain; charset=utf-8" {
		t.Errorf("heap, debug=1: %d %q %.40q", r.status, r.header["Content-Type"], r.body)
	}
	if r := f.do("GET", "/debug/pprof/goroutine?debug=2", ""); !strings.Contains(r.body, "goroutine ") || !strings.Contains(r.body, "[running]") {
		t.Errorf("goroutine dump: %d %.80q", r.status, r.body)
	}
	for path, want := range map[string]int{
		"/debug/pprof/nosuch":              404,
		"/debug/pprof/heap/":               404,
		"/debug/pprof/profile?seconds=0":   400,
		"/debug/pprof/trace?seconds=x":     400,
		"/debug/pprof/profile?seconds=301": 400,
		"/debug/pprof/heap?seconds=5":      400, // delta profiles are not served
	} {
		if r := f.do("GET", path, ""); r.status != want {
			t.Errorf("%s: %d %q, want %d", path, r.status, r.body, want)
		}
	}
	if r := f.do("GET", "/debug/pprof/cmdline", ""); r.status != 200 || r.body != strings.Join(os.Args, "\x00") {
		t.Errorf("cmdline: %d %.80q", r.status, r.body)
	}
	pc := reflect.ValueOf(servePprof).Pointer()
	if r := f.do("GET", fmt.Sprintf("/debug/pprof/symbol?%#x+junk", pc), ""); r.body != fmt.Sprintf("num_symbols: 1\n%#x github.com/sluiceproxy/sluice/admin.servePprof\n", pc) {
		t.Errorf("symbol: %d %q", r.status, r.body)
	}
	if r := f.do("POST", "/debug/pprof/heap", ""); r.status != 405 {
		t.Errorf("POST: %d, want 405", r.status)
	}
	// Behind the admin token, like /metrics.
	f.sc.Token = "s3cret"
	if r := f.do("GET", "/debug/pprof/", ""); r.status != 401 {
		t.Errorf("without the token: %d, want 401", r.status)
	}
	// Never on a balancer-manager location inside a virtual host.
	f.sc.Token = ""
	f.sc.Location, f.sc.Require, f.sc.Prefix = true, []string{"all granted"}, "/bm"
	if r := f.do("GET", "/bm/debug/pprof/", ""); r.status != 404 {
		t.Errorf("pprof on a location: %d, want 404", r.status)
	}
}

// TestPanicIsContained: a bug met while serving one admin request answers
// 500 and is logged with its stack; the lock is released, nothing was
// swapped in, and the next request is served.
func TestPanicIsContained(t *testing.T) {
	f := newFixture(t, nil)
	before := f.bal.Load()
	f.sc.Build = func(*config.Balancer) (*pool.Snapshot, error) { panic("build bug") }
	r := f.write("POST", add, app, `{"url":"http://b3:8080"}`)
	if r.status != 500 || !strings.Contains(r.body, `"internal error"`) || r.header["Cache-Control"] != "no-store" {
		t.Errorf("answer: %d %v %s", r.status, r.header, r.body)
	}
	if !strings.Contains(f.logs.String(), `msg="panic serving an admin request" panic="build bug"`) {
		t.Errorf("log:\n%s", f.logs)
	}
	if f.bal.Load() != before {
		t.Error("a snapshot was swapped in")
	}
	if r = f.do("GET", app, ""); r.status != 200 {
		t.Errorf("next request: %d %s", r.status, r.body)
	}
}
