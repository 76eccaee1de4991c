package server

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

const managerConf = `
<Proxy balancer://b>
    BalancerMember http://BACKEND route=r1
</Proxy>
ProxyPass / balancer://b/
<Location "/balancer-manager">
    SetHandler balancer-manager
    Require all granted
</Location>
`

// TestManagerLocation: the manager answers at its location, before the
// ProxyPass rules; everything else is proxied.
func TestManagerLocation(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("backend") })
	s, c := startProxy(t, managerConf, be)
	do := managerRequests(t, c, false)
	r := do("GET", "/balancer-manager/api/balancers/b", "")
	if r.StatusCode() != 200 || !strings.Contains(string(r.Body()), `"route": "r1"`) || len(r.Header.Peek("ETag")) == 0 {
		t.Fatalf("GET: %d %s", r.StatusCode(), r.Body())
	}
	r = do("PATCH", "/balancer-manager/api/balancers/b/members/r1", `{"loadfactor":5}`, "If-Match", string(r.Header.Peek("ETag")))
	if r.StatusCode() != 412 {
		t.Errorf("balancer ETag on a member: %d", r.StatusCode())
	}
	r = do("PATCH", "/balancer-manager/api/balancers/b/members/r1", `{"loadfactor":5}`, "If-Match", "*")
	if r.StatusCode() != 200 {
		t.Fatalf("PATCH: %d %s", r.StatusCode(), r.Body())
	}
	bal := s.rt.Load().hosts[0].balancers["b"]
	if m := bal.Load().Members[0]; m.LBFactor != 500 || m.Backend == nil {
		t.Errorf("member after PATCH: %+v", m)
	}
	for _, uri := range []string{"/", "/balancer-managerX", "/x/balancer-manager"} {
		if r := do("GET", uri, ""); r.StatusCode() != 200 || string(r.Body()) != "backend" {
			t.Errorf("GET %s: %d %q, want it proxied", uri, r.StatusCode(), r.Body())
		}
	}
	if r := do("GET", "/balancer-manager", ""); r.StatusCode() != 301 {
		t.Errorf("bare location: %d", r.StatusCode())
	}
	// Metrics live on the admin listener only.
	if r := do("GET", "/balancer-manager/metrics", ""); r.StatusCode() != 404 {
		t.Errorf("metrics on a location: %d", r.StatusCode())
	}
}

// managerRequests returns a function that sends a request to the proxy
// through c: method, path, a JSON body (if any), then field names and
// values, the names sent as written when asIs is set.
func managerRequests(t *testing.T, c *fasthttp.Client, asIs bool) func(method, uri, body string, hdr ...string) *fasthttp.Response {
	return func(method, uri, body string, hdr ...string) *fasthttp.Response {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), new(fasthttp.Response)
		defer fasthttp.ReleaseRequest(req)
		if asIs {
			req.Header.DisableNormalizing()
		}
		req.Header.SetMethod(method)
		req.SetRequestURI("http://127.0.0.1" + uri)
		if body != "" {
			req.Header.SetContentType("application/json")
			req.SetBodyString(body)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// TestManagerFieldCase: at its location the manager reads a request's
// fields whatever the case of their names (a client behind an HTTP/2
// gateway sends them in lower case), which the main server keeps as sent:
// a stale if-match is refused, an upgrade is not served, and a write from
// another site is refused.
func TestManagerFieldCase(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("backend") })
	_, c := startProxy(t, managerConf, be)
	do := managerRequests(t, c, true)
	r := do("GET", "/balancer-manager/api/balancers/b", "")
	if r.StatusCode() != 200 {
		t.Fatalf("GET: %d %s", r.StatusCode(), r.Body())
	}
	if r := do("PATCH", "/balancer-manager/api/balancers/b/members/r1", `{"loadfactor":5}`, "if-match", `"stale"`); r.StatusCode() != 412 {
		t.Errorf("PATCH with a stale if-match: %d %s, want 412", r.StatusCode(), r.Body())
	}
	if r := do("GET", "/balancer-manager/api/balancers/b", "", "connection", "upgrade", "upgrade", "websocket"); r.StatusCode() != 400 {
		t.Errorf("an upgrade in lower case: %d %s, want 400", r.StatusCode(), r.Body())
	}
	if r := do("PATCH", "/balancer-manager/api/balancers/b/members/r1", `{"loadfactor":5}`, "if-match", "*", "origin", "http://evil.example"); r.StatusCode() != 403 {
		t.Errorf("a write from another site's origin: %d %s, want 403", r.StatusCode(), r.Body())
	}
	if r := do("PATCH", "/balancer-manager/api/balancers/b/members/r1", `{"loadfactor":5}`, "if-match", "*", "sec-fetch-site", "cross-site"); r.StatusCode() != 403 {
		t.Errorf("a cross-site write: %d %s, want 403", r.StatusCode(), r.Body())
	}
}

// TestAdminMemberBackends: a member added by the admin gets a pool; one
// whose settings did not change keeps its pool.
func TestAdminMemberBackends(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("backend") })
	s, _ := startProxy(t, managerConf, be)
	rt := s.rt.Load()
	bal := rt.hosts[0].balancers["b"]
	old := bal.Load().Members[0].Backend
	bc := *bal.Load().Config
	bc.Members = append(bc.Members[:1:1], bc.Members[0])
	nm := *bc.Members[1]
	nm.URL = "http://127.0.0.1:1"
	bc.Members[1] = &nm
	snap, err := s.builder(rt, true)(&bc)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Members[0].Backend != old || snap.Members[1].Backend == nil || snap.Members[1].Backend == old {
		t.Errorf("pools: kept %v, new %v", snap.Members[0].Backend == old, snap.Members[1].Backend)
	}
}
