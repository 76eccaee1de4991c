package config

import (
	"errors"
	"strings"
	"testing"
)

func TestAdminErrors(t *testing.T) {
	f := func(admin, want string) {
		t.Helper()
		_, err := ParseYAML("t.yaml", []byte("listen: [':80']\nadmin:\n"+admin))
		assertError(t, err, want)
	}
	// Two token sources.
	f("  listen: 127.0.0.1:9090\n  token: a\n  token_env: B\n", `t.yaml:4: token: set one of token, token_file and token_env`)
	// A host with a port.
	f("  listen: 127.0.0.1:9090\n  hosts: ['a:80']\n", `t.yaml:4: hosts "a:80": must be host names without port`)
	// Settings without a listener.
	f("  token_file: /etc/t\n", `t.yaml: listen: the admin settings need listen: host:port or unix:/path`)
	// A relative unix socket.
	f("  listen: unix:run/a.sock\n", `t.yaml:3: listen "unix:run/a.sock": a unix socket needs an absolute path: unix:/run/sluice/admin.sock`)
	// Not host:port.
	f("  listen: localhost\n", `t.yaml:3: listen "localhost": must be host:port or unix:/path`)
	// A bad port.
	f("  listen: 127.0.0.1:70000\n", `t.yaml:3: listen "127.0.0.1:70000": port "70000" must be a number between 1 and 65535`)
	// Off loopback without a token.
	f("  listen: '[::]:9090'\n", `t.yaml:3: listen "[::]:9090": an admin listener off loopback needs a token (token, token_file or token_env)`)
	// member_networks entries.
	f("  member_networks: [10.0.0.0/33]\n", `t.yaml:3: member_networks "10.0.0.0/33": must be a network such as 10.0.0.0/8 or an address`)
	f("  member_networks: [10.0.0.1/8]\n", `t.yaml:3: member_networks "10.0.0.1/8": has bits set after the prefix: write 10.0.0.0/8`)
	f("  member_networks: [backends.example]\n", `t.yaml:3: member_networks "backends.example": must be a network such as 10.0.0.0/8 or an address`)
	f("  member_networks: ['fe80::1%eth0']\n", `t.yaml:3: member_networks "fe80::1%eth0": must be a network such as 10.0.0.0/8 or an address`)
	f("  member_networks: ['010.0.0.0/8']\n", `t.yaml:3: member_networks "010.0.0.0/8": must be a network such as 10.0.0.0/8 or an address`)
}

func TestParseMemberNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":       "10.0.0.0/8",
		"127.0.0.1":        "127.0.0.1/32",
		"::ffff:127.0.0.1": "127.0.0.1/32",
		"fd00::/8":         "fd00::/8",
		"2001:db8::5":      "2001:db8::5/128",
	} {
		p, err := ParseMemberNetwork(in)
		if err != nil || p.String() != want {
			t.Errorf("%q: got %v %v, want %s", in, p, err, want)
		}
	}
}

func TestAdminAccepted(t *testing.T) {
	for _, admin := range []string{
		"  listen: 127.0.0.1:0\n",
		"  listen: localhost:9090\n",
		"  listen: '[::1]:9090'\n",
		"  listen: unix:/run/sluice/admin.sock\n",
		"  listen: 0.0.0.0:9090\n  token_file: /etc/sluice/token\n  hosts: [admin.example.com]\n",
		"  listen: 0.0.0.0:9090\n  token_env: SLUICE_TOKEN\n",
		"  listen: \"off\"\n",
		"  member_networks: [127.0.0.0/8, 10.1.2.3, 'fd00::/8']\n",
		"  listen: 127.0.0.1:0\n  member_networks: [192.168.0.0/16]\n",
	} {
		if _, err := ParseYAML("t.yaml", []byte("listen: [':80']\nadmin:\n"+admin)); err != nil {
			t.Errorf("%q: %v", admin, err)
		}
	}
}

func TestValidateBalancer(t *testing.T) {
	f := func(b *Balancer, key, value, msg string) {
		t.Helper()
		err := ValidateBalancer(b)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("got %v, want *Error", err)
		}
		if ce.Key != key || ce.Value != value || !strings.Contains(ce.Msg, msg) {
			t.Errorf("got key %q value %q msg %q, want %q %q %q", ce.Key, ce.Value, ce.Msg, key, value, msg)
		}
	}
	member := func(url string, p WorkerParams) *Member { return &Member{URL: url, Params: p} }
	// Duplicate members after normalization.
	f(&Balancer{Name: "b", Members: []*Member{member("http://h:80", WorkerParams{}), member("HTTP://h", WorkerParams{})}},
		"url", "HTTP://h", "duplicate member of balancer://b")
	// Ranges come from the config's own checks.
	f(&Balancer{Name: "b", Members: []*Member{member("http://h", WorkerParams{LoadFactor: 101})}}, "loadfactor", "101", "between 1 and 100")
	f(&Balancer{Name: "b", Members: []*Member{member("http://h", WorkerParams{LBSet: -1})}}, "lbset", "-1", "between 0 and 99")
	f(&Balancer{Name: "b", Members: []*Member{member("http://h", WorkerParams{Route: "a\r\nb"})}}, "route", "a\r\nb", "control characters")
	f(&Balancer{Name: "b", LBMethod: "random"}, "lbmethod", "random", "unknown lbmethod")
	f(&Balancer{Name: "b", Members: []*Member{member("file:///etc/passwd", WorkerParams{})}}, "url", "file:///etc/passwd", "not supported")
	f(&Balancer{Name: "b", Members: []*Member{member("http://u:p@h/", WorkerParams{})}}, "url", "http://u:p@h/", "user:password@")

	// A valid balancer is normalized and its members defaulted.
	b := &Balancer{Name: "B", LBMethod: "BYTRAFFIC", Members: []*Member{member("HTTP://H:80/", WorkerParams{Route: "r1"})}}
	if err := ValidateBalancer(b); err != nil {
		t.Fatal(err)
	}
	if b.Name != "b" || b.LBMethod != "bytraffic" || b.Members[0].URL != "http://h/" || b.Members[0].Params.LoadFactor != 1 || b.Members[0].Params.Retry.D() != DefaultRetry {
		t.Errorf("not normalized: %+v %+v", b, b.Members[0])
	}
}

// An admin listener off loopback without TLS is warned about; with TLS it
// is not, and its files are read like a host's.
func TestAdminTLSWarning(t *testing.T) {
	cfg, err := ParseYAML("t.yaml", []byte("listen: [':80']\nadmin:\n  listen: 0.0.0.0:9090\n  token_env: T\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "t.yaml:3: admin.listen 0.0.0.0:9090 is off loopback without admin.tls: the bearer token crosses the network in clear text"; len(cfg.Warnings) != 1 || cfg.Warnings[0] != want {
		t.Errorf("warnings %q, want %q", cfg.Warnings, want)
	}
	dir := tlsDir(t)
	cfg, err = ParseYAML(dir+"/t.yaml", []byte("listen: [':80']\nadmin:\n  listen: 0.0.0.0:9090\n  token_env: T\n  tls: {certs: [{cert_file: a.crt, key_file: a.key}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 || cfg.Admin.TLS.Config() == nil {
		t.Errorf("with tls: warnings %q, config %v", cfg.Warnings, cfg.Admin.TLS.Config())
	}
	_, err = ParseYAML(dir+"/t.yaml", []byte("listen: [':80']\nadmin:\n  listen: 127.0.0.1:9090\n  tls: {certs: [{cert_file: none.crt}]}\n"))
	assertError(t, err, dir+`/t.yaml:4: cert_file "none.crt": file does not exist`)
}

// The metrics listener takes host:port (port 0 too) and a path; off
// loopback it needs the admin token, and plain HTTP is warned about.
func TestMetricsListener(t *testing.T) {
	f := func(metrics, want string) {
		t.Helper()
		_, err := ParseYAML("t.yaml", []byte("listen: [':80']\nmetrics:\n"+metrics))
		assertError(t, err, want)
	}
	f("  listen: localhost\n", `t.yaml:3: listen "localhost": must be host:port`)
	f("  listen: 127.0.0.1:70000\n", `t.yaml:3: listen "127.0.0.1:70000": port "70000" must be a number between 1 and 65535`)
	f("  listen: 127.0.0.1:9100\n  path: metrics\n", `t.yaml:4: path "metrics": must start with /`)
	f("  path: /metrics\n", `t.yaml:3: path "/metrics": needs metrics.listen: host:port`)
	f("  listen: 0.0.0.0:9100\n", `t.yaml:3: listen "0.0.0.0:9100": a metrics listener off loopback needs the admin token (admin.token, token_file or token_env), which scrapers send as Authorization: Bearer`)

	cfg, err := ParseYAML("t.yaml", []byte("listen: [':80']\nmetrics: {listen: '127.0.0.1:0'}\n"))
	if err != nil || cfg.Metrics.Path != "/metrics" || len(cfg.Warnings) != 0 {
		t.Fatalf("loopback, port 0: %v %+v %q", err, cfg.Metrics, cfg.Warnings)
	}
	cfg, err = ParseYAML("t.yaml", []byte("listen: [':80']\nadmin: {listen: 'off', token_env: T}\nmetrics:\n  listen: ':9100'\n  path: /prom\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "t.yaml:4: metrics.listen :9100 is off loopback and speaks plain HTTP: the admin token crosses the network in clear text"; len(cfg.Warnings) != 1 || cfg.Warnings[0] != want {
		t.Errorf("warnings %q, want %q", cfg.Warnings, want)
	}
}
