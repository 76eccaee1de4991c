package server

import (
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The variables a RewriteRule reads come from the request and its
// connection: method, the client's address, the vhost's ServerName, HTTPS
// off on a plain listener, and SERVER_PORT as Apache's ap_get_server_port
// has it (UseCanonicalName Off): the port in the client's Host, else the
// ServerName's, else 80, never the listening socket's (until the tenth
// session it was the socket's).
func TestRewriteVariablesFromTheConnection(t *testing.T) {
	for _, tc := range []struct{ serverName, host, port string }{
		{"www.example.com", "front.example", "80"},
		{"www.example.com", "front.example:8081", "8081"},
		{"www.example.com:8443", "front.example", "8443"},
		{"www.example.com:8443", "[::1]:9000", "9000"},
		{"www.example.com", "[::1]", "80"},
	} {
		src := "Listen 127.0.0.1:0\nServerName " + tc.serverName + "\nRewriteEngine on\n" +
			"RewriteRule ^/v$ /to/%{REQUEST_METHOD}/%{SERVER_PORT}/%{REMOTE_ADDR}/%{SERVER_NAME}/%{HTTPS}/%{REQUEST_SCHEME}? [R=302,L]\n"
		_, addr := serveApacheTCP(t, src)
		resp := rawRequest(t, dialTCP(t, addr), "DELETE /v HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
		want := "/to/DELETE/" + tc.port + "/127.0.0.1/www.example.com/off/http"
		if loc := string(resp.Header.Peek("Location")); resp.StatusCode() != 302 || !strings.HasSuffix(loc, want) {
			t.Errorf("ServerName %s, Host %s: %d, Location %q; want 302 to ...%s", tc.serverName, tc.host, resp.StatusCode(), loc, want)
		}
	}
}

// RewriteOptions Inherit runs the main server's rules after a vhost's own,
// InheritBefore before them, and without either a vhost runs only its own
// (it still takes the main server's RewriteEngine). A [P] to a balancer no
// ProxyPass defines answers 503, as ProxyPass to one does. A wildcard
// ServerAlias picks its vhost's rules.
func TestRewriteOptionsInherit(t *testing.T) {
	addr, _ := plainMember(t)
	_, c := startProxy(t, `RewriteEngine On
RewriteRule ^/main$ /from-main [R=302,L]
RewriteRule ^/both$ /both-main [R=302,L]
<VirtualHost *:80>
  ServerName own
  RewriteRule ^/both$ /both-own [R=302,L]
  RewriteRule ^/nowhere$ balancer://undefined/x [P]
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:80>
  ServerName inherit
  ServerAlias *.wild.example
  RewriteOptions Inherit
  RewriteRule ^/both$ /both-inherit [R=302,L]
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:80>
  ServerName before
  RewriteOptions InheritBefore
  RewriteRule ^/both$ /both-before [R=302,L]
  ProxyPass / http://BACKEND/
</VirtualHost>
`, addr)
	for _, tc := range []struct {
		host, path string
		status     int
		location   string
	}{
		{"own", "/main", 200, ""},
		{"own", "/both", 302, "/both-own"},
		{"own", "/nowhere", 503, ""},
		{"inherit", "/main", 302, "/from-main"},
		{"inherit", "/both", 302, "/both-inherit"},
		{"a.wild.example", "/both", 302, "/both-inherit"},
		{"before", "/main", 302, "/from-main"},
		{"before", "/both", 302, "/both-main"},
	} {
		resp := hostGet(t, c, tc.host, tc.path)
		loc := string(resp.Header.Peek("Location"))
		if resp.StatusCode() != tc.status || !strings.HasSuffix(loc, tc.location) || (tc.location == "") != (loc == "") {
			t.Errorf("%s%s: %d Location %q, want %d %q", tc.host, tc.path, resp.StatusCode(), loc, tc.status, tc.location)
		}
	}
}

// "ErrorDocument 503 default" in a vhost brings back the built-in page
// there although the main server set one for 503, as in Apache; another
// vhost keeps the main server's. Until the tenth session "default" only
// dropped the vhost's own document, so the main server's still applied.
func TestErrorDocumentDefault(t *testing.T) {
	_, c := startProxy(t, `ErrorDocument 503 "main is busy"
<VirtualHost *:80>
  ServerName inherits
  ProxyPass / balancer://none/
</VirtualHost>
<VirtualHost *:80>
  ServerName builtin
  ErrorDocument 503 default
  ProxyPass / balancer://none/
</VirtualHost>
`, "")
	for host, want := range map[string]string{"inherits": "main is busy", "builtin": "Service Unavailable"} {
		status, body, err := c.Get(nil, "http://"+host+"/")
		if err != nil {
			t.Fatal(err)
		}
		if status != fasthttp.StatusServiceUnavailable || !strings.Contains(string(body), want) || host == "builtin" && strings.Contains(string(body), "main") {
			t.Errorf("%s: %d %q, want 503 with %q", host, status, body, want)
		}
	}
}

// TestErrorDocumentInLocation: an ErrorDocument in <Location> or
// <LocationMatch> answers for the requests under its path, over the host's
// (a vhost's too, for the main server's sections), the last section that
// covers a request winning; "default" there brings back the built-in page.
// Until the twelfth session it was refused at load.
func TestErrorDocumentInLocation(t *testing.T) {
	_, c := startProxy(t, `ErrorDocument 503 "main is busy"
<Location /api>
  ErrorDocument 503 "api is busy"
</Location>
<LocationMatch "^/api/v2">
  ErrorDocument 503 "v2 is busy"
</LocationMatch>
<Location /api/v2/raw>
  ErrorDocument 503 default
</Location>
ProxyPass / balancer://none/
<VirtualHost *:80>
  ServerName site
  ErrorDocument 503 "site is busy"
  <Location /shop>
    ErrorDocument 503 "shop is busy"
  </Location>
  ProxyPass / balancer://none/
</VirtualHost>
`, "")
	for _, tc := range []struct{ url, want string }{
		{"http://site/", "site is busy"},
		{"http://site/shop/cart", "shop is busy"},
		{"http://site/shopping", "site is busy"}, // /shop covers /shop and /shop/…
		{"http://site/api/x", "api is busy"},
		{"http://site/api/v2/x", "v2 is busy"},
		{"http://site/api/v2/raw/x", "Service Unavailable"},
	} {
		status, body, err := c.Get(nil, tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if status != fasthttp.StatusServiceUnavailable || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %q, want 503 with %q", tc.url, status, body, tc.want)
		}
	}
}

// TestHeaderTextRules: Header rules that set text, as security headers
// do, reach the answers under their <Location> and no others, and a host
// whose rules also read a variable gets both kinds right: the first runs
// without the request's variables, the second with them.
func TestHeaderTextRules(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("x-frame-options", "ALLOW")
		ctx.SetBodyString("ok")
	})
	_, c := startProxy(t, `<VirtualHost *:80>
  ServerName text.example.com
  ProxyPass / http://BACKEND/
  Header always set X-Frame-Options DENY
  <Location /app>
    Header set Cache-Control "no-store"
  </Location>
</VirtualHost>
<VirtualHost *:80>
  ServerName vars.example.com
  ProxyPass / http://BACKEND/
  Header always set X-Frame-Options DENY
  Header set X-Balancer "%{BALANCER_WORKER_NAME}e"
</VirtualHost>
`, be)
	for _, tc := range []struct{ url, frame, cache, balancer string }{
		{"http://text.example.com/app/x", "DENY", "no-store", ""},
		{"http://text.example.com/other", "DENY", "", ""},
		{"http://vars.example.com/app/x", "DENY", "", "(null)"},
	} {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(tc.url)
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		status := resp.StatusCode()
		frames := 0
		for k := range resp.Header.All() {
			if strings.EqualFold(string(k), "X-Frame-Options") {
				frames++
			}
		}
		if status != 200 || frames != 1 || string(resp.Header.Peek("X-Frame-Options")) != tc.frame ||
			string(resp.Header.Peek("Cache-Control")) != tc.cache || string(resp.Header.Peek("X-Balancer")) != tc.balancer {
			t.Errorf("%s: %d, X-Frame-Options %q (%d), Cache-Control %q, X-Balancer %q", tc.url, status,
				resp.Header.Peek("X-Frame-Options"), frames, resp.Header.Peek("Cache-Control"), resp.Header.Peek("X-Balancer"))
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

// Header edit and merge on a proxied answer, RequestHeader edit and
// setifempty on the request to the member: the common hardening and
// TLS-offload recipes (Set-Cookie flags, Location scheme, Vary).
func TestHeaderEditMergeSetIfEmpty(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Add("Set-Cookie", "a=1; Path=/")
		ctx.Response.Header.Add("Set-Cookie", "b=2")
		ctx.Response.Header.Set("Location", "http://front.example.com/next")
		ctx.Response.Header.Set("Vary", "Accept-Encoding")
		ctx.SetStatusCode(302)
		ctx.SetBodyString(string(ctx.Request.Header.Peek("X-Tenant")) + "|" + string(ctx.Request.Header.Peek("X-Id")))
	})
	_, c := startProxy(t, `ProxyPass / http://BACKEND/
Header edit Set-Cookie ^(.*)$ "$1; HttpOnly; Secure"
Header always edit Location ^http://(.*)$ https://$1
Header merge Vary Accept-Encoding
Header merge Vary Origin
RequestHeader edit* X-Tenant - _
RequestHeader setifempty X-Id generated
`, be)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://front.example.com/x")
	req.Header.Set("X-Tenant", "a-b-c")
	req.Header.Set("X-Id", "mine")
	if err := c.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	var cookies []string
	for k, v := range resp.Header.All() {
		if strings.EqualFold(string(k), "Set-Cookie") {
			cookies = append(cookies, string(v))
		}
	}
	if got := strings.Join(cookies, " | "); got != "a=1; Path=/; HttpOnly; Secure | b=2; HttpOnly; Secure" {
		t.Errorf("Set-Cookie %q", got)
	}
	if got := string(resp.Header.Peek("Location")); got != "https://front.example.com/next" {
		t.Errorf("Location %q", got)
	}
	if got := string(resp.Header.Peek("Vary")); got != "Accept-Encoding, Origin" {
		t.Errorf("Vary %q", got)
	}
	if got := string(resp.Body()); got != "a_b_c|mine" {
		t.Errorf("the member got X-Tenant|X-Id %q, want a_b_c|mine", got)
	}
}

// mod_alias: Redirect and RedirectMatch answer what no ProxyPass takes (a
// "ProxyPass /x !" included), in config order, the vhost's before the main
// server's; the rest of the path and the query go along; a URL-path
// starting with / gets the request's scheme and Host; gone answers 410.
func TestRedirect(t *testing.T) {
	addr, _ := plainMember(t)
	_, c := startProxy(t, `ProxyPass /old !
ProxyPass /removed !
ProxyPass /legacy !
Redirect permanent /old https://new.example/
RedirectMatch 301 ^/legacy/(\w+)\.php$ /v2/$1?from=php
Redirect gone /removed
<VirtualHost *:80>
  ServerName x
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:80>
  ServerName v
  RedirectTemp /old http://v.example/
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:80>
  ServerName w
  <Location /loc>
    Redirect 303 http://loc.example/there
  </Location>
</VirtualHost>
`, addr)
	for _, tc := range []struct {
		host, uri string
		status    int
		location  string
	}{
		{"x", "/old/a b?q=1", 301, "https://new.example/a%20b?q=1"},
		{"x", "/old", 301, "https://new.example/"},
		{"x", "/oldx", 200, ""}, // segment boundary: ProxyPass / takes it
		{"x", "/legacy/page.php?a=1", 301, "http://x/v2/page?from=php"},
		{"x", "/legacy/page.html", 404, ""},
		{"x", "/removed/x", 410, ""},
		{"v", "/old/a", 302, "http://v.example/a"}, // the vhost's own first
		{"w", "/loc/p?k=v", 303, "http://loc.example/there/p?k=v"},
		{"w", "/elsewhere", 404, ""},
	} {
		resp := hostGet(t, c, tc.host, tc.uri)
		if loc := string(resp.Header.Peek("Location")); resp.StatusCode() != tc.status || loc != tc.location {
			t.Errorf("%s%s: %d Location %q, want %d %q", tc.host, tc.uri, resp.StatusCode(), loc, tc.status, tc.location)
		}
	}
}

// TestNoProxyEnv: mod_proxy's no-proxy, set by SetEnvIf or a RewriteRule's
// [E=], turns every ProxyPass down as "!" does, <Location> ones included
// (its only exclusion there): a Redirect may take the request, else 404.
func TestNoProxyEnv(t *testing.T) {
	addr, _ := plainMember(t)
	_, c := startProxy(t, `SetEnvIf Request_URI "^/app/private" no-proxy
RewriteEngine On
RewriteRule ^/app/hidden - [E=no-proxy:1]
Redirect /app/private/moved http://elsewhere.example/
<Location /app>
  ProxyPass http://BACKEND/
</Location>
ProxyPass / http://BACKEND/
`, addr)
	for _, tc := range []struct {
		uri      string
		status   int
		location string
	}{
		{"/app/x", 200, ""},
		{"/other", 200, ""},
		{"/app/private/x", 404, ""},
		{"/app/private/moved/y", 302, "http://elsewhere.example/y"},
		{"/app/hidden", 404, ""},
	} {
		resp := hostGet(t, c, "front.example.com", tc.uri)
		if loc := string(resp.Header.Peek("Location")); resp.StatusCode() != tc.status || loc != tc.location {
			t.Errorf("%s: %d Location %q, want %d %q", tc.uri, resp.StatusCode(), loc, tc.status, tc.location)
		}
	}
}

// ProxyErrorOverride: a member's error answer gives way to sluice's own
// page, or the ErrorDocument for its status; with codes, only those; a
// vhost takes the server's setting unless it sets its own; answers below
// 400 pass untouched.
func TestProxyErrorOverride(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		code, _ := strconv.Atoi(string(ctx.Path()[1:]))
		ctx.SetStatusCode(code)
		ctx.Response.Header.Set("X-Member", "yes")
		ctx.SetBodyString("member's own page")
	})
	_, c := startProxy(t, `ProxyErrorOverride On
ErrorDocument 503 "we will be back"
ProxyPass / http://BACKEND/
<VirtualHost *:80>
  ServerName all
</VirtualHost>
<VirtualHost *:80>
  ServerName some
  ProxyErrorOverride On 500 503
</VirtualHost>
<VirtualHost *:80>
  ServerName off
  ProxyErrorOverride Off
</VirtualHost>
`, be)
	for _, tc := range []struct {
		host, code string
		status     int
		body       string // a part of the body
		member     bool   // the member's headers reached the client
	}{
		{"all", "404", 404, "<h1>Not Found</h1>", false},
		{"all", "503", 503, "we will be back", false},
		{"all", "302", 302, "member's own page", true},
		{"some", "500", 500, "Internal Server Error", false},
		{"some", "404", 404, "member's own page", true},
		{"off", "503", 503, "member's own page", true},
	} {
		resp := hostGet(t, c, tc.host, "/"+tc.code)
		if resp.StatusCode() != tc.status || !strings.Contains(string(resp.Body()), tc.body) || (len(resp.Header.Peek("X-Member")) > 0) != tc.member {
			t.Errorf("%s /%s: %d %q X-Member %q, want %d with %q, member headers %v", tc.host, tc.code, resp.StatusCode(), resp.Body(), resp.Header.Peek("X-Member"), tc.status, tc.body, tc.member)
		}
	}
}

// The CORS recipe: SetEnvIf picks an allowed Origin, Header sets
// Access-Control-Allow-Origin from it and merges Vary; a vhost runs the
// server's SetEnvIf lines, then its own, a <Location>'s only under its
// path; RequestHeader reads them too.
func TestSetEnvIfCORS(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(string(ctx.Request.Header.Peek("X-Partner")))
	})
	_, c := startProxy(t, `SetEnvIf Origin "^https://([a-z]+\.)?example\.com$" CORS_ORIGIN=$0
<VirtualHost *:80>
  ServerName api
  <Location /x>
    SetEnvIfNoCase Origin "partner" PARTNER
  </Location>
  <Location /elsewhere>
    SetEnvIf Origin . PARTNER
  </Location>
  Header set Access-Control-Allow-Origin "%{CORS_ORIGIN}e" env=CORS_ORIGIN
  Header merge Vary Origin
  RequestHeader set X-Partner yes env=PARTNER
  ProxyPass / http://BACKEND/
</VirtualHost>
`, be)
	for _, tc := range []struct{ origin, acao, partner string }{
		{"https://app.example.com", "https://app.example.com", ""},
		{"https://PARTNER.example.com", "", "yes"}, // upper case: no CORS match, a NoCase partner match
		{"https://evil.com", "", ""},
		{"", "", ""},
	} {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://api/x")
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		if got := string(resp.Header.Peek("Access-Control-Allow-Origin")); got != tc.acao || string(resp.Header.Peek("Vary")) != "Origin" || string(resp.Body()) != tc.partner {
			t.Errorf("Origin %q: ACAO %q Vary %q X-Partner %q, want %q, Origin, %q", tc.origin, got, resp.Header.Peek("Vary"), resp.Body(), tc.acao, tc.partner)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

// TestRewriteEnvFlag: variables a RewriteRule's [E=] flags set reach
// Header and RequestHeader (env= and %{VAR}e), for requests a rule
// rewrites, proxies ([P]) or leaves alone ("-"); [E=!VAR] unsets one an
// earlier rule set. The CORS recipe written with mod_rewrite. Until the
// twelfth session [E=] was refused at load.
func TestRewriteEnvFlag(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `RewriteEngine On
RewriteCond %{HTTP:Origin} ^(https://(www\.)?example\.com)$
RewriteRule .* - [E=CORS_ORIGIN:%1]
RewriteRule ^/api/(v[0-9]+)/ - [E=API_VERSION:$1]
RewriteRule ^/api/v0/ - [E=!API_VERSION]
RewriteRule ^/p/(.*)$ http://BACKEND/$1 [P,E=VIA:rule]
Header set Access-Control-Allow-Origin "%{CORS_ORIGIN}e" env=CORS_ORIGIN
RequestHeader set X-Api-Version "%{API_VERSION}e" env=API_VERSION
RequestHeader set X-Via "%{VIA}e" env=VIA
ProxyPass / http://BACKEND/
`, be)
	for _, tc := range []struct {
		path, origin string
		acao         string
		sent         []string // fields the member must get
		notSent      []string
	}{
		{"/x", "https://www.example.com", "https://www.example.com", nil, []string{"X-Api-Version", "X-Via"}},
		{"/x", "https://evil.example", "", nil, nil},
		{"/api/v2/users", "", "", []string{"X-Api-Version: v2"}, nil},
		{"/api/v0/users", "", "", nil, []string{"X-Api-Version"}},
		{"/p/y", "https://example.com", "https://example.com", []string{"GET /y", "X-Via: rule"}, nil},
	} {
		hdr := []string{}
		if tc.origin != "" {
			hdr = append(hdr, "Origin", tc.origin)
		}
		status, body, h := do(t, c, "GET", tc.path, hdr...)
		if status != 200 || string(h.Peek("Access-Control-Allow-Origin")) != tc.acao {
			t.Errorf("%s (Origin %q): %d, Access-Control-Allow-Origin %q, want 200, %q", tc.path, tc.origin, status, h.Peek("Access-Control-Allow-Origin"), tc.acao)
		}
		for _, want := range tc.sent {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the member did not get %q:\n%s", tc.path, want, body)
			}
		}
		for _, not := range tc.notSent {
			if strings.Contains(body, not) {
				t.Errorf("%s: the member got %s:\n%s", tc.path, not, body)
			}
		}
	}
}

// TestRewriteReadsEnv: %{ENV:NAME} in a RewriteCond reads what SetEnvIf
// set before the rules ran and what an earlier [E=] flag set, the flag
// winning; a variable nothing set reads empty (the .htaccess guard on
// REDIRECT_STATUS).
func TestRewriteReadsEnv(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `SetEnvIf Host ^api\. IS_API=1
RewriteEngine On
RewriteCond %{HTTP:X-Force} =yes
RewriteRule ^ - [E=IS_API:forced]
RewriteCond %{ENV:REDIRECT_STATUS} ^$
RewriteCond %{ENV:IS_API} ^(1|forced)$
RewriteRule ^/(.*)$ /api/%1/$1
ProxyPass / http://BACKEND/
`, be)
	for _, tc := range []struct{ host, force, want string }{
		{"api.example", "", "GET /api/1/x"},
		{"www.example", "", "GET /x"},
		{"www.example", "yes", "GET /api/forced/x"},
		{"api.example", "yes", "GET /api/forced/x"},
	} {
		req := fasthttp.AcquireRequest()
		req.SetRequestURI("http://" + tc.host + "/x")
		if tc.force != "" {
			req.Header.Set("X-Force", tc.force)
		}
		var resp fasthttp.Response
		if err := c.Do(req, &resp); err != nil {
			t.Fatal(err)
		}
		fasthttp.ReleaseRequest(req)
		if got := firstLine(resp.Body()); got != tc.want {
			t.Errorf("%s (X-Force %q): member got %q, want %q", tc.host, tc.force, got, tc.want)
		}
	}
}

// TestSetEnvIfRemoteAddr: SetEnvIf Remote_Addr matches the client's
// address, which sluice formats only when a rule reads it.
func TestSetEnvIfRemoteAddr(t *testing.T) {
	src := "Listen 127.0.0.1:0\nProxyPass / http://" + startBackend(t, echo) + "/\n" +
		"SetEnvIf Remote_Addr ^127\\.0\\.0\\.1$ loopback\n" +
		"SetEnvIf Remote_Addr ^10\\. ten\n" +
		"RequestHeader set X-Loopback yes env=loopback\n" +
		"RequestHeader set X-Ten yes env=ten\n"
	_, addr := serveApacheTCP(t, src)
	resp := rawRequest(t, dialTCP(t, addr), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	body := string(resp.Body())
	if resp.StatusCode() != 200 || !strings.Contains(body, "\nX-Loopback: yes\n") || strings.Contains(body, "X-Ten") {
		t.Errorf("%d %q: want X-Loopback and no X-Ten", resp.StatusCode(), body)
	}
}

// TestRewriteQuerySplitting (CVE-2023-25690): a back-reference holds the
// decoded path, so a query it makes can hold a space, CR or LF. As Apache
// 2.4.56+ (AH10410), such a rewritten query answers 403 and the member
// gets nothing, through [P] and through [PT] then ProxyPass; an encoded
// query, or a decoded one with no such byte, goes along. It used to go to
// the member raw: a request of the client's making (X-Injected) in the
// head.
func TestRewriteQuerySplitting(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `RewriteEngine On
RewriteRule ^/s/([^?]+)$ http://BACKEND/search?q=$1 [P]
RewriteRule ^/pt/([^?]+)$ /search?q=$1 [PT]
ProxyPass / http://BACKEND/
`, be)
	const split = "a%20HTTP/1.1%0d%0aX-Injected:%201%0d%0aX-Pad:%20x"
	for _, tc := range []struct {
		uri    string
		status int
		want   string // the request line the member saw
	}{
		{"/s/" + split, 403, ""},
		{"/pt/" + split, 403, ""},
		{"/s/a%09b", 403, ""},
		{"/s/a%7Fb", 403, ""},
		{"/s/a%C3%A9%22b", 200, "GET /search?q=a\xc3\xa9\"b"},
		{"/pt/plain", 200, "GET /search?q=plain"},
	} {
		conn, err := c.Dial("")
		if err != nil {
			t.Fatal(err)
		}
		resp := rawRequest(t, conn, "GET "+tc.uri+" HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n")
		conn.Close()
		body := string(resp.Body())
		if resp.StatusCode() != tc.status || tc.want != "" && firstLine(resp.Body()) != tc.want || strings.Contains(body, "X-Injected") {
			t.Errorf("%s: %d %q, want %d %q", tc.uri, resp.StatusCode(), body, tc.status, tc.want)
		}
	}
}

// TestHeaderAlwaysOnRedirects: Apache sends a redirect as an error
// response, so the Header always rules reach a RewriteRule [R] redirect
// and a mod_alias Redirect as they reach an [F] 403, and the onsuccess
// ones none of them. Redirects used to go out without them (no HSTS on the
// http-to-https hop).
func TestHeaderAlwaysOnRedirects(t *testing.T) {
	_, c := startProxy(t, `Header always set Strict-Transport-Security "max-age=1"
Header set X-Success yes
RewriteEngine On
RewriteRule ^/old$ /new [R=301,L]
RewriteRule ^/secret$ - [F]
Redirect 302 /alias http://elsewhere.example/
ProxyPass /alias !
`, "")
	for _, tc := range []struct {
		uri    string
		status int
	}{
		{"/old", 301},
		{"/secret", 403},
		{"/alias/x", 302},
	} {
		resp := hostGet(t, c, "front", tc.uri)
		if resp.StatusCode() != tc.status || string(resp.Header.Peek("Strict-Transport-Security")) != "max-age=1" || len(resp.Header.Peek("X-Success")) > 0 {
			t.Errorf("%s: %d, Strict-Transport-Security %q, X-Success %q; want %d, max-age=1 and no X-Success", tc.uri,
				resp.StatusCode(), resp.Header.Peek("Strict-Transport-Security"), resp.Header.Peek("X-Success"), tc.status)
		}
	}
}

// TestRewriteEndSkipsLocationRules: [END] ends the rewriting for the
// request, the <Location> rules included (Apache's fixup hook declines
// after it), while [L] ends only the host's phase. [END] used to act as
// [L], so the <Location> rules ran on.
func TestRewriteEndSkipsLocationRules(t *testing.T) {
	addr, _ := plainMember(t)
	_, c := startProxy(t, `RewriteEngine On
RewriteRule ^/a$ /b [END]
RewriteRule ^/c$ /b [L]
<Location /b>
  RewriteEngine On
  RewriteRule ^ - [F]
</Location>
ProxyPass / http://BACKEND/
`, addr)
	for uri, want := range map[string]int{"/a": 200, "/c": 403} {
		if resp := hostGet(t, c, "front", uri); resp.StatusCode() != want {
			t.Errorf("%s: %d, want %d", uri, resp.StatusCode(), want)
		}
	}
}

// TestRewriteProxyKeepsEncodedSlash: under AllowEncodedSlashes NoDecode a
// RewriteRule [P] without [NE] (real config 18's second rule) sends the
// %2F it kept as it came, escaping the rest of the path, as Apache's
// canonicalisation does; it used to escape the kept %2F's '%' again
// (a%252Fb).
func TestRewriteProxyKeepsEncodedSlash(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `AllowEncodedSlashes NoDecode
RewriteEngine On
RewriteRule .* http://BACKEND%{REQUEST_URI} [P,QSA]
`, be)
	for uri, want := range map[string]string{
		"/uploads/a%2Fb?x=1":    "GET /uploads/a%2Fb?x=1",
		"/uploads/a%2fb%20c%25": "GET /uploads/a%2fb%20c%25",
	} {
		conn, err := c.Dial("")
		if err != nil {
			t.Fatal(err)
		}
		resp := rawRequest(t, conn, "GET "+uri+" HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n")
		conn.Close()
		if got := firstLine(resp.Body()); resp.StatusCode() != 200 || got != want {
			t.Errorf("%s: %d %q, want 200 %q", uri, resp.StatusCode(), got, want)
		}
	}
}

// TestWildcardLocation: a <Location> path with wildcards matches the whole
// request path as httpd's fnmatch does (* and ? within one segment), for
// Header rules and Require alike; its Header rules applied nowhere before,
// and Require there was refused at load.
func TestWildcardLocation(t *testing.T) {
	be := startBackend(t, echo)
	_, c := startProxy(t, `ProxyPass / http://BACKEND/
<Location /img/*.png>
  Header set Cache-Control "max-age=60"
</Location>
<Location /private/?>
  Require ip 192.0.2.1
</Location>
`, be)
	for _, tc := range []struct {
		path   string
		status int
		cache  string
	}{
		{"/img/a.png", 200, "max-age=60"},
		{"/img/a.jpg", 200, ""},
		{"/img/sub/a.png", 200, ""}, // * stays within a segment
		{"/private/x", 403, ""},
		{"/private/xy", 200, ""},
	} {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://any" + tc.path)
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != tc.status || string(resp.Header.Peek("Cache-Control")) != tc.cache {
			t.Errorf("%s: %d, Cache-Control %q; want %d, %q", tc.path, resp.StatusCode(), resp.Header.Peek("Cache-Control"), tc.status, tc.cache)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}
