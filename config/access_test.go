package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestApacheAccess: Require lines of <Location>, <LocationMatch> and
// <Proxy> sections become Access entries of their host, normalized and
// compiled.
func TestApacheAccess(t *testing.T) {
	src := `Listen 80
Require ip 10.0.0.1
<Proxy *>
    Require all Granted
</Proxy>
<Proxy "balancer://App/sub">
    BalancerMember http://b1:8080
    Require IP 10.0.0.0/8 ::1
    Require local
</Proxy>
<Proxy HTTP://Backend.Example.com:80/api/*>
    Require all denied
</Proxy>
<Proxy scgi://php/>
    Require ip 10.0.0.1
</Proxy>
<VirtualHost *:80>
    ServerName www.example.com
    <LocationMatch "^/v[0-9]+/">
        ProxyPass http://api.example.com/
        Require host Example.com
    </LocationMatch>
    <Location /admin>
        Require ip 192.168.1
    </Location>
    <Location /open>
    </Location>
</VirtualHost>
`
	cfg, err := ParseApache("t.conf", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range cfg.hosts() {
		for _, a := range h.Access {
			if a.Compiled == nil {
				t.Errorf("%+v not compiled", a)
			}
			got = append(got, a.Pos.String()+" "+a.Location+a.Proxy+" match="+map[bool]string{true: "y", false: "n"}[a.Match]+" "+strings.Join(a.Require, "|"))
		}
	}
	want := []string{
		"t.conf:3 * match=n all granted",
		"t.conf:6 balancer://app match=n ip 10.0.0.0/8 ::1|local",
		"t.conf:11 http://backend.example.com/api/ match=n all denied",
		"t.conf:19 ^/v[0-9]+/ match=y host Example.com",
		"t.conf:23 /admin match=n ip 192.168.1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("access:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if re := cfg.VHosts[0].Access[0].Regexp; re == nil || !re.MatchString("/v2/x") {
		t.Errorf("LocationMatch regexp: %v", re)
	}
	p := cfg.Main.Access[1].Compiled
	if !p.Allows(netip.MustParseAddr("10.1.1.1"), netip.Addr{}, time.Time{}, nil) || p.Allows(netip.MustParseAddr("11.1.1.1"), netip.Addr{}, time.Time{}, nil) {
		t.Error("compiled policy does not match its lines")
	}
	warnings := strings.Join(cfg.Warnings, "\n")
	for _, w := range []string{
		"t.conf:2: Require ignored: it applies only inside <Location>, <LocationMatch> or <Proxy>",
		"t.conf:14: Require in <Proxy scgi://php/> ignored: sluice proxies to no such backend",
	} {
		if !strings.Contains(warnings, w) {
			t.Errorf("no warning %q in:\n%s", w, warnings)
		}
	}
}

// TestYAMLAccess: the same model from YAML, normalized the same way.
func TestYAMLAccess(t *testing.T) {
	src := `listen: [':80']
server:
  access:
    - {proxy: '*', require: ['all Granted']}
    - {proxy: 'balancer://App/sub', require: ['IP 10.0.0.0/8', local]}
    - {proxy: 'HTTP://Backend.Example.com:80/api/*', require: ['all denied']}
    - {proxy: 'http://*', require: ['all denied']}
    - {location: '^/v[0-9]+/', match: true, require: ['host Example.com']}
`
	cfg, err := ParseYAML("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range cfg.Main.Access {
		got = append(got, a.Location+a.Proxy+" "+strings.Join(a.Require, "|"))
		if a.Compiled == nil || a.Match != (a.Regexp != nil) {
			t.Errorf("%+v not compiled", a)
		}
	}
	want := "* all granted\nbalancer://app ip 10.0.0.0/8|local\nhttp://backend.example.com/api/ all denied\nhttp:// all denied\n^/v[0-9]+/ host Example.com"
	if strings.Join(got, "\n") != want {
		t.Errorf("access:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}
