package hcheck

import (
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/pool"
)

// The manual's examples, loaded as the server loads them: templates are
// resolved by config, expressions compile, and each member gets the check
// Apache would run (with the request target joined sanely).
func TestPlansFromApacheExamples(t *testing.T) {
	type want struct {
		method, request string
		interval        time.Duration
		passes, fails   int
		expr            string
	}
	tests := []struct {
		file string
		want []*want // per member; nil: not checked
	}{
		{"../examples/apache-11-hcheck.conf", []*want{
			{"GET", "GET /status.php HTTP/1.0\r\nHost: www.example.com:80\r\n\r\n", 30 * time.Second, 1, 1, "in_maint"},
			{"HEAD", "HEAD / HTTP/1.0\r\nHost: www2.example.com:80\r\n\r\n", 10 * time.Second, 1, 1, "ok234"},
			{"TCP", "", 5 * time.Second, 2, 3, ""},
			nil,
		}},
		{"../examples/apache-11b-hctemplate.conf", []*want{
			{"TCP", "", 5 * time.Second, 1, 1, ""},
		}},
	}
	for _, tt := range tests {
		cfg, err := config.Load(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		exprs, err := CompileExprs(cfg.HCExprs)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := pool.NewSnapshot(pool.NewRegistry(), cfg.Main.Balancer("foo"))
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Members) != len(tt.want) {
			t.Fatalf("%s: %d members", tt.file, len(snap.Members))
		}
		for i, m := range snap.Members {
			p, w := newPlan(m, exprs), tt.want[i]
			if w == nil {
				if p != nil {
					t.Errorf("%s: %s checked with %s", tt.file, m.Name, p.method)
				}
				continue
			}
			if p == nil {
				t.Errorf("%s: %s not checked", tt.file, m.Name)
				continue
			}
			if p.method != w.method || p.request != w.request || p.interval != w.interval ||
				p.passes != w.passes || p.fails != w.fails || p.exprName != w.expr || (w.expr != "") != (p.expr != nil) {
				t.Errorf("%s: %s: plan %+v, want %+v", tt.file, m.Name, p, w)
			}
			if p.timeout != config.DefaultProxyTimeout || p.connectTimeout != config.DefaultProxyTimeout {
				t.Errorf("%s: %s: timeouts %v/%v", tt.file, m.Name, p.connectTimeout, p.timeout)
			}
		}
	}
}

// A check is bounded by the worker's own timeouts.
func TestPlanTimeouts(t *testing.T) {
	reg := pool.NewRegistry()
	p := hc("GET", time.Second, 1, 1)
	p.Timeout, p.ConnectionTimeout = config.Duration(3*time.Second), config.Duration(time.Second)
	pl := newPlan(member(t, reg, "http://h:81", p), nil)
	if pl.timeout != 3*time.Second || pl.connectTimeout != time.Second {
		t.Fatalf("params: %v/%v", pl.connectTimeout, pl.timeout)
	}
	m := member(t, reg, "https://h:82", hc("GET", time.Second, 1, 1))
	m.Backend = pool.NewBackend(m, pool.BackendOptions{Timeout: 7 * time.Second})
	pl = newPlan(m, nil)
	if pl.timeout != 7*time.Second || pl.connectTimeout != 7*time.Second || !pl.tls || pl.serverName != "h" || pl.connKey() != "tls|h|h:82" {
		t.Fatalf("backend: %+v", pl)
	}
}

// Apache checks balancer members only, never a direct ProxyPass worker.
func TestDirectWorkersAreNotChecked(t *testing.T) {
	m, err := pool.NewMember(pool.NewRegistry(), "", "http://h:81", hc("GET", time.Second, 1, 1), true)
	if err != nil {
		t.Fatal(err)
	}
	if p := newPlan(m, nil); p != nil {
		t.Fatalf("direct worker %s checked: %+v", m.ID, p)
	}
}

// A Unix domain socket member is checked with the Host its URL names, the
// port always included as for a TCP member, never the socket's path.
func TestPlanOfASocketMember(t *testing.T) {
	reg := pool.NewRegistry()
	for _, tt := range []struct{ url, host, serverName string }{
		{"unix:/run/app.sock|http://app.example/", "app.example:80", "app.example"},
		{"unix:/run/app.sock|https://app.example:8443/", "app.example:8443", "app.example"},
		{"unix:/run/app.sock|https://[::1]/", "[::1]:443", "::1"},
	} {
		p := newPlan(member(t, reg, tt.url, hc("HEAD", time.Second, 1, 1)), nil)
		if want := "HEAD / HTTP/1.0\r\nHost: " + tt.host + "\r\n\r\n"; p.request != want || p.serverName != tt.serverName || p.addr != "/run/app.sock" {
			t.Errorf("%s: request %q, server name %q, addr %q; want %q, %q", tt.url, p.request, p.serverName, p.addr, want, tt.serverName)
		}
	}
}
