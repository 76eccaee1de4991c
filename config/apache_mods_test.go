package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestModsParse(t *testing.T) {
	cfg := parse(t, `Listen 80
RewriteEngine On
RewriteOptions Inherit
RewriteCond %{HTTP:Upgrade} =websocket [NC]
RewriteRule /(.*) balancer://ws/$1 [P,L]
Header always set X-Frame-Options DENY
<VirtualHost *:80>
    ServerName a
    RewriteRule ^/x$ /y [PT]
    RequestHeader set X-Forwarded-Proto "expr=%{REQUEST_SCHEME}"
    <LocationMatch "^/assets/">
        Header set Cache-Control "max-age=60"
    </LocationMatch>
    <Location /s>
        RewriteEngine on
        RewriteRule .* balancer://ws%{REQUEST_URI} [P]
    </Location>
    ErrorDocument 503 "busy"
</VirtualHost>
<VirtualHost *:80>
    ServerName b
    RewriteEngine Off
</VirtualHost>
`)
	m := cfg.Main.Rewrite
	if !m.Engine || m.Inherit != "inherit" || len(m.Rules) != 1 || len(m.Rules[0].Conds) != 1 || m.Rules[0].Flags != "P,L" || m.Compiled.Len() != 1 {
		t.Fatalf("main rewrite: %+v", m)
	}
	a, b := cfg.VHosts[0], cfg.VHosts[1]
	if !a.Rewrite.Engine || a.Rewrite.Inherit != "inherit" || len(a.Rewrite.Rules) != 1 {
		t.Errorf("vhost a must take the engine state and options of the main server: %+v", a.Rewrite)
	}
	if b.Rewrite.Engine || b.Rewrite.Inherit != "inherit" {
		t.Errorf("vhost b: %+v", b.Rewrite)
	}
	if len(a.LocationRewrites) != 1 || a.LocationRewrites[0].Scope != "/s" || !a.LocationRewrites[0].Engine {
		t.Errorf("location rewrite: %+v", a.LocationRewrites)
	}
	if h := a.Headers; len(h) != 1 || h[0].Scope != "^/assets/" || !h[0].ScopeMatch || h[0].Compiled == nil {
		t.Errorf("location header: %+v", h)
	}
	if h := a.RequestHeaders; len(h) != 1 || h[0].Value != "expr=%{REQUEST_SCHEME}" {
		t.Errorf("request header: %+v", h)
	}
	if h := cfg.Main.Headers; len(h) != 1 || !h[0].Always || h[0].Name != "X-Frame-Options" {
		t.Errorf("main header: %+v", h)
	}
	if d := a.ErrorDocuments; len(d) != 1 || d[0].Status != 503 || d[0].Message != "busy" {
		t.Errorf("error documents: %+v", d)
	}
	assertRoundTrip(t, cfg)
}

func TestModsErrors(t *testing.T) {
	cases := []struct{ conf, want string }{
		{"RewriteRule ^/ /x [CO=a:b:c]", `t.conf:1: RewriteRule "^/ /x": RewriteRule flag "CO=a:b:c" (cookie) is not supported`},
		{"RewriteCond %{HTTP_HOST} -U\nRewriteRule ^/ http://h/ [P]", `t.conf:1: RewriteCond "%{HTTP_HOST} -U": CondPattern "-U" is not supported`},
		{"RewriteRule ^/ %{HTTP_HOST}/x [P]", `must start with a literal scheme://host`},
		{"RewriteRule ^/ ajp://h/ [P]", `scheme "ajp" is not supported: use http://`},
		{"RewriteMap m txt:/x", `t.conf:1: RewriteMap "m txt:/x": is not supported`},
		{"RewriteBase /", `RewriteBase "/": is not supported`},
		{"RewriteLogLevel 3", `RewriteLogLevel "3": is not supported`},
		{"RewriteOptions AllowNoSlash", `is not supported (allowed: Inherit, InheritBefore)`},
		{"Redirect permanent /old", `t.conf:1: Redirect "301 /old": a redirect (3xx) needs a URL`},
		{"Redirect gone /x http://h/", `t.conf:1: Redirect "410 /x http://h/": a 410 takes no URL`},
		{"Redirect /x relative", `t.conf:1: Redirect "302 /x relative": URL "relative" must be absolute or start with /`},
		{"RedirectMatch ( http://h/", `t.conf:1: RedirectMatch "302 ( http://h/": cannot compile regex "("`},
		{"Redirect 200 /x http://h/", `t.conf:1: Redirect "200 /x http://h/": status 200: must be permanent, temp, seeother, gone or a status from 300 to 599`},
		{"Redirect /x http://h/ extra", `t.conf:1: Redirect "/x http://h/ extra": takes [status] URL-path URL`},
		{"<Proxy *>\nRedirect /x http://h/\n</Proxy>", `Redirect "/x http://h/": is not allowed inside <Proxy>`},
		{"SetEnvIf Origin x", `t.conf:1: SetEnvIf "Origin x": takes an attribute, a regular expression and [!]VAR[=value] …`},
		{"SetEnvIf Remote_Host x A", `t.conf:1: SetEnvIf "Remote_Host x A": attribute "Remote_Host" is not supported`},
		{"<Proxy *>\nSetEnvIf Origin x A\n</Proxy>", `t.conf:2: SetEnvIf "Origin x A": is not allowed inside <Proxy>`},
		{"SetEnvIf Origin x A\nHeader set X %{B}e", `t.conf:2: Header "set X %{B}e": environment variable "B" is never set by sluice`},
		{"Header echo X", `t.conf:1: Header "echo X": action "echo" is not supported`},
		{"Header edit X a", `t.conf:1: Header "edit X a": edit needs a regular expression and a replacement`},
		{"Header edit X (a b", "t.conf:1: Header \"edit X (a b\": cannot compile regex \"(a\": error parsing regexp: missing closing ): `(a`"},
		{"Header set X %{UNIQUE_ID}e", `never set by sluice`},
		{"Header set X a env=dontlog", `never set by sluice`},
		{"Header set X a env=A extra", `has extra arguments`},
		{"RequestHeader set X a early", `condition "early" is not supported`},
		{"ErrorDocument 200 /x", `must be an error status between 400 and 599`},
		{"<Proxy balancer://b>\nRewriteRule ^/ /x\n</Proxy>", `RewriteRule "^/ /x": is not allowed inside <Proxy>`},
	}
	for _, c := range cases {
		_, err := ParseApache("t.conf", []byte(c.conf), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.conf, err, c.want)
		}
	}
}

func TestErrorDocumentFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "503.html"), []byte("<p>later</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "s.conf")
	src := "Listen 80\nDocumentRoot .\nErrorDocument 503 /503.html\nErrorDocument 502 /missing.html\n"
	if err := os.WriteFile(conf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadApache(conf)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Main.ErrorDocuments
	if string(d[0].Body) != "<p>later</p>" || d[1].Body != nil {
		t.Errorf("bodies %q %q", d[0].Body, d[1].Body)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "s.conf:4: ErrorDocument 502 /missing.html: cannot read") {
		t.Errorf("warnings %q", cfg.Warnings)
	}
	assertRoundTrip(t, cfg)
}

// TestRequestHeaderOnFramingWarns: a RequestHeader rule on Content-Length or
// Transfer-Encoding loads with a warning that it is ignored (the server
// frames the body itself); other rules load without one.
func TestRequestHeaderOnFramingWarns(t *testing.T) {
	cfg, err := ParseApache("t.conf", []byte("Listen 80\nRequestHeader unset content-length\n"+
		"RequestHeader set Transfer-Encoding chunked\nRequestHeader set X-A 1\nHeader unset Content-Length\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"t.conf:2: RequestHeader unset content-length is ignored: sluice frames the request's body itself, as mod_proxy does",
		"t.conf:3: RequestHeader set Transfer-Encoding is ignored: sluice frames the request's body itself, as mod_proxy does",
	}
	if !slices.Equal(cfg.Warnings, want) {
		t.Errorf("warnings %q, want %q", cfg.Warnings, want)
	}
}

// TestServerRootFlag: -d sets the initial ServerRoot for relative Include
// paths; without it they resolve against the config's directory.
func TestServerRootFlag(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for _, d := range []string{dir, other} {
		if err := os.MkdirAll(filepath.Join(d, "conf"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "conf", "x.conf"), []byte("ProxyPass /"+filepath.Base(d)+" http://h/\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "main.conf")
	if err := os.WriteFile(conf, []byte("Listen 80\nInclude conf/x.conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for root, want := range map[string]string{"": filepath.Base(dir), other: filepath.Base(other)} {
		cfg, err := LoadApacheRoot(conf, root)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Main.Routes[0].Path; got != "/"+want {
			t.Errorf("root %q: route %q, want /%s", root, got, want)
		}
	}
}

func TestModsYAML(t *testing.T) {
	cfg, err := ParseYAML("m.yaml", []byte(`listen: [":80"]
server:
  rewrite:
    engine: true
    rules:
      - pattern: ^/(.*)
        substitution: http://h/$1
        flags: P
  headers:
    - {action: set, name: X-A, value: b, always: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Main.Rewrite.Compiled.Len() != 1 || cfg.Main.Headers[0].Compiled == nil {
		t.Errorf("not compiled: %+v", cfg.Main)
	}
	_, err = ParseYAML("m.yaml", []byte("server:\n  rewrite:\n    engine: true\n    rules:\n      - pattern: ^/\n        substitution: /x\n        flags: CO=a\n"))
	if err == nil || !strings.Contains(err.Error(), `m.yaml:5: rewriterule`) {
		t.Errorf("got %v", err)
	}
	_, err = ParseYAML("m.yaml", []byte("server:\n  headers:\n    - {action: set, name: X, bogus: 1}\n"))
	if err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("got %v", err)
	}
}

// "ErrorDocument N default" is kept as a document of its own, so a vhost's
// default outranks the main server's document, and it survives the YAML
// round trip; a later document for the same status replaces it.
func TestErrorDocumentDefault(t *testing.T) {
	cfg := parse(t, `Listen 80
ErrorDocument 503 "busy"
ErrorDocument 502 default
ErrorDocument 502 "bad"
<VirtualHost *:80>
    ErrorDocument 503 default
</VirtualHost>
`)
	if d := cfg.VHosts[0].ErrorDocuments; len(d) != 1 || !d[0].Default || d[0].Status != 503 || d[0].Message != "" {
		t.Errorf("vhost documents: %+v", d)
	}
	if d := cfg.Main.ErrorDocuments; len(d) != 2 || d[1].Status != 502 || d[1].Default || d[1].Message != "bad" {
		t.Errorf("main documents: %+v", d)
	}
	assertRoundTrip(t, cfg)
	if _, err := ParseYAML("t.yaml", []byte("listen: [':80']\nserver:\n  error_documents:\n  - {status: 503, default: true, message: x}\n")); err == nil ||
		!strings.Contains(err.Error(), "needs exactly one of path, url, message and default") {
		t.Errorf("a default with a message: %v", err)
	}
}

// SetEnvIf lines define the variables Header rules read, in any host and
// in any order of lines; they survive the YAML round trip.
func TestSetEnvIfParse(t *testing.T) {
	cfg := parse(t, `Listen 80
Header set Access-Control-Allow-Origin "%{CORS_ORIGIN}e" env=CORS_ORIGIN
<VirtualHost *:80>
    SetEnvIfNoCase Origin "^https://([a-z]+\.)?example\.com$" CORS_ORIGIN=$0 !OTHER
</VirtualHost>
SetEnvIf Request_URI ^/api OTHER
<LocationMatch ^/v[0-9]/>
    SetEnvIf Origin . VERSIONED
</LocationMatch>
`)
	se := cfg.VHosts[0].SetEnvIf
	if len(se) != 1 || !se[0].NoCase || se[0].Attribute != "Origin" || len(se[0].Assignments) != 2 || se[0].Compiled == nil {
		t.Fatalf("vhost SetEnvIf %+v", se)
	}
	if m := cfg.Main.SetEnvIf; len(m) != 2 || m[0].Assignments[0] != "OTHER" || m[1].Scope != "^/v[0-9]/" || !m[1].ScopeMatch {
		t.Errorf("main SetEnvIf %+v", m)
	}
	assertRoundTrip(t, cfg)
}

// TestFCGIPathInfoWarned: mod_proxy_fcgi's proxy-fcgi-pathinfo, which
// sluice does not act on, is warned about when SetEnv or SetEnvIf sets
// it. Before, it went to the application as one more variable, PATH_INFO
// silently missing.
func TestFCGIPathInfoWarned(t *testing.T) {
	for _, line := range []string{"SetEnv proxy-fcgi-pathinfo 1", "SetEnvIf Request_URI \\.php proxy-fcgi-pathinfo=first-dot"} {
		cfg, err := ParseApache("t.conf", []byte("Listen 127.0.0.1:0\n"+line+"\nProxyPass / fcgi://127.0.0.1:9000/srv/\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(cfg.Warnings, "\n"), "proxy-fcgi-pathinfo: sluice does not act on it") {
			t.Errorf("%s: warnings %q", line, cfg.Warnings)
		}
	}
}
