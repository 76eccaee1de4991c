package main

// Real config 10 (an Ansible role's vhost template): "ProxyRequests on" in
// a load-balancer vhost, "<Proxy balancer://webcluster >" with a space
// before ">", members without a port, ProxySet lbmethod=byrequests, a
// balancer-manager <Location> with no Require, and
// "ProxyPass /balancer-manager !" before "ProxyPass / balancer://webcluster/".

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const real10Conf = "10-ansible-proxyrequests-on-manager.conf"

func real10Start(t *testing.T) (s *sluiceProc, a, b *rawBackend) {
	t.Helper()
	a, b = newBackend(t, "a", nil), newBackend(t, "b", nil)
	// The members are written without a port: the address replaces the host.
	s = startReal(t, real10Conf, "192.0.2.11", a.addr, "192.0.2.12", b.addr)
	return s, a, b
}

// real10Pair sends two plain requests and returns who answered them.
func real10Pair(t *testing.T, s *sluiceProc, uri string) []string {
	t.Helper()
	var got []string
	for range 2 {
		m := hostGet(t, s, "lb.example.com", uri)
		wantStatus(t, m, 200)
		got = append(got, m.Get("X-Backend"))
	}
	slices.Sort(got)
	return got
}

// TestCompatReal10ProxyRequestsOn: sluice is not a forward proxy
// (docs/config.md: "ProxyRequests … On warns"). The file loads with one
// warning naming the line, and a forward-proxy request never reaches the
// host it names, where Apache with ProxyRequests On would fetch it:
// an absolute-form target whose authority is the Host is routed like its
// origin form (docs/security.md SMG-09), another authority is 400,
// CONNECT is 405 (docs/compatibility.md).
func TestCompatReal10ProxyRequestsOn(t *testing.T) {
	s, a, b := real10Start(t)
	outsider := newBackend(t, "outsider", nil)

	// Line 3 of the file, 4 after the Listen line startReal puts first.
	if _, err := s.waitLog(ioTimeout, 0, func(f map[string]string) bool {
		return f["level"] == "WARN" && strings.HasSuffix(f["msg"], real10Conf+":4: ProxyRequests On ignored: sluice is not a forward proxy")
	}); err != nil {
		t.Errorf("no ProxyRequests warning naming %s:4: %v\n%s", real10Conf, err, s.log())
	}

	members := map[string]*rawBackend{"a": a, "b": b}
	m := rawDo(t, s.Addr(), buildReq("GET", "http://"+outsider.addr+"/secret?k=v", outsider.addr, nil, ""))
	wantStatus(t, m, 200)
	if be := members[m.Get("X-Backend")]; be == nil {
		t.Errorf("a forward-proxy request went to %q, want a webcluster member", m.Get("X-Backend"))
	} else if r := be.last(); r.URI != "/secret?k=v" {
		t.Errorf("the member was sent %q, want the origin form /secret?k=v", r.URI)
	}
	m = rawDo(t, s.Addr(), buildReq("GET", "http://lb.example.com/abs", "lb.example.com", nil, ""))
	wantStatus(t, m, 200)
	if be := members[m.Get("X-Backend")]; be == nil || be.last().URI != "/abs" {
		t.Errorf("absolute form naming the proxy went to %q", m.Get("X-Backend"))
	}

	wantStatus(t, rawDo(t, s.Addr(), buildReq("GET", "http://"+outsider.addr+"/secret", "lb.example.com", nil, "")), 400)
	wantStatus(t, rawDo(t, s.Addr(), buildReq("GET", "ftp://"+outsider.addr+"/x", outsider.addr, nil, "")), 400)
	wantStatus(t, rawDo(t, s.Addr(), buildReq("CONNECT", outsider.addr, outsider.addr, nil, "")), 405)
	if n := outsider.count(); n != 0 {
		t.Errorf("sluice forwarded %d requests to the host a client named", n)
	}
}

// TestCompatReal10BalancerAndManager: byrequests alternation with paths
// kept, and the manager location. It has no Require: Apache leaves it
// open, sluice local only (docs/compatibility.md "A manager <Location>
// without Require"), so a 127.0.0.1 client reaches it; it answers before
// ProxyPass, and "ProxyPass /balancer-manager !" keeps Apache from
// proxying it too. A change made there steers the traffic.
func TestCompatReal10BalancerAndManager(t *testing.T) {
	s, a, b := real10Start(t)

	var seq []string
	for _, uri := range []string{"/", "/x?y=1", "/a/b/", "/index.php?p=%2Fz"} {
		m := hostGet(t, s, "lb.example.com", uri)
		wantStatus(t, m, 200)
		seq = append(seq, m.Get("X-Backend"))
		if want := m.Get("X-Backend") + " GET " + uri; string(m.Body) != want {
			t.Errorf("%s: member answered %q, want %q", uri, m.Body, want)
		}
	}
	wantSequence(t, "lbmethod=byrequests", seq, "a", "b", "a", "b")

	base := "http://" + s.Addr() + "/balancer-manager"
	c := httpClient(t)
	resp, err := c.Get(base + "/api/balancers")
	if err != nil {
		t.Fatal(err)
	}
	var got managerBalancers
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("manager API: %d %v", resp.StatusCode, err)
	}
	// "<Proxy balancer://webcluster >": the name ends before the space.
	if len(got.Balancers) != 1 || got.Balancers[0].Name != "webcluster" || got.Balancers[0].LBMethod != "byrequests" {
		t.Fatalf("manager shows %+v, want balancer webcluster (byrequests)", got.Balancers)
	}
	var ids []string
	for _, m := range got.Balancers[0].Members {
		ids = append(ids, m.ID)
	}
	if want := []string{"http://" + a.addr, "http://" + b.addr}; !slices.Equal(ids, want) {
		t.Errorf("members %v, want %v", ids, want)
	}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		wantStatus(t, hostGet(t, s, host, "/balancer-manager/api/balancers"), 200)
	}
	// The vhost has no ServerName: a DNS name the manager was not told of
	// is refused (docs/admin.md "Who may change what").
	wantStatus(t, hostGet(t, s, "lb.example.com", "/balancer-manager/api/balancers"), 403)
	m := hostGet(t, s, "127.0.0.1", "/balancer-manager/")
	wantStatus(t, m, 200)
	if !strings.HasPrefix(m.Get("Content-Type"), "text/html") {
		t.Errorf("manager page Content-Type %q", m.Get("Content-Type"))
	}

	before := a.count() + b.count()
	for _, uri := range []string{"/balancer-manager", "/balancer-manager/", "/balancer-manager/api/balancers/webcluster"} {
		if m := hostGet(t, s, "127.0.0.1", uri); m.Has("X-Backend") {
			t.Errorf("%s was proxied to %s", uri, m.Get("X-Backend"))
		}
	}
	if n := a.count() + b.count() - before; n != 0 {
		t.Errorf("manager URLs reached members %d times", n)
	}
	// The exclusion and the Location end at the path segment.
	if m := hostGet(t, s, "lb.example.com", "/balancer-managerx"); !strings.HasSuffix(string(m.Body), "GET /balancer-managerx") {
		t.Errorf("/balancer-managerx: %d %q, want it proxied", m.Status, m.Body)
	}

	// Disable a through the manager location: b takes everything; enable
	// it again: both serve.
	member := memberURI(base, "webcluster", "http://"+a.addr)
	if st, _, out := api(t, c, http.MethodPatch, member, "*", `{"status":"+D"}`); st != 200 {
		t.Fatalf("PATCH +D: %d %v", st, out)
	}
	for range 4 {
		wantBackend(t, hostGet(t, s, "lb.example.com", "/after"), "b")
	}
	if st, _, out := api(t, c, http.MethodPatch, member, "*", `{"status":"-D"}`); st != 200 {
		t.Fatalf("PATCH -D: %d %v", st, out)
	}
	if got := real10Pair(t, s, "/again"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("after re-enabling a: %v, want both members", got)
	}
}
