package server

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// The variables a RewriteRule reads come from the request and its
// connection: method, the port the client reached, the client's address,
// the vhost's ServerName, HTTPS off on a plain listener.
func TestRewriteVariablesFromTheConnection(t *testing.T) {
	src := "Listen 127.0.0.1:0\nServerName www.example.com\nRewriteEngine on\n" +
		"RewriteRule ^/v$ /to/%{REQUEST_METHOD}/%{SERVER_PORT}/%{REMOTE_ADDR}/%{SERVER_NAME}/%{HTTPS}/%{REQUEST_SCHEME}/%{HTTP_HOST}? [R=302,L]\n"
	cfg, err := config.ParseApache("test.conf", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveTCP(t, cfg)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "DELETE /v HTTP/1.1\r\nHost: front.example\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	want := "/to/DELETE/" + port + "/127.0.0.1/www.example.com/off/http/front.example"
	br := bufio.NewReader(c)
	var status, location string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if status == "" {
			status = line
			continue
		}
		if line == "" {
			break
		}
		if k, v, _ := strings.Cut(line, ": "); strings.EqualFold(k, "Location") {
			location = v
		}
	}
	if status != "HTTP/1.1 302 Found" || !strings.HasSuffix(location, want) {
		t.Fatalf("%s, Location %q; want 302 to ...%s", status, location, want)
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
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + tc.host + tc.path)
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		loc := string(resp.Header.Peek("Location"))
		if resp.StatusCode() != tc.status || !strings.HasSuffix(loc, tc.location) || (tc.location == "") != (loc == "") {
			t.Errorf("%s%s: %d Location %q, want %d %q", tc.host, tc.path, resp.StatusCode(), loc, tc.status, tc.location)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
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
