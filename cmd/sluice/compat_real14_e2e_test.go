package main

// Real config 14 (Alfresco behind Apache with mod_proxy_ajp): ajp://
// members, a hot standby (status=+H retry=0) beside an active with
// retry=30, balancer parameters on ProxyPass, ProxyPass into a balancer
// sub-path, ProxyPassReverse aimed at the raw member URLs, and a direct
// ProxyPass / to the standby's node.
//
// sluice refuses ajp:// (config.md: "ajp://, fcgi://, unix: … worker URLs:
// refused", with `scheme "ajp" is not supported: use http://`). The first
// test checks that refusal as the file stands; the others run the file
// after the migration that message asks for, each ajp://node:8009 becoming
// http://node's-HTTP-port (Tomcat's HTTP connector), nothing else changed.

import (
	"bufio"
	"net/http"
	"slices"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testnet"
)

const real14Name = "14-alfresco-ajp-hot-standby.conf"

// real14Config returns the file with Listen added at the end (line numbers
// stay those of the file) and the replacements applied.
func real14Config(t *testing.T, oldnew ...string) string {
	t.Helper()
	text, err := readReal(t, real14Name)
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, t.TempDir(), real14Name, string(text)+"\nListen 127.0.0.1:0\n", oldnew...)
}

// real14Node answers like newBackend; under /sinaduraCloud/redir-login,
// /sinaduraCloud/redir-other and /share/redir it redirects to absolute
// URLs on its own address, as Tomcat does.
func real14Node(t *testing.T, name string) *rawBackend {
	var b *rawBackend
	b = newBackend(t, name, func(w *bufio.Writer, r *backendReq) bool {
		loc := map[string]string{
			"/sinaduraCloud/redir-login": "/sinaduraCloud/login",
			"/sinaduraCloud/redir-other": "/other",
			"/share/redir":               "/share/page2",
		}[r.URI]
		if loc == "" {
			return b.echo(w, r)
		}
		writeResp(w, 302, []string{"X-Backend: " + name, "Location: http://" + b.addr + loc}, "")
		return false
	})
	return b
}

// TestCompatReal14AJP runs the file as it stands, its two nodes AJP
// containers (ajp_e2e_test.go): the sub-path balancer sends everything to
// alfnode2 and nothing to the +H standby, the direct ProxyPass / goes to
// alfnode1, each as an AJP forward request of the path with its query as
// an attribute; with alfnode2 gone, the standby takes over.
func TestCompatReal14AJP(t *testing.T) {
	n1, n2 := startAJPContainer(t, "alfnode1"), startAJPContainer(t, "alfnode2")
	s := startSluice(t, real14Config(t, "alfnode1.example.com:8009", n1.addr, "alfnode2.example.com:8009", n2.addr))
	const host = "alfresco.example.com"
	wantBackend(t, hostGet(t, s, host, "/sinaduraCloud/sign?doc=1"), "alfnode2")
	if r := n2.next(t); r.URI != "/sinaduraCloud/sign" || !slices.Contains(r.Attributes, "0x05=doc=1") || r.ServerName != host {
		t.Errorf("alfnode2 got %+v", r)
	}
	wantBackend(t, hostGet(t, s, host, "/share/page"), "alfnode1")
	if r := n1.next(t); r.URI != "/share/page" {
		t.Errorf("alfnode1 got %+v", r)
	}
	if len(n1.got) > 0 || len(n2.got) > 0 {
		t.Errorf("more requests than sent")
	}
}

// TestCompatReal14HotStandby (after ajp:// → http://): the sub-path
// balancer sends everything to alfnode2 while it is up and never to the
// +H standby; the direct ProxyPass / goes to alfnode1. ProxyPassReverse
// maps each member's absolute redirects by the first matching line, and a
// redirect from the direct route, which the file maps only for alfnode2,
// passes unchanged (as in Apache).
func TestCompatReal14HotStandby(t *testing.T) {
	n1, n2 := real14Node(t, "alfnode1"), real14Node(t, "alfnode2")
	s := startSluice(t, real14Config(t, "ajp://alfnode1.example.com:8009", "http://"+n1.addr, "ajp://alfnode2.example.com:8009", "http://"+n2.addr))
	const host = "alfresco.example.com"

	for _, uri := range []string{"/sinaduraCloud/", "/sinaduraCloud/sign?doc=1", "/sinaduraCloud/a/b", "/sinaduraCloud"} {
		wantBackend(t, hostGet(t, s, host, uri), "alfnode2")
	}
	want := []string{"/sinaduraCloud/", "/sinaduraCloud/sign?doc=1", "/sinaduraCloud/a/b", "/sinaduraCloud"}
	for i, r := range n2.requests() {
		if r.URI != want[i] {
			t.Errorf("alfnode2 request %d: %q, want %q (balancer://sinaduraCloud/sinaduraCloud keeps the prefix)", i, r.URI, want[i])
		}
	}
	m := hostGet(t, s, host, "/share/page?x=1")
	wantBackend(t, m, "alfnode1")
	// ProxyPass /sinaduraCloud matches whole segments only: this one falls
	// through to ProxyPass /.
	m = hostGet(t, s, host, "/sinaduraCloudX/y")
	wantBackend(t, m, "alfnode1")
	for _, r := range n1.requests() {
		if r.URI != "/share/page?x=1" && r.URI != "/sinaduraCloudX/y" {
			t.Errorf("the standby alfnode1 got %s while alfnode2 was up", r.URI)
		}
	}

	for _, tc := range []struct{ uri, backend, location string }{
		// line 16, ProxyPassReverse /sinaduraCloud ajp://alfnode2…/sinaduraCloud
		{"/sinaduraCloud/redir-login", "alfnode2", "http://" + host + "/sinaduraCloud/login"},
		// line 18, ProxyPassReverse / ajp://alfnode2…/
		{"/sinaduraCloud/redir-other", "alfnode2", "http://" + host + "/other"},
		// the direct route's node has no "/" line: unchanged
		{"/share/redir", "alfnode1", "http://" + n1.addr + "/share/page2"},
	} {
		m := hostGet(t, s, host, tc.uri)
		wantStatus(t, m, 302)
		wantBackend(t, m, tc.backend)
		if got := m.Get("Location"); got != tc.location {
			t.Errorf("%s: Location %q, want %q", tc.uri, got, tc.location)
		}
	}
}

// TestCompatReal14StandbyTakesOver (after ajp:// → http://): with alfnode2
// down, its first request fails over to the standby, and so does every
// later one. Once alfnode2 listens again it stays out for its retry=30
// (apache.md §4.5), so the standby keeps serving.
func TestCompatReal14StandbyTakesOver(t *testing.T) {
	n1 := real14Node(t, "alfnode1")
	n2 := &flappingMember{name: "alfnode2", addr: testnet.ClosedAddr(t)}
	t.Cleanup(n2.kill)
	s := startSluice(t, real14Config(t, "ajp://alfnode1.example.com:8009", "http://"+n1.addr, "ajp://alfnode2.example.com:8009", "http://"+n2.addr))

	for i := range 3 {
		m := hostGet(t, s, "alfresco.example.com", "/sinaduraCloud/sign")
		wantStatus(t, m, 200)
		wantBackend(t, m, "alfnode1")
		if got := n1.last().URI; got != "/sinaduraCloud/sign" {
			t.Errorf("request %d reached the standby as %q", i, got)
		}
	}

	n2.start(t)
	resp, err := httpClient(t).Get("http://" + n2.addr + "/probe")
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Member") != "alfnode2" {
		t.Fatalf("alfnode2 is not back: %v", err)
	}
	resp.Body.Close()
	for range 3 {
		m := hostGet(t, s, "alfresco.example.com", "/sinaduraCloud/sign")
		wantStatus(t, m, 200)
		if m.Get("X-Member") != "" || m.Get("X-Backend") != "alfnode1" {
			t.Errorf("alfnode2 was used again within its retry=30 (X-Member %q)", m.Get("X-Member"))
		}
	}
}
