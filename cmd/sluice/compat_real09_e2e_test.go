package main

// Real config 09 (shakenfist): one balancer with three parameterless
// members behind three ProxyPass lines: "/api" → "balancer://sfapi" with
// no trailing slash on either side, and two into balancer sub-paths
// (/flasgger_static, /apispec_1.json), each with its ProxyPassReverse.

import (
	"bufio"
	"strings"
	"testing"
)

// real09Backend answers "<name> METHOD URI" with X-Backend; a URI ending
// in /redir gets a 302 to http://<X-To>/…/landed, X-To being a header the
// test sends, so a member can point at another member or elsewhere.
func real09Backend(t *testing.T, name string) *rawBackend {
	return newBackend(t, name, func(w *bufio.Writer, r *backendReq) bool {
		if rest, ok := strings.CutSuffix(r.URI, "/redir"); ok {
			writeResp(w, 302, []string{"X-Backend: " + name, "Location: http://" + r.Get("X-To") + rest + "/landed"}, "")
			return false
		}
		writeResp(w, 200, []string{"X-Backend: " + name}, name+" "+r.Method+" "+r.URI)
		return false
	})
}

// TestCompatReal09BalancerSubPaths: the backend path each ProxyPass gives
// (Apache: real + uri[len(path):], then the balancer's path appended to
// the member URL; apache.md §1.1), one byrequests rotation shared by the
// three routes, segment-bounded prefixes, and the reverse map.
func TestCompatReal09BalancerSubPaths(t *testing.T) {
	a, b, c := real09Backend(t, "a"), real09Backend(t, "b"), real09Backend(t, "c")
	s := startReal(t, "09-shakenfist-balancer-subpaths.conf",
		"10.0.0.11:13000", a.addr, "10.0.0.12:13000", b.addr, "10.0.0.13:13000", c.addr)
	const host = "sf-primary"
	byName := map[string]*rawBackend{"a": a, "b": b, "c": c}

	var seq []string
	for _, tc := range []struct{ uri, want string }{
		{"/api", "/"}, // balancer://sfapi + "" → the member URL, path "/"
		{"/api/", "/"},
		{"/api?x=1", "/?x=1"},
		{"/api/v1/instances?all=1", "/v1/instances?all=1"},
		{"/flasgger_static", "/flasgger_static"},
		{"/flasgger_static/swagger-ui.css", "/flasgger_static/swagger-ui.css"},
		{"/apispec_1.json", "/apispec_1.json"},
		{"/apispec_1.json?v=2", "/apispec_1.json?v=2"},
		{"/api//v1//x", "/v1/x"}, // slash runs match as one (alias_match)
	} {
		m := hostGet(t, s, host, tc.uri)
		wantStatus(t, m, 200)
		name := m.Get("X-Backend")
		seq = append(seq, name)
		be := byName[name]
		if be == nil {
			t.Errorf("%s went to %q", tc.uri, name)
			continue
		}
		if r := be.last(); r.URI != tc.want {
			t.Errorf("%s: member %s got %s, want %s", tc.uri, name, r.URI, tc.want)
		}
	}
	// Members without parameters: byrequests, loadfactor 1 each; the three
	// ProxyPass lines use the same balancer, so one rotation runs through
	// all of them.
	wantSequence(t, "sfapi across its three routes", seq, "a", "b", "c", "a", "b", "c", "a", "b", "c")

	// Prefixes end at a path segment; nothing else is proxied here (Apache
	// serves DocumentRoot; sluice serves no files).
	before := a.count() + b.count() + c.count()
	for _, uri := range []string{"/apix", "/api.json", "/flasgger_staticx", "/apispec_1.jsonx", "/", "/index.html"} {
		wantStatus(t, hostGet(t, s, host, uri), 404)
	}
	if after := a.count() + b.count() + c.count(); after != before {
		t.Errorf("unmapped paths reached members %d times", after-before)
	}

	// ProxyPassReverse is one ordered list (apache.md surprise 15): the
	// first entry, "/api" "balancer://sfapi", matches a Location naming any
	// member, whichever member answered, so a redirect under
	// /flasgger_static comes back under /api as well.
	for _, tc := range []struct{ uri, to, want string }{
		{"/api/redir", a.addr, "http://sf-primary/api/landed"},
		{"/api/v1/redir", c.addr, "http://sf-primary/api/v1/landed"},
		{"/flasgger_static/redir", b.addr, "http://sf-primary/api/flasgger_static/landed"},
		{"/api/redir", "elsewhere.example:8080", "http://elsewhere.example:8080/landed"}, // not a member: unchanged
	} {
		m := hostGet(t, s, host, tc.uri, "X-To: "+tc.to)
		wantStatus(t, m, 302)
		if got := m.Get("Location"); got != tc.want {
			t.Errorf("%s redirecting to %s: Location %q, want %q", tc.uri, tc.to, got, tc.want)
		}
	}
}
