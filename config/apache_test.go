package config

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestWords(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`a b	c`, []string{"a", "b", "c"}},
		{`"/a b" 'c d'`, []string{"/a b", "c d"}},
		{`"say \"hi\"" 'it\'s'`, []string{`say "hi"`, "it's"}},
		{`a\\b "c\\d" e\f`, []string{`a\b`, `c\d`, `e\f`}},
		{`"^/(?:$|index\\.html$)"`, []string{`^/(?:$|index\.html$)`}},
		{`  `, nil},
	}
	for _, c := range cases {
		got, err := words(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("words(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestSplitLines(t *testing.T) {
	src := "# comment\n  Listen 80\r\n\nProxyPass /a \\\n   http://h/ \\\n  retry=0\n\t# indented comment\nX # not a comment\n" +
		"# a comment continues \\\nProxyPass /b http://h/\nY\n"
	got := splitLines("f", []byte(src))
	want := []logicalLine{
		{Pos{"f", 2}, "Listen 80"},
		{Pos{"f", 4}, "ProxyPass /a    http://h/   retry=0"},
		{Pos{"f", 8}, "X # not a comment"},
		{Pos{"f", 11}, "Y"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestApacheTime(t *testing.T) {
	cases := []struct {
		in   string
		unit time.Duration
		want time.Duration
		ok   bool
	}{
		{"5", time.Second, 5 * time.Second, true},
		{"500ms", time.Second, 500 * time.Millisecond, true},
		{"300", time.Millisecond, 300 * time.Millisecond, true},
		{"2s", time.Millisecond, 2 * time.Second, true},
		{"2MI", time.Second, 2 * time.Minute, true},
		{"1h", time.Second, time.Hour, true},
		{"0", time.Second, 0, true},
		{"1m", time.Second, 0, false},
		{"-1", time.Second, 0, false},
		{"+1", time.Second, 0, false},
		{"1.5s", time.Second, 0, false},
		{"", time.Second, 0, false},
		{"ms", time.Second, 0, false},
		{"99999999999999h", time.Second, 0, false},
	}
	for _, c := range cases {
		got, err := apacheTime(c.in, c.unit)
		if (err == nil) != c.ok || got.D() != c.want {
			t.Errorf("apacheTime(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestWorkerURL(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"HTTP://Example.COM:80/App/", "http://example.com/App/", ""},
		{"https://h:443", "https://h", ""},
		{"https://h:8443/x", "https://h:8443/x", ""},
		{"ws://h:80/s", "ws://h/s", ""},
		{"wss://[::1]:443/", "wss://[::1]/", ""},
		{"http://[2001:DB8::1]:8080", "http://[2001:db8::1]:8080", ""},
		{"http://h_1.docker", "http://h_1.docker", ""},
		{"fcgi://h:9000/", "fcgi://h:9000/", ""},
		{"FCGI://H:8000/srv/", "fcgi://h/srv/", ""},
		{"unix:/run/php.sock|fcgi://localhost/", "unix:/run/php.sock|fcgi://localhost/", ""},
		{"UNIX:/run/a.sock|HTTP://X:80", "unix:/run/a.sock|http://x", ""},
		{"unix:run/php.sock|fcgi://localhost/", "", `the socket "run/php.sock" must be an absolute path: unix:/run/app.sock|fcgi://localhost/`},
		{"unix:/run/php.sock|ajp://h/", "unix:/run/php.sock|ajp://h/", ""},
		{"unix:/run/php.sock|scgi://h/", "", `scheme "scgi" is not supported: use http:// (allowed: http, https, ws, wss, fcgi, ajp, and unix:/path|http:// or unix:/path|fcgi://)`},
		{"ajp://h:8009/", "ajp://h/", ""},
		{"scgi://h:4000/", "", `scheme "scgi" is not supported: use http:// (allowed: http, https, ws, wss, fcgi, ajp, and unix:/path|http:// or unix:/path|fcgi://)`},
		{"h:80", "", `scheme "h" is not supported: use http:// (allowed: http, https, ws, wss, fcgi, ajp, and unix:/path|http:// or unix:/path|fcgi://)`},
		{"/local", "", "is not an absolute URL: use http://host[:port][/path]"},
		{"http://u:p@h/", "", "a worker URL cannot carry user:password@"},
		{"http://::1/", "", "an IPv6 host must be written in brackets: [::1]"},
		{"http:///x", "", "has no host"},
		{"http://h:0/", "", `port "0" must be a number between 1 and 65535`},
	}
	for _, c := range cases {
		got, err := workerURL(c.in, false)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && err.Error() != c.err {
			t.Errorf("workerURL(%q) = %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
	}
	if got, err := workerURL("http://Example.com/$1", true); err != nil || got != "http://example.com/$1" {
		t.Errorf("ProxyPassMatch target: %q, %v", got, err)
	}
}

func TestListenAddr(t *testing.T) {
	for in, want := range map[string]string{
		"80": ":80", "*:80": ":80", "127.0.0.1:8080": "127.0.0.1:8080", "[::1]:80": "[::1]:80",
		"Localhost:81": "localhost:81", ":443": ":443",
	} {
		if got, err := listenAddr(in); err != nil || got != want {
			t.Errorf("listenAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65536", "h", "[::1]", "a b:80"} {
		if got, err := listenAddr(in); err == nil {
			t.Errorf("listenAddr(%q) = %q, want an error", in, got)
		}
	}
}

func TestNormalizeStatus(t *testing.T) {
	for in, want := range map[string]string{"D": "+D", "+H": "+H", "S-E": "+S-E", "-DE": "-D-E", "+h-i": "+H-I", "": ""} {
		if got, err := normalizeStatus(in); err != nil || got != want {
			t.Errorf("normalizeStatus(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func parse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := ParseApache("/etc/t.conf", []byte(src), fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestWarnings checks one warning per ignored directive or section, each
// naming its file and line, and none for what sluice honours.
func TestWarnings(t *testing.T) {
	cfg := parse(t, `Listen 80 https
LoadModule proxy_module modules/mod_proxy.so
<Directory /srv>
    Options None
    Require all granted
</Directory>
RewriteRule ^/x(.*) http://h$1 [P,L]
RewriteRule ^/y /z [R]
Header set X-A b
ProxyRequests On
ProxyRequests Off
ProxyStatus On
ProxyPass / http://h/ iobuffersize=65536
<IfModule !mod_proxy.c>
    Bogus directive
</IfModule>
BalancerMember balancer://b http://h1 route=a redirect=zz
SSLCipherSuite HIGH:!aNULL
Listen 81 ftp
`)
	want := []string{
		"/etc/t.conf:2: LoadModule ignored: not a proxy directive",
		"/etc/t.conf:3: <Directory> section ignored with its contents",
		"/etc/t.conf:10: ProxyRequests On ignored: sluice is not a forward proxy",
		"/etc/t.conf:12: ProxyStatus ignored: balancer state is on the admin API and /metrics",
		"/etc/t.conf:13: ProxyPass iobuffersize=65536 ignored: sluice sizes its buffers itself",
		"/etc/t.conf:18: SSLCipherSuite ignored: Go's TLS offers its own set of secure cipher suites",
		`/etc/t.conf:19: Listen protocol "ftp" ignored: sluice serves HTTP on :81, with TLS where SSLEngine is on`,
		"/etc/t.conf:17: redirect=zz names no route of balancer://b",
	}
	if !reflect.DeepEqual(cfg.Warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(cfg.Warnings, "\n"), strings.Join(want, "\n"))
	}
}

// TestAcceptFilter: connections wait for data unless AcceptFilter http
// none (or accept_filter: none) says otherwise; on Linux Apache's three
// filter names all mean waiting; another protocol's filter is ignored.
func TestAcceptFilter(t *testing.T) {
	for _, c := range []struct{ directives, want string }{
		{"", AcceptFilterData},
		{"AcceptFilter http none\n", AcceptFilterNone},
		{"AcceptFilter HTTP None\n", AcceptFilterNone},
		{"AcceptFilter http none\nAcceptFilter http httpready\n", AcceptFilterData},
		{"AcceptFilter http none\nAcceptFilter http dataready\n", AcceptFilterData},
		{"AcceptFilter https none\n", AcceptFilterData},
	} {
		cfg := parse(t, "Listen 80\n"+c.directives)
		if cfg.AcceptFilter != c.want {
			t.Errorf("%q: accept filter %q, want %q", c.directives, cfg.AcceptFilter, c.want)
		}
	}
	cfg := parse(t, "Listen 80\nAcceptFilter https data\n")
	if want := []string{`/etc/t.conf:2: AcceptFilter for protocol "https" ignored: sluice's listeners all take AcceptFilter http's filter`}; !reflect.DeepEqual(cfg.Warnings, want) {
		t.Errorf("warnings %q, want %q", cfg.Warnings, want)
	}
	for src, want := range map[string]string{"listen: [':80']\n": AcceptFilterData, "listen: [':80']\naccept_filter: none\n": AcceptFilterNone} {
		cfg, err := ParseYAML("t.yaml", []byte(src))
		if err != nil || cfg.AcceptFilter != want {
			t.Errorf("%q: accept filter %q, %v; want %q", src, cfg.AcceptFilter, err, want)
		}
	}
}

// TestVHostInherits checks that a vhost takes Main's proxy settings unless
// it sets its own, in both syntaxes.
func TestVHostInherits(t *testing.T) {
	cfg := parse(t, `Listen 80
ProxyPreserveHost On
ProxyAddHeaders Off
ProxyVia Full
ProxyTimeout 5
BalancerInherit Off
ProxyPassInherit Off
<VirtualHost *:80>
</VirtualHost>
<VirtualHost *:81>
    ProxyPreserveHost Off
    ProxyTimeout 7
</VirtualHost>
`)
	a, b := cfg.VHosts[0], cfg.VHosts[1]
	if !a.PreserveHost || a.AddHeaders || a.Via != ViaFull || a.Timeout.D() != 5*time.Second || a.BalancerInherit {
		t.Errorf("first vhost did not inherit: %+v", a)
	}
	if b.PreserveHost || b.Timeout.D() != 7*time.Second || b.Via != ViaFull {
		t.Errorf("second vhost: %+v", b)
	}
	y, err := ParseYAML("t.yaml", []byte("listen: [':80']\nserver: {preserve_host: true, proxy_timeout: 5s}\nvhosts:\n  - addrs: ['*:80']\n  - addrs: ['*:81']\n    preserve_host: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !y.VHosts[0].PreserveHost || y.VHosts[0].Timeout.D() != 5*time.Second || y.VHosts[1].PreserveHost || !y.VHosts[1].AddHeaders {
		t.Errorf("YAML vhosts did not inherit: %+v %+v", y.VHosts[0], y.VHosts[1])
	}
}

// nonce=None in any case locks a balancer's manager in both syntaxes: the
// manager compares with "None".
func TestNonceNone(t *testing.T) {
	a := parse(t, "Listen 80\nProxySet balancer://b nonce=none\n")
	y, err := ParseYAML("t.yaml", []byte("listen: [':80']\nserver:\n  balancers: [{name: b, nonce: none, members: []}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []*Config{a, y} {
		if n := cfg.Main.Balancer("b").Nonce; n != "None" {
			t.Errorf("%s: nonce %q, want None", cfg.Source, n)
		}
	}
}

func TestBalancerLookup(t *testing.T) {
	cfg := parse(t, `Listen 80
<Proxy balancer://Main>
    BalancerMember http://h1
</Proxy>
<VirtualHost *:80>
    ProxyPass /a balancer://main/
    ProxyPass /b balancer://missing/
</VirtualHost>
<VirtualHost *:81>
    BalancerInherit Off
    ProxyPassInherit Off
    ProxyPass /a balancer://main/
</VirtualHost>
`)
	if cfg.Main.Balancer("main") == nil || cfg.Main.Balancer("Main") != nil {
		t.Fatalf("Main balancers: %+v", cfg.Main.Balancers)
	}
	inherit, off := cfg.VHosts[0], cfg.VHosts[1]
	if inherit.Balancer("main") != nil || inherit.Balancer("missing") == nil || len(inherit.Balancer("missing").Members) != 0 {
		t.Errorf("inheriting vhost balancers: %+v", inherit.Balancers)
	}
	if b := off.Balancer("main"); b == nil || len(b.Members) != 0 {
		t.Errorf("BalancerInherit and ProxyPassInherit Off must get their own empty balancer: %+v", off.Balancers)
	}
	if d := cfg.Main.Timeout.D(); d != DefaultProxyTimeout {
		t.Errorf("ProxyTimeout default = %v", d)
	}
}

// TestBalancerInheritNeedsBothOff checks Apache's "inherit || ppinherit": a
// vhost gets the main server's balancers unless BalancerInherit and
// ProxyPassInherit are both Off, each taken from the main server where the
// vhost does not write it.
func TestBalancerInheritNeedsBothOff(t *testing.T) {
	cases := []struct {
		main, vhost string
		inherit     bool
	}{
		{"", "", true},
		{"", "BalancerInherit Off", true},
		{"", "ProxyPassInherit Off", true},
		{"", "BalancerInherit Off\nProxyPassInherit Off", false},
		{"BalancerInherit Off\nProxyPassInherit Off", "", false},
		{"BalancerInherit Off\nProxyPassInherit Off", "ProxyPassInherit On", true},
		{"BalancerInherit Off", "ProxyPassInherit Off", false},
		{"ProxyPassInherit Off", "BalancerInherit Off", false},
	}
	for _, tc := range cases {
		cfg := parse(t, "Listen 80\n"+tc.main+"\n<Proxy balancer://b>\n    BalancerMember http://h1\n</Proxy>\n"+
			"<VirtualHost *:80>\n"+tc.vhost+"\n    ProxyPass / balancer://b/\n</VirtualHost>\n")
		vh := cfg.VHosts[0]
		if vh.BalancerInherit != tc.inherit || (vh.Balancer("b") == nil) != tc.inherit {
			t.Errorf("main %q, vhost %q: inherits %v with own balancers %+v; want inherit %v", tc.main, tc.vhost, vh.BalancerInherit, vh.Balancers, tc.inherit)
		}
	}
}

// TestVHostBalancerShadowed: in a vhost that inherits the main server's
// balancers, a balancer of the same name that the vhost defines (here by
// ProxyPass parameters, as real config 04 written under 07's server-level
// balancer would) is hidden by the main server's, as Apache's first-match
// lookup over the merged list hides it; sluice drops it with a warning
// rather than route to an empty balancer.
func TestVHostBalancerShadowed(t *testing.T) {
	cfg := parse(t, `Listen 80
<Proxy balancer://app>
    BalancerMember http://h1 route=1
</Proxy>
<VirtualHost *:80>
    ProxyPass / balancer://app/ stickysession=ROUTEID
</VirtualHost>
<VirtualHost *:81>
    BalancerInherit Off
    ProxyPassInherit Off
    ProxyPass / balancer://app/ stickysession=ROUTEID
</VirtualHost>
`)
	if b := cfg.VHosts[0].Balancer("app"); b != nil {
		t.Errorf("inheriting vhost kept its own balancer://app: %+v", b)
	}
	if b := cfg.VHosts[1].Balancer("app"); b == nil || b.StickyCookie != "ROUTEID" {
		t.Errorf("non-inheriting vhost's own balancer://app: %+v", b)
	}
	want := []string{"/etc/t.conf:6: balancer://app of this <VirtualHost> ignored, its members and parameters with it: the vhost inherits the main server's (/etc/t.conf:2), which serves it, as in Apache (BalancerInherit Off and ProxyPassInherit Off keep the vhost's own)"}
	if !reflect.DeepEqual(cfg.Warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(cfg.Warnings, "\n"), strings.Join(want, "\n"))
	}
	y, err := ParseYAML("t.yaml", []byte("listen: [':80']\nserver:\n  balancers: [{name: app, members: [{url: 'http://h1'}]}]\n"+
		"vhosts:\n  - addrs: ['*:80']\n    balancers: [{name: app, members: [{url: 'http://h2'}]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(y.VHosts[0].Balancers) != 0 || len(y.Warnings) != 1 {
		t.Errorf("YAML vhost balancers %+v, warnings %q", y.VHosts[0].Balancers, y.Warnings)
	}
}

func TestLoadPicksSyntax(t *testing.T) {
	if _, err := Load("x.ini"); err == nil || !strings.Contains(err.Error(), "unknown syntax") {
		t.Errorf("Load(x.ini) = %v", err)
	}
	if _, err := Load("missing.yml"); err == nil || !strings.Contains(err.Error(), `cannot read config "missing.yml"`) {
		t.Errorf("Load(missing.yml) = %v", err)
	}
	cfg, err := Load(goldenDir + "/01-simple.golden.yaml")
	if err != nil || cfg.Source != goldenDir+"/01-simple.golden.yaml" || len(cfg.Main.Routes) != 1 || cfg.Main.Routes[0].Pos.Line != 6 {
		t.Errorf("Load(yaml) = %+v, %v", cfg, err)
	}
}

// Include of a directory reads every regular file below it, in name
// order, subdirectories included, as Apache does.
func TestIncludeDirectory(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/sluice/conf.d/b.conf":     {Data: []byte("ProxyPass /b http://h/b\n")},
		"etc/sluice/conf.d/a.conf":     {Data: []byte("ProxyPass /a http://h/a\n")},
		"etc/sluice/conf.d/sub/c.conf": {Data: []byte("ProxyPass /c http://h/c\n")},
	}
	cfg, err := ParseApache("/etc/sluice/t.conf", []byte("Listen 80\nInclude conf.d\nProxyPass /z http://h/z\n"), fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cfg.Main.Routes {
		got = append(got, r.Path+"@"+r.Pos.String())
	}
	want := []string{"/a@/etc/sluice/conf.d/a.conf:1", "/b@/etc/sluice/conf.d/b.conf:1", "/c@/etc/sluice/conf.d/sub/c.conf:1", "/z@/etc/sluice/t.conf:3"}
	if !slices.Equal(got, want) {
		t.Fatalf("routes %q, want %q", got, want)
	}
}

// A wildcard does not match a name starting with "." unless the
// pattern's element starts with "." too, as Apache's APR_FNM_PERIOD: an
// editor's or package manager's leftover is not read.
func TestIncludeGlobSkipsDotFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/sluice/conf.d/a.conf":     {Data: []byte("ProxyPass /a http://h/a\n")},
		"etc/sluice/conf.d/.a.conf":    {Data: []byte("ProxyPass /dot http://h/dot\n")},
		"etc/sluice/conf.d/.old.conf":  {Data: []byte("ProxyPass /old http://h/old\n")},
		"etc/sluice/.hidden/b.conf":    {Data: []byte("ProxyPass /hidden http://h/hidden\n")},
		"etc/sluice/sites/b.conf":      {Data: []byte("ProxyPass /b http://h/b\n")},
		"etc/sluice/sites/sub/.c.conf": {Data: []byte("ProxyPass /dotc http://h/dotc\n")},
		"etc/sluice/sites/sub/c.conf":  {Data: []byte("ProxyPass /c http://h/c\n")},
	}
	src := "Listen 80\nInclude conf.d/*.conf\nIncludeOptional conf.d/.o*\nIncludeOptional */b.conf\nIncludeOptional sites/*/*\n"
	cfg, err := ParseApache("/etc/sluice/t.conf", []byte(src), fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cfg.Main.Routes {
		got = append(got, r.Path)
	}
	if want := []string{"/a", "/old", "/b", "/c"}; !slices.Equal(got, want) {
		t.Fatalf("routes %q, want %q", got, want)
	}
}

// Timeout is the backend timeout where no ProxyTimeout applies, in
// mod_proxy's order: the vhost's ProxyTimeout, the server's ProxyTimeout,
// the vhost's Timeout, the server's Timeout, 60 s. KeepAliveTimeout sets
// the client keep-alive idle time (a vhost's is warned about).
func TestCoreTimeouts(t *testing.T) {
	for _, c := range []struct {
		name, src string
		main      time.Duration
		vhosts    []time.Duration
	}{
		{"none", "", 60 * time.Second, []time.Duration{60 * time.Second, 60 * time.Second}},
		{"server Timeout", "Timeout 300\n", 300 * time.Second, []time.Duration{300 * time.Second, 300 * time.Second}},
		{"server ProxyTimeout wins", "Timeout 300\nProxyTimeout 90\n", 90 * time.Second, []time.Duration{90 * time.Second, 90 * time.Second}},
		{"vhost Timeout", "Timeout 300\n@A Timeout 20\n", 300 * time.Second, []time.Duration{20 * time.Second, 300 * time.Second}},
		{"server ProxyTimeout over vhost Timeout", "ProxyTimeout 90\n@A Timeout 20\n", 90 * time.Second, []time.Duration{90 * time.Second, 90 * time.Second}},
		{"vhost ProxyTimeout", "Timeout 300\n@A ProxyTimeout 7\n@B Timeout 8\n", 300 * time.Second, []time.Duration{7 * time.Second, 8 * time.Second}},
	} {
		a, b := "", ""
		var server []string
		for _, line := range strings.Split(strings.TrimSpace(c.src), "\n") {
			switch {
			case strings.HasPrefix(line, "@A "):
				a += line[3:] + "\n"
			case strings.HasPrefix(line, "@B "):
				b += line[3:] + "\n"
			case line != "":
				server = append(server, line)
			}
		}
		src := "Listen 80\n" + strings.Join(server, "\n") + "\n<VirtualHost *:80>\nServerName a\n" + a + "</VirtualHost>\n<VirtualHost *:80>\nServerName b\n" + b + "</VirtualHost>\n"
		cfg := parse(t, src)
		if got := cfg.Main.Timeout.D(); got != c.main {
			t.Errorf("%s: server %v, want %v", c.name, got, c.main)
		}
		for i, want := range c.vhosts {
			if got := cfg.VHosts[i].Timeout.D(); got != want {
				t.Errorf("%s: vhost %d %v, want %v", c.name, i, got, want)
			}
		}
	}
	cfg := parse(t, "Listen 80\nKeepAliveTimeout 15\n<VirtualHost *:80>\nKeepAliveTimeout 3\n</VirtualHost>\n")
	if got := cfg.Timeouts.ClientIdle.D(); got != 15*time.Second {
		t.Errorf("KeepAliveTimeout 15: client_idle %v", got)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "t.conf:4: KeepAliveTimeout in a <VirtualHost> ignored") {
		t.Errorf("warnings %q", cfg.Warnings)
	}
}

// ProxySet for a plain worker (<Proxy http://h> or "ProxySet http://h
// k=v", as Apache's own example has it) sets the parameters of the direct
// routes whose target lies under that URL, over their own; one that no
// route uses is warned about.
func TestProxySetPlainWorker(t *testing.T) {
	cfg := parse(t, `Listen 80
<Proxy "http://backend.example:8080">
    ProxySet connectiontimeout=5 timeout=30
</Proxy>
ProxyPass /example http://backend.example:8080
ProxyPass /app http://h.example/app/x timeout=9 retry=4
ProxyPass /other http://h.example/other
ProxySet http://h.example/app retry=0
ProxySet http://unused.example timeout=1
`)
	r := cfg.Main.Routes
	if w := r[0].Worker; w == nil || w.Timeout.D() != 30*time.Second || w.ConnectionTimeout.D() != 5*time.Second {
		t.Errorf("/example worker %+v", w)
	}
	if w := r[1].Worker; w == nil || w.Timeout.D() != 9*time.Second || w.Retry.D() != 0 || !w.RetrySet {
		t.Errorf("/app worker %+v", w)
	}
	if r[2].Worker != nil {
		t.Errorf("/other took another worker's parameters: %+v", r[2].Worker)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "t.conf:9: ProxySet http://unused.example: no ProxyPass") {
		t.Errorf("warnings %q", cfg.Warnings)
	}
}

// A plain worker's ProxySet belongs to the host it is written in, as
// Apache's workers belong to each server's config: the main server's also
// reaches the vhosts that inherit its workers, a vhost's only its own
// routes.
func TestProxySetPlainWorkerHost(t *testing.T) {
	cfg := parse(t, `Listen 80
ProxyPass /main http://h/
ProxySet http://m timeout=3
<VirtualHost *:80>
    ProxySet http://h timeout=7
    ProxyPass /a http://h/
    ProxyPass /am http://m/
</VirtualHost>
<VirtualHost *:81>
    ProxyPass /b http://h/
    ProxyPass /bm http://m/
</VirtualHost>
<VirtualHost *:82>
    BalancerInherit Off
    ProxyPassInherit Off
    ProxyPass /c http://m/
</VirtualHost>
`)
	timeout := func(r *Route) time.Duration {
		if r.Worker == nil {
			return 0
		}
		return r.Worker.Timeout.D()
	}
	got := []time.Duration{timeout(cfg.Main.Routes[0])}
	for _, h := range cfg.VHosts {
		for _, r := range h.Routes {
			got = append(got, timeout(r))
		}
	}
	want := []time.Duration{0, 7 * time.Second, 3 * time.Second, 0, 3 * time.Second, 0}
	if !slices.Equal(got, want) {
		t.Errorf("timeouts of /main /a /am /b /bm /c = %v, want %v", got, want)
	}
}

// LimitRequestBody in the server is limits.max_request_body, in a vhost
// that vhost's own; 0 (no limit) and a <Location>'s are warned about.
func TestLimitRequestBody(t *testing.T) {
	cfg := parse(t, `Listen 80
LimitRequestBody 10485760
<VirtualHost *:80>
LimitRequestBody 2048
<Location /up>
LimitRequestBody 5
</Location>
</VirtualHost>
<VirtualHost *:80>
LimitRequestBody 0
</VirtualHost>
`)
	if cfg.Limits.MaxRequestBody != 10485760 || cfg.VHosts[0].LimitRequestBody != 2048 || cfg.VHosts[1].LimitRequestBody != 0 {
		t.Errorf("limits %d, vhosts %d %d", cfg.Limits.MaxRequestBody, cfg.VHosts[0].LimitRequestBody, cfg.VHosts[1].LimitRequestBody)
	}
	if len(cfg.Warnings) != 2 || !strings.Contains(cfg.Warnings[0], "t.conf:6: LimitRequestBody in a <Location> ignored") ||
		!strings.Contains(cfg.Warnings[1], "t.conf:10: LimitRequestBody 0 (no limit) kept") {
		t.Errorf("warnings %q", cfg.Warnings)
	}
	assertRoundTrip(t, cfg)
}

// TestTransferLogFormat: TransferLog takes the last one-argument
// LogFormat of its host, else the main server's, else common; the one
// argument may be a nickname an earlier LogFormat defined, as Apache reads
// it.
func TestTransferLogFormat(t *testing.T) {
	cfg := parse(t, `Listen 80
LogFormat "%h %>s" short
LogFormat short
TransferLog /var/log/main.log
<VirtualHost *:80>
  ServerName a
  LogFormat "%h %U"
  TransferLog /var/log/a.log
</VirtualHost>
<VirtualHost *:80>
  ServerName b
  TransferLog /var/log/b.log
</VirtualHost>
`)
	for _, c := range []struct {
		h    *Host
		want string
	}{{cfg.Main, "%h %>s"}, {cfg.VHosts[0], "%h %U"}, {cfg.VHosts[1], "%h %>s"}} {
		if len(c.h.AccessLogs) != 1 || c.h.AccessLogs[0].Format != c.want {
			t.Errorf("%s: logs %+v, want format %q", c.h.Pos, c.h.AccessLogs, c.want)
		}
	}
}

// TestWildcardExpr: a <Location> path with wildcards reads as the regular
// expression of httpd's fnmatch over the whole path.
func TestWildcardExpr(t *testing.T) {
	for _, tc := range []struct {
		pat      string
		match    []string
		mismatch []string
	}{
		{"/a/*", []string{"/a/", "/a/x"}, []string{"/a", "/a/x/y", "/ab/x"}},
		{"/a/?.html", []string{"/a/b.html"}, []string{"/a/bc.html", "/a//.html", "/a/bXhtml"}},
		{"/[ab]x/*", []string{"/ax/1", "/bx/2"}, []string{"/cx/1"}},
		{"/[!ab]x", []string{"/cx"}, []string{"/ax"}},
		{"/x[y", []string{"/x[y"}, []string{"/xy"}},
	} {
		re := regexp.MustCompile(wildcardExpr(tc.pat))
		for _, p := range tc.match {
			if !re.MatchString(p) {
				t.Errorf("%s (%s) does not match %s", tc.pat, re, p)
			}
		}
		for _, p := range tc.mismatch {
			if re.MatchString(p) {
				t.Errorf("%s (%s) matches %s", tc.pat, re, p)
			}
		}
	}
}

// A UTF-8 byte order mark at the start of a file is dropped. Before, it
// glued itself to the first directive's name, so "\uFEFFProxyPass" was an
// unknown non-proxy directive: warned and its route silently lost.
func TestByteOrderMarkDropped(t *testing.T) {
	fsys := fstest.MapFS{"etc/inc.conf": {Data: []byte("\uFEFFProxyPass /b http://h/b\n")}}
	cfg, err := ParseApache("/etc/t.conf", []byte("\uFEFFProxyPass /a http://h/a\nListen 80\nInclude inc.conf\n"), fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cfg.Main.Routes {
		got = append(got, r.Path)
	}
	if !slices.Equal(got, []string{"/a", "/b"}) || len(cfg.Warnings) != 0 {
		t.Errorf("routes %q, warnings %q; want /a and /b, no warnings", got, cfg.Warnings)
	}
}

// A backslash continues a line only right before its line feed, as in
// ap_cfg_getline. Before, one followed by blanks did too, so a comment
// ending in "\ " swallowed the ProxyPass under it, and a backslash ending
// the file was dropped instead of kept as text.
func TestContinuationOnlyBeforeNewline(t *testing.T) {
	got := splitLines("f", []byte("# C:\\ \nProxyPass /b http://h/b\nX a \\\t\r\nY \\"))
	want := []logicalLine{
		{Pos{"f", 2}, "ProxyPass /b http://h/b"},
		{Pos{"f", 3}, "X a \\"},
		{Pos{"f", 4}, "Y \\"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// <IfVersion> is tested against the httpd release sluice reproduces
// (2.4.71). Before, every <IfVersion> was active, so a config's 2.2 branch
// ("< 2.4") ran beside its 2.4 one, and a malformed test passed.
func TestIfVersion(t *testing.T) {
	for _, c := range []struct {
		test string
		on   bool
	}{
		{">= 2.4", true}, {"> 2.4", true}, {"< 2.4", false}, {"<= 2.4.71", true},
		{"2.4", false}, {"= 2.4.71", true}, {"== 2.4.70", false}, {"!< 2.4", true},
		{"! < 2.4", true}, {"!= 2.2", true}, {"~ ^2\\.4\\.", true}, {"= /^2\\.2/", false},
		{"!~ ^2\\.2", true}, {">= 3", false}, {"< 2.5.0", true},
	} {
		cfg := parse(t, "Listen 80\n<IfVersion "+c.test+">\nProxyPass /a http://h/a\n</IfVersion>\n")
		if on := len(cfg.Main.Routes) == 1; on != c.on {
			t.Errorf("<IfVersion %s>: active %v, want %v", c.test, on, c.on)
		}
	}
	for _, bad := range []string{"", ">=2.4", "=> 2.4", "< 2.x", "< 2.4.1.1", "1 2 3"} {
		_, err := ParseApache("/etc/t.conf", []byte("Listen 80\n<IfVersion "+bad+">\n</IfVersion>\n"), fstest.MapFS{})
		if err == nil || !strings.Contains(err.Error(), "<IfVersion>") {
			t.Errorf("<IfVersion %s>: error %v, want one naming <IfVersion>", bad, err)
		}
	}
}

// Define and ${NAME} work as httpd's: a value replaces ${NAME} on later
// lines (else the environment's; else the text stays and warns), and
// <IfDefine> tests names Define or UnDefine named. Before, Define was an
// ignored unknown directive, so "ProxyPass /${P} …" routed the literal
// path "/${P}" without a word, and <IfDefine !X> ran nothing even once
// UnDefine X made it true.
func TestDefine(t *testing.T) {
	t.Setenv("SLUICE_TEST_HOST", "envhost")
	cfg := parse(t, `Listen 80
Define P app
Define B http://b:8080/x
Define FLAG
ProxyPass /${P}/ ${B}/
ProxyPass /e/ http://${SLUICE_TEST_HOST}/
ProxyPass /u/${NOPE}/ http://h/
<IfDefine !FLAG>
ProxyPass /no1/ http://h/
</IfDefine>
UnDefine FLAG
<IfDefine FLAG>
ProxyPass /no2/ http://h/
</IfDefine>
<IfDefine !FLAG>
ProxyPass /yes/ http://h/
</IfDefine>
`)
	var got []string
	for _, r := range cfg.Main.Routes {
		got = append(got, r.Path+" "+r.Target)
	}
	want := []string{"/app/ http://b:8080/x/", "/e/ http://envhost/", "/u/${NOPE}/ http://h/", "/yes/ http://h/"}
	if !slices.Equal(got, want) {
		t.Errorf("routes %q, want %q", got, want)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "t.conf:7: config variable ${NOPE} is not defined") {
		t.Errorf("warnings %q, want one for ${NOPE}", cfg.Warnings)
	}
}
