//go:build linux

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

func testSite(t *testing.T) site {
	return site{Dir: t.TempDir(), Listen: "127.0.0.1:20001", Backends: []string{"127.0.0.1:20002", "127.0.0.1:20003"},
		Workers: 2, Root: true, Sluice: "/bin/sluice"}
}

// The sluice config must be one sluice accepts: a round-robin balancer of
// both backends behind "/", with no warnings and no access log.
func TestSluiceConfigLoads(t *testing.T) {
	s := testSite(t)
	argv, env, err := peerCommand("sluice", s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(argv, " ") != "/bin/sluice -config "+s.Dir+"/sluice.conf" || strings.Join(env, " ") != "GOMAXPROCS=2" {
		t.Errorf("command %q env %q", argv, env)
	}
	cfg, err := config.LoadApache(s.Dir + "/sluice.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) > 0 || cfg.AccessLog.Path != "" {
		t.Errorf("warnings %q, access log %q", cfg.Warnings, cfg.AccessLog.Path)
	}
	if len(cfg.Listen) != 1 || cfg.Listen[0] != s.Listen {
		t.Errorf("listen %q", cfg.Listen)
	}
	bals := cfg.Main.Balancers
	if len(bals) != 1 || len(bals[0].Members) != 2 || len(cfg.Main.Routes) != 1 {
		t.Fatalf("want one balancer of two members and one route; got %d balancers, %d routes", len(bals), len(cfg.Main.Routes))
	}
	if m := bals[0].LBMethod; m != "" && m != "byrequests" {
		t.Errorf("lbmethod %q, want byrequests", m)
	}
}

// Every other peer's config names the listen address, both backends, the
// keep-alive settings that make it comparable, and its worker count.
func TestPeerConfigs(t *testing.T) {
	tests := []struct {
		peer, file, argv0 string
		want              []string
	}{
		{"nginx", "nginx.conf", "nginx", []string{"user www-data", "worker_processes 2;", "listen 127.0.0.1:20001 deferred;",
			"server 127.0.0.1:20002;", "server 127.0.0.1:20003;", "keepalive 256;", "proxy_http_version 1.1;",
			`proxy_set_header Connection "";`, "access_log off;", "keepalive_timeout 75s;"}},
		{"haproxy", "haproxy.cfg", "haproxy", []string{"nbthread 2", "bind 127.0.0.1:20001 defer-accept", "balance roundrobin",
			"server s0 127.0.0.1:20002", "server s1 127.0.0.1:20003", "http-reuse always", "timeout http-keep-alive 75s"}},
		{baseline, "baseline.conf", "/bin/sluice", []string{"Listen 127.0.0.1:20001",
			`BalancerMember "http://127.0.0.1:20002"`, `ProxyPass "/" "balancer://b/"`}},
		{"apache", "apache.conf", "apache2", []string{"User www-data", "Listen 127.0.0.1:20001", "mod_mpm_event.so",
			"StartServers 2", "ServerLimit 2", "MaxRequestWorkers 256", `BalancerMember "http://127.0.0.1:20002" enablereuse=on`,
			`BalancerMember "http://127.0.0.1:20003" enablereuse=on`, "lbmethod=byrequests", "KeepAliveTimeout 75",
			"MaxKeepAliveRequests 0", `ProxyPass "/" "balancer://b/"`}},
	}
	for _, tt := range tests {
		s := testSite(t)
		argv, _, err := peerCommand(tt.peer, s)
		if err != nil {
			t.Fatalf("%s: %v", tt.peer, err)
		}
		if argv[0] != tt.argv0 || !strings.Contains(strings.Join(argv, " "), s.Dir+"/"+tt.file) {
			t.Errorf("%s: command %q", tt.peer, argv)
		}
		b, err := os.ReadFile(s.Dir + "/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s config lacks %q:\n%s", tt.peer, w, b)
			}
		}
	}
}

// Not root: no User line, which nginx and Apache would refuse.
func TestPeerConfigsUnprivileged(t *testing.T) {
	for peer, file := range map[string]string{"nginx": "nginx.conf", "apache": "apache.conf"} {
		s := testSite(t)
		s.Root = false
		if _, _, err := peerCommand(peer, s); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(s.Dir + "/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(string(b)), "user ") {
			t.Errorf("%s config names a user:\n%s", peer, b)
		}
	}
}

func TestPeerUnknown(t *testing.T) {
	if _, _, err := peerCommand("caddy", testSite(t)); err == nil {
		t.Error("unknown peer accepted")
	}
}

// With TLS every peer terminates TLS 1.3 with the harness's certificate;
// sluice's config loads with it and reads the files.
func TestPeerConfigsTLS(t *testing.T) {
	for peer, want := range map[string][]string{
		"nginx":   {"listen 127.0.0.1:20001 ssl deferred;", "ssl_certificate {DIR}/tls.crt;", "ssl_protocols TLSv1.3;", "Ciphersuites TLS_AES_128_GCM_SHA256;"},
		"haproxy": {"bind 127.0.0.1:20001 defer-accept ssl crt {DIR}/tls.pem ssl-min-ver TLSv1.3 ciphersuites TLS_AES_128_GCM_SHA256"},
		"apache":  {"mod_ssl.so", "SSLEngine on", "SSLCertificateFile {DIR}/tls.crt", "SSLCipherSuite TLSv1.3 TLS_AES_128_GCM_SHA256"},
		"sluice":  {"SSLEngine on", "SSLCertificateKeyFile {DIR}/tls.key", "SSLProtocol -all +TLSv1.3"},
	} {
		s := testSite(t)
		s.TLS = true
		argv, _, err := peerCommand(peer, s)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(configOf(argv))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if w = strings.ReplaceAll(w, "{DIR}", s.Dir); !strings.Contains(string(b), w) {
				t.Errorf("%s config lacks %q:\n%s", peer, w, b)
			}
		}
	}
	s := testSite(t)
	s.TLS = true
	if err := writeCert(s.Dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := peerCommand("sluice", s); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadApache(s.Dir + "/sluice.conf")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Main.TLS == nil || len(cfg.Warnings) > 0 {
		t.Errorf("sluice TLS config: tls %v, warnings %q", cfg.Main.TLS, cfg.Warnings)
	}
}

// configOf is the config file in a peer's command line.
func configOf(argv []string) string {
	for i, a := range argv {
		if (a == "-c" || a == "-f" || a == "-config") && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}
