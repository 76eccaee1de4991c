package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/sluiceproxy/sluice/internal/lowport"
	"github.com/sluiceproxy/sluice/internal/testcert"
)

// realConfigPorts stand in for the real configs' *:80 and *:443, below the
// ephemeral range.
var realConfigPorts lowport.Set

// newWSEchoBackend answers every request with its name, what it received
// and the request's X-Forwarded-Proto and Host, redirects /login to its
// own /home, and echoes WebSocket messages at wsPath (its 101 names the
// upgrade request's X-Forwarded-Proto in X-Upgrade-Proto).
func newWSEchoBackend(t *testing.T, name, wsPath string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()+"/home", http.StatusFound)
	})
	mux.HandleFunc(wsPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upgrade-Proto", r.Header.Get("X-Forwarded-Proto"))
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err == nil {
			_ = c.Write(r.Context(), typ, msg)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s %s %s proto=%s host=%s", name, r.Method, r.RequestURI, r.Header.Get("X-Forwarded-Proto"), r.Host)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return hostPort(srv.URL)
}

// TestCompatReal20TLS runs real config 20 (CookOps) with the SSLEngine,
// SSLCertificateFile and SSLCertificateKeyFile lines its copy leaves out:
// the *:80 vhost redirects to https, the *:443 vhost terminates TLS, adds
// its security headers and sends the WebSocket route through as wss.
func TestCompatReal20TLS(t *testing.T) {
	text, err := readReal(t, "20-cookops-upgrade-websocket.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert := testcert.NewFor(t, "cookops.example")
	crt, key := cert.WriteFiles(t, dir, "cookops")
	var ports [2]int
	for i := range ports {
		if ports[i], err = realConfigPorts.Free(); err != nil {
			t.Fatal(err)
		}
	}
	plain, secure := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	conf := strings.Replace(string(text), "<VirtualHost *:443>\n    ServerName cookops.example\n",
		"<VirtualHost *:443>\n    ServerName cookops.example\n    SSLEngine on\n    SSLCertificateFile "+crt+"\n    SSLCertificateKeyFile "+key+"\n", 1)
	if !strings.Contains(conf, "SSLEngine on") {
		t.Fatal("the *:443 vhost of config 20 was not found")
	}
	const hints = "/api/v1/sync/hints"
	api, oauth, spa := newWSEchoBackend(t, "api", hints), newWSEchoBackend(t, "oauth", hints), newWSEchoBackend(t, "spa", hints)
	startSluice(t, writeConfig(t, dir, "20.conf", "Listen "+plain+"\nListen "+secure+"\n"+conf,
		"*:80>", fmt.Sprintf("*:%d>", ports[0]), "*:443>", fmt.Sprintf("*:%d>", ports[1]),
		"127.0.0.1:8000", api, "127.0.0.1:3000", oauth, "127.0.0.1:8080", spa))

	// The plain port only redirects.
	m := rawDo(t, plain, buildReq("GET", "/api/x?a=1", "cookops.example", nil, ""))
	if m.Status != 301 || m.Get("Location") != "https://cookops.example/api/x?a=1" {
		t.Errorf("plain port: %d Location %q", m.Status, m.Get("Location"))
	}

	tlsConf := &tls.Config{ServerName: "cookops.example", RootCAs: cert.Roots}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		return httpsGet(t, secure, "cookops.example", cert.Roots, path)
	}
	for _, tc := range []struct{ path, want, cache string }{
		{"/api/v1/items", "api GET /api/v1/items proto=https host=cookops.example", ""},
		{"/oauth/authorize", "oauth GET /oauth/authorize proto=https host=cookops.example", ""},
		{"/assets/app.js", "spa GET /assets/app.js proto=https host=cookops.example", "public, max-age=31536000, immutable"},
		{"/", "spa GET / proto=https host=cookops.example", "no-cache"},
	} {
		resp, body := get(tc.path)
		if resp.StatusCode != 200 || body != tc.want {
			t.Errorf("GET %s: %d %q, want %q", tc.path, resp.StatusCode, body, tc.want)
		}
		if got := resp.Header.Get("Cache-Control"); got != tc.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, tc.cache)
		}
		if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000; includeSubDomains" {
			t.Errorf("GET %s: Strict-Transport-Security %q", tc.path, hsts)
		}
		if resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "cookops.example" {
			t.Errorf("GET %s: not over cookops.example's certificate", tc.path)
		}
	}
	if resp, _ := get("/auth/mcp-grants/x"); resp.StatusCode != 404 {
		t.Errorf("the excluded /auth/mcp-grants: %d, want 404", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	c, up, err := websocket.Dial(ctx, "wss://"+secure+"/api/v1/sync/hints", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}},
		Host:       "cookops.example",
	})
	if err != nil {
		t.Fatalf("wss through the *:443 vhost: %v", err)
	}
	defer c.CloseNow()
	// The vhost's RequestHeader and Header rules apply to the tunnel too.
	if got := up.Header.Get("X-Upgrade-Proto"); got != "https" {
		t.Errorf("the member's upgrade request carried X-Forwarded-Proto %q, want https", got)
	}
	if hsts := up.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000; includeSubDomains" {
		t.Errorf("101 Strict-Transport-Security %q", hsts)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("hint")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hint" {
		t.Errorf("echo: %q, %v", msg, err)
	}
}
