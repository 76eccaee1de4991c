package server

import (
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testcert"
	"github.com/sluiceproxy/sluice/pool"
)

// TestReloadKeepsPools: an unchanged member keeps its connection pool (and
// its keep-alive connections) across a reload; a changed one gets a new one.
func TestReloadKeepsPools(t *testing.T) {
	conf := `
<Proxy balancer://b>
    BalancerMember http://BACKEND timeout=5
</Proxy>
ProxyPass / balancer://b/
`
	s, _ := startProxy(t, conf, "127.0.0.1:9")
	before := s.rt.Load().hosts[0].balancers["b"].Load().Members[0].Backend
	reload := func(src string) {
		cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\n"+strings.ReplaceAll(src, "BACKEND", "127.0.0.1:9")), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	reload(conf)
	if got := s.rt.Load().hosts[0].balancers["b"].Load().Members[0].Backend; got != before {
		t.Fatal("an unchanged member got a new connection pool on reload")
	}
	reload(strings.Replace(conf, "timeout=5", "timeout=7", 1))
	if got := s.rt.Load().hosts[0].balancers["b"].Load().Members[0].Backend; got == before {
		t.Fatal("a member whose timeout changed kept its old pool")
	}
}

// TestReloadKeepsTLSPools: a member under SSLProxy* settings keeps its
// pool over a reload that reads the same certificates (every reload reads
// the files again), and gets a new one when a file holds others.
func TestReloadKeepsTLSPools(t *testing.T) {
	dir := t.TempDir()
	caFile, _ := testcert.New(t).WriteFiles(t, dir, "ca")
	conf := "SSLProxyEngine on\nSSLProxyCACertificateFile " + caFile + `
<Proxy balancer://b>
    BalancerMember https://127.0.0.1:9
</Proxy>
ProxyPass / balancer://b/
`
	s, _ := startProxy(t, conf, "")
	backend := func() *pool.Backend { return s.rt.Load().hosts[0].balancers["b"].Load().Members[0].Backend }
	reload := func() {
		cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\n"+conf), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	before := backend()
	reload()
	if backend() != before {
		t.Fatal("a member whose SSLProxy* settings and certificates did not change got a new connection pool")
	}
	testcert.New(t).WriteFiles(t, dir, "ca") // the CA file replaced
	reload()
	if backend() == before {
		t.Fatal("a member kept its pool though its CA file holds another certificate")
	}
}

// An unchanged https member's health check keeps its schedule across a
// reload, though SSLProxy* settings give its pool a new TLS configuration.
func TestReloadKeepsTheCheckScheduleOfATLSMember(t *testing.T) {
	conf := `
SSLProxyEngine on
SSLProxyVerify none
<Proxy balancer://b>
    BalancerMember https://127.0.0.1:9 hcmethod=TCP hcinterval=10
</Proxy>
ProxyPass / balancer://b/
`
	s, _ := startProxy(t, conf, "")
	id := s.rt.Load().hosts[0].balancers["b"].Load().Members[0].ID
	before, _ := s.hc.Health(id)
	cfg, err := config.ParseApache("test.conf", []byte("Listen 127.0.0.1:0\n"+conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.hc.Health(id); before.Next.IsZero() || !after.Next.Equal(before.Next) {
		t.Fatalf("next check at %v after a reload, want %v", after.Next, before.Next)
	}
}
