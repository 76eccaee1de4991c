package config

import (
	"slices"
	"testing"
)

// TestBalancerIDs: a balancer name defined by one host is its ID; where
// several hosts define it, each vhost's gets "@" and the vhost's name and
// port (its address without a ServerName, "#2" on a clash), and the main
// server's keeps the plain name. (A vhost that inherits the main server's
// balancers uses the main server's app: both Off keep its own.)
func TestBalancerIDs(t *testing.T) {
	cfg, err := ParseApache("t.conf", []byte(`Listen 80
<Proxy balancer://app>
  BalancerMember http://m0
</Proxy>
<VirtualHost *:80>
  ServerName A.example
  BalancerInherit Off
  ProxyPassInherit Off
  <Proxy balancer://app>
    BalancerMember http://a1
  </Proxy>
  <Proxy balancer://solo>
    BalancerMember http://s1
  </Proxy>
  <Proxy balancer://dup>
    BalancerMember http://d1
  </Proxy>
</VirtualHost>
<VirtualHost *:8080>
  BalancerInherit Off
  ProxyPassInherit Off
  <Proxy balancer://app>
    BalancerMember http://b1
  </Proxy>
</VirtualHost>
<VirtualHost *:80>
  ServerName a.example
  <Proxy balancer://dup>
    BalancerMember http://d2
  </Proxy>
</VirtualHost>
<VirtualHost *:80>
  ServerName inherits.example
  ProxyPass / balancer://app/
</VirtualHost>
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range cfg.hosts() {
		for _, b := range h.Balancers {
			got = append(got, b.ID())
		}
	}
	want := []string{"app", "app@a.example:80", "solo", "dup@a.example:80", "app@*:8080", "dup@a.example:80#2"}
	if !slices.Equal(got, want) {
		t.Errorf("IDs %q, want %q", got, want)
	}
}
