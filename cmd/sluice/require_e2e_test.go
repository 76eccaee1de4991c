package main

import (
	"strings"
	"testing"
)

const requireConf = `
Listen 127.0.0.1:0
<Proxy balancer://b>
    BalancerMember http://{SHUT}
    Require all denied
</Proxy>
ProxyPass /b balancer://b/
<Location /allow>
    ProxyPass http://{OPEN}/allow
    Require ip 127.0.0.1
</Location>
<Location /deny>
    ProxyPass http://{SHUT}/deny
    Require ip 10.0.0.0/8
</Location>
<Location /local>
    ProxyPass http://{OPEN}/local
    Require local
</Location>
<Location /two>
    ProxyPass http://{OPEN}/two
    Require ip 10.0.0.0/8
    Require ip 127.0.0.0/8
</Location>
<Location /neither>
    ProxyPass http://{SHUT}/neither
    Require ip 10.0.0.0/8
    Require ip 192.168.0.0/16
</Location>
`

// TestRequireE2E: Require in <Location> and <Proxy balancer://…> through
// the real binary, from a 127.0.0.1 client. Refused requests get sluice's
// 403 page and never reach their backend.
func TestRequireE2E(t *testing.T) {
	open := newBackend(t, "open", nil)
	shut := newBackend(t, "shut", nil)
	cfg := writeConfig(t, t.TempDir(), "require.conf", requireConf, "{OPEN}", open.addr, "{SHUT}", shut.addr)
	s := startSluice(t, cfg)

	for _, c := range []struct {
		uri    string
		status int
	}{
		{"/allow/x", 200},
		{"/deny/x", 403},
		{"/local", 200},
		{"/two/x", 200},   // the second line grants
		{"/neither", 403}, // no line grants
		{"/b/x", 403},     // <Proxy balancer://b> Require all denied
	} {
		m := getURI(t, s.Addr(), c.uri)
		if m.Status != c.status {
			t.Errorf("%s: status %d, want %d; body %q", c.uri, m.Status, c.status, m.Body)
			continue
		}
		body := string(m.Body)
		switch c.status {
		case 200:
			if !strings.HasPrefix(body, "open GET ") {
				t.Errorf("%s: body %q, want the open backend's answer", c.uri, body)
			}
		case 403:
			if !strings.Contains(body, "<title>403 Forbidden</title>") || strings.Contains(body, shut.addr) {
				t.Errorf("%s: body %q, want sluice's 403 page", c.uri, body)
			}
		}
	}
	if n := shut.count(); n != 0 {
		t.Errorf("refused requests reached the backend %d times", n)
	}
	if n := open.count(); n != 3 {
		t.Errorf("the open backend saw %d requests, want 3", n)
	}
}

// TestRequireRefusedAtLoad: a Require rule sluice cannot enforce stops
// the config with its file:line.
func TestRequireRefusedAtLoad(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "authz.conf", "Listen 127.0.0.1:0\n<Location /x>\n    ProxyPass http://127.0.0.1:9/\n    Require valid-user\n</Location>\n")
	out, errOut, code := runSluice(t, "-t", "-config", cfg)
	if code != 1 || !strings.Contains(errOut, `authz.conf:4: Require "valid-user"`) || strings.Contains(out, "Syntax OK") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 naming authz.conf:4", code, out, errOut)
	}
}
