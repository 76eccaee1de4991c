package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testcert"
)

// TestExampleTLSEdge runs examples/tls-edge.conf with its addresses,
// members and certificate files made local: the redirect to https, two
// sites told apart by SNI, sticky sessions with a Secure cookie, members
// over TLS checked against the internal CA, and a path only for clients
// with a partner's certificate.
func TestExampleTLSEdge(t *testing.T) {
	dir := t.TempDir()
	shop, api := testcert.NewFor(t, "shop.example.com"), testcert.NewFor(t, "api.example.com")
	shop.WriteFiles(t, dir, "shop.example.com")
	api.WriteFiles(t, dir, "api.example.com")
	internal, partners := testcert.NewFor(t, "internal-ca"), testcert.NewFor(t, "partners-ca")
	for name, c := range map[string]testcert.Cert{"internal-ca.crt": internal, "partners-ca.crt": partners} {
		if err := os.WriteFile(filepath.Join(dir, name), c.PEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	echo := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s dn=%s proto=%s", name, r.URL.Path, r.Header.Get("X-Client-DN"), r.Header.Get("X-Forwarded-Proto"))
		}
	}
	var oldnew []string
	for i, old := range []string{"10.0.0.11:8080", "10.0.0.12:8080", "10.0.0.13:8080"} {
		srv := httptest.NewServer(echo(fmt.Sprintf("app%d", i+1)))
		t.Cleanup(srv.Close)
		oldnew = append(oldnew, old, hostPort(srv.URL))
	}
	memberCert := internal.Issue(t) // for 127.0.0.1, by the internal CA
	for i, old := range []string{"10.0.1.21:8443", "10.0.1.22:8443"} {
		srv := httptest.NewUnstartedServer(echo(fmt.Sprintf("api%d", i+1)))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{memberCert.TLS}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		oldnew = append(oldnew, old, strings.TrimPrefix(srv.URL, "https://"))
	}
	var ports [2]int
	for i := range ports {
		var err error
		if ports[i], err = realConfigPorts.Free(); err != nil {
			t.Fatal(err)
		}
	}
	plain, secure := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	text, err := os.ReadFile("../../examples/tls-edge.conf")
	if err != nil {
		t.Fatal(err)
	}
	oldnew = append(oldnew, "Listen 80\n", "Listen "+plain+"\n", "Listen 443\n", "Listen "+secure+"\n",
		"*:80>", fmt.Sprintf("*:%d>", ports[0]), "*:443>", fmt.Sprintf("*:%d>", ports[1]), "/etc/ssl/", dir+"/")
	p := startSluice(t, writeConfig(t, dir, "tls-edge.conf", string(text), oldnew...))
	// The example's admin is the default address, which another sluice on
	// the machine (make run, a benchmark) may hold: that warning is about
	// the machine, not the configuration.
	for line := range strings.SplitSeq(p.log(), "\n") {
		if strings.Contains(line, "level=WARN") && !strings.Contains(line, "admin API not started: default address unavailable") {
			t.Errorf("warning: %s", line)
		}
	}

	if m := rawDo(t, plain, buildReq("GET", "/cart", "shop.example.com", nil, "")); m.Status != 301 || m.Get("Location") != "https://shop.example.com/cart" {
		t.Errorf("plain: %d Location %q", m.Status, m.Get("Location"))
	}
	get := func(name string, roots testcert.Cert, path string, certs ...tls.Certificate) (*http.Response, string) {
		t.Helper()
		return httpsGet(t, secure, name, roots.Roots, path, certs...)
	}
	resp, body := get("shop.example.com", shop, "/cart")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "app") || !strings.HasSuffix(body, "/cart dn= proto=https") {
		t.Errorf("shop: %d %q", resp.StatusCode, body)
	}
	if c := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(c, "ROUTEID=.") || !strings.HasSuffix(c, "; path=/; Secure") {
		t.Errorf("shop: Set-Cookie %q", c)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h != "max-age=31536000" {
		t.Errorf("shop: Strict-Transport-Security %q", h)
	}
	if resp, body := get("api.example.com", api, "/v1/items"); resp.StatusCode != 200 || !strings.HasPrefix(body, "api") || !strings.Contains(body, "/v1/items dn=(null)") {
		t.Errorf("api: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("api.example.com", api, "/partner/orders"); resp.StatusCode != 403 {
		t.Errorf("api /partner without a certificate: %d, want 403", resp.StatusCode)
	}
	partner := partners.Issue(t, "acme-partner")
	if resp, body := get("api.example.com", api, "/partner/orders", partner.TLS); resp.StatusCode != 200 || !strings.Contains(body, "dn=CN=acme-partner") {
		t.Errorf("api /partner with a partner's certificate: %d %q", resp.StatusCode, body)
	}
}
