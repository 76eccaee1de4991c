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

// TestYAMLMatchesApache loads Apache configurations and the YAML that
// docs/config.md says the same, and compares the models: every
// worker and balancer parameter, routes with exclusions, ProxyPassReverse
// and the cookie rules, vhost inheritance, limits, timeouts, checks,
// managers, access and access logs.
func TestYAMLMatchesApache(t *testing.T) {
	for i, c := range []struct{ conf, yaml string }{{`Listen 8080
ProxyTimeout 30
ProxyPreserveHost On
ProxyVia Full
<Proxy balancer://app>
  BalancerMember http://10.0.0.1:8080 loadfactor=3 lbset=1 route=a status=+H retry=0 timeout=5 connectiontimeout=2 ping=500ms keepalive=on disablereuse=on hcmethod=GET hcuri=/h hcinterval=10 hcpasses=2 hcfails=3
  BalancerMember http://10.0.0.2:8080 route=b redirect=a ttl=30 max=10 smax=5 min=1 acquire=200
  ProxySet lbmethod=bybusyness stickysession=JSESSIONID|jsessionid scolonpathdelim=on nofailover=on maxattempts=2 failonstatus=500,503 failontimeout=on forcerecovery=off growth=10 timeout=3
</Proxy>
ProxyPass /static/ !
ProxyPass /app/ balancer://app/
ProxyPassMatch ^/x/(.*)$ http://10.0.0.9:8080/y/$1 timeout=5 retry=0
ProxyPass /d/ http://10.0.0.9:8080/d/ nocanon noquery
ProxyPassReverse /app/ balancer://app/
ProxyPassReverseCookieDomain backend.example.com example.com
ProxyPassReverseCookiePath / /app/
`, `listen: ["8080"]
server:
  proxy_timeout: 30s
  preserve_host: true
  via: full
  balancers:
    - name: app
      lbmethod: bybusyness
      sticky_cookie: JSESSIONID
      sticky_urlparam: jsessionid
      scolonpathdelim: true
      nofailover: true
      maxattempts: 2
      failonstatus: [500, 503]
      failontimeout: true
      forcerecovery: false
      growth: 10
      timeout: 3s
      members:
        - url: http://10.0.0.1:8080
          loadfactor: 3
          lbset: 1
          route: a
          status: +H
          retry: 0s
          timeout: 5s
          connectiontimeout: 2s
          ping: 500ms
          keepalive: true
          disablereuse: true
          hcmethod: GET
          hcuri: /h
          hcinterval: 10s
          hcpasses: 2
          hcfails: 3
        - url: http://10.0.0.2:8080
          route: b
          redirect: a
          ttl: 30s
          max: 10
          smax: 5
          min: 1
          acquire: 200ms
  routes:
    - path: /static/
      exclude: true
    - path: /app/
      target: balancer://app/
    - path: ^/x/(.*)$
      match: true
      target: http://10.0.0.9:8080/y/$1
      worker: {timeout: 5s, retry: 0s}
    - path: /d/
      target: http://10.0.0.9:8080/d/
      nocanon: true
      noquery: true
  reverse:
    - {path: /app/, url: balancer://app/}
  cookie_domains: [{internal: backend.example.com, public: example.com}]
  cookie_paths: [{internal: /, public: /app/}]
`}, {`Listen 8080
Listen 127.0.0.1:8081
AcceptFilter http none
BalancerPersist On
BalancerGrowth 20
ProxyHCTPsize 4
ProxyHCExpr ok {%{REQUEST_STATUS} =~ /^[23]/}
ProxyHCTemplate tcp hcmethod=TCP hcinterval=5
LimitRequestBody 1000
KeepAliveTimeout 10
ProxyAddHeaders Off
AllowEncodedSlashes NoDecode
ProxyErrorOverride On 502 503
ServerAdmin admin@example.com
CustomLog /tmp/a.log combined env=!dontlog
<Proxy balancer://app>
  BalancerMember http://10.0.0.1:8080 hctemplate=tcp
  BalancerMember http://10.0.0.2:8080 hcmethod=GET hcexpr=ok
</Proxy>
<Location /balancer-manager>
  SetHandler balancer-manager
  Require ip 127.0.0.1
</Location>
<Location /admin>
  Require ip 10.0.0.0/8
  ProxyPass http://10.0.0.5/admin
</Location>
<VirtualHost *:8080>
  ServerName www.example.com
  ServerAlias example.com
  ProxyPreserveHost On
  ProxyTimeout 5
  LimitRequestBody 500
  ProxyPass / balancer://app/
</VirtualHost>
`, `listen: ["8080", "127.0.0.1:8081"]
accept_filter: none
balancer_persist: true
balancer_growth: 20
hc_tpsize: 4
hc_exprs: [{name: ok, expr: "%{REQUEST_STATUS} =~ /^[23]/"}]
hc_templates: [{name: tcp, hcmethod: TCP, hcinterval: 5s}]
limits: {max_request_body: 1000}
timeouts: {client_idle: 10s}
server:
  add_headers: false
  allow_encoded_slashes: nodecode
  error_override: {on: true, codes: [502, 503]}
  server_admin: admin@example.com
  access_logs: [{path: /tmp/a.log, format: combined, env: "!dontlog"}]
  balancers:
    - name: app
      members:
        - {url: "http://10.0.0.1:8080", hctemplate: tcp}
        - {url: "http://10.0.0.2:8080", hcmethod: GET, hcexpr: ok}
  managers:
    - {path: /balancer-manager, require: ["ip 127.0.0.1"]}
  access:
    - {location: /admin, require: ["ip 10.0.0.0/8"]}
  routes:
    - {path: /admin, target: "http://10.0.0.5/admin", location: true}
vhosts:
  - addrs: ["*:8080"]
    server_name: www.example.com
    server_aliases: [example.com]
    preserve_host: true
    proxy_timeout: 5s
    limit_request_body: 500
    routes:
      - {path: /, target: "balancer://app/"}
`}} {
		a, err := ParseApache("/t/t.conf", []byte(c.conf), nil)
		if err != nil {
			t.Fatal(err)
		}
		y, err := ParseYAML("/t/t.yaml", []byte(c.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if d := modelDiff(a, y); d != "" {
			da, _ := Dump(a)
			dy, _ := Dump(y)
			t.Errorf("case %d: %s\napache:\n%s\nyaml:\n%s", i, d, da, dy)
		}
	}
}

// TestYAMLStickyCookieAlone: a balancer with sticky_cookie alone takes
// the name for its URL parameter too, as Apache's stickysession=NAME does
// (and the Apache form loads); it was refused, in Apache's syntax.
func TestYAMLStickyCookieAlone(t *testing.T) {
	cfg, err := ParseYAML("t.yaml", []byte("listen: [':80']\nserver:\n  balancers:\n    - name: b\n      sticky_cookie: JSESSIONID\n      members: [{url: 'http://h1'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	apache, err := ParseApache("t.conf", []byte("Listen 80\n<Proxy balancer://b>\nBalancerMember http://h1\nProxySet stickysession=JSESSIONID\n</Proxy>\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	y, a := cfg.Main.Balancers[0], apache.Main.Balancers[0]
	if y.StickyCookie != "JSESSIONID" || y.StickyURLParam != a.StickyURLParam || a.StickyURLParam != "JSESSIONID" {
		t.Errorf("YAML cookie %q param %q; Apache param %q", y.StickyCookie, y.StickyURLParam, a.StickyURLParam)
	}
}
