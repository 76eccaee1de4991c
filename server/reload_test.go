package server

import (
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
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
