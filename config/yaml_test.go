package config

import (
	"strings"
	"testing"
	"time"
)

// TestYAMLMergeKeys: a setting a mapping takes through a merge key
// ("<<: *anchor") counts as written. Before, only the mapping's own keys
// were looked at, so a member that merged retry: 0s got the 60s default
// and a balancer that merged forcerecovery: false got true, though the
// decoder had set both.
func TestYAMLMergeKeys(t *testing.T) {
	src := `listen: [':80']
server:
  balancers:
    - &app
      name: a
      forcerecovery: false
      members:
        - &m {url: 'http://a', retry: 0s}
        - <<: *m
          url: http://b
    - <<: *app
      name: b
      members:
        - <<: [*m]
          url: http://c
  routes:
    - path: /x/
      target: http://h/x/
      worker: &w {retry: 0s}
    - path: /y/
      target: http://h/y/
      worker: {<<: *w, timeout: 5s}
vhosts:
  - addrs: ['*:80']
    <<: {add_headers: false, balancer_inherit: false}
`
	cfg, err := ParseYAML("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range cfg.Main.Balancers {
		if b.ForceRecovery {
			t.Errorf("balancer://%s: forcerecovery true, want the merged false", b.Name)
		}
		for _, m := range b.Members {
			if m.Params.Retry != 0 {
				t.Errorf("%s: retry %v, want the merged 0s", m.URL, m.Params.Retry)
			}
		}
	}
	for _, r := range cfg.Main.Routes {
		if r.Worker.Retry != 0 || !r.Worker.RetrySet {
			t.Errorf("route %s: retry %v (set %v), want the merged 0s", r.Path, r.Worker.Retry, r.Worker.RetrySet)
		}
	}
	if w := cfg.Main.Routes[1].Worker; w.Timeout.D() != 5*time.Second {
		t.Errorf("route /y/: timeout %v, want 5s", w.Timeout)
	}
	if v := cfg.VHosts[0]; v.AddHeaders || v.BalancerInherit {
		t.Errorf("vhost: add_headers %v, balancer_inherit %v; want the merged false, false", v.AddHeaders, v.BalancerInherit)
	}
}

// TestYAMLTemplateKeys: an hc_templates entry takes the keys
// ProxyHCTemplate takes. Before, YAML accepted every worker key there
// (retry, timeout, hctemplate…) and dropped it silently, where the docs
// say unknown keys are errors and Apache refuses them.
func TestYAMLTemplateKeys(t *testing.T) {
	for _, kv := range []string{"retry: 10s", "timeout: 5s", "lbset: 500", "hctemplate: t"} {
		src := "listen: [':80']\nhc_templates:\n  - name: t\n    hcmethod: GET\n    " + kv + "\n"
		key, _, _ := strings.Cut(kv, ":")
		_, err := ParseYAML("t.yaml", []byte(src))
		assertError(t, err, "t.yaml:5: "+key+": unknown key (allowed: name, hcmethod, hcinterval, hcpasses, hcfails, hcuri, hcexpr)")
	}
	if _, err := ParseYAML("t.yaml", []byte("listen: [':80']\nhc_templates:\n  - {name: t, hcmethod: GET, hcinterval: 5s, hcpasses: 2, hcfails: 2, hcuri: /h}\n")); err != nil {
		t.Error(err)
	}
}
