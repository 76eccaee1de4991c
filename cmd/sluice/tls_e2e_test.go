package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/coder/websocket"

	"github.com/sluiceproxy/sluice/internal/testcert"
)

// TestTLSTermination runs sluice with SSLEngine on in the main server:
// requests, a large answer and an upload, a WebSocket (wss://) through the
// TLS connection, and a certificate renewed by SIGHUP.
func TestTLSTermination(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	mux := http.NewServeMux()
	mux.HandleFunc("/app/big", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(big) })
	mux.HandleFunc("/app/up", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Got", r.Header.Get("X-Forwarded-Proto"))
		_, _ = io.WriteString(w, "OK "+strconv.FormatInt(n, 10))
	})
	be := httptest.NewServer(mux)
	t.Cleanup(be.Close)
	ws := newWSBackend(t, "/ws/")

	dir := t.TempDir()
	cert := testcert.NewFor(t, "front.test")
	cert.WriteFiles(t, dir, "front")
	cfg := writeConfig(t, dir, "tls.conf", `Listen 127.0.0.1:0
SSLEngine on
SSLCertificateFile front.crt
SSLCertificateKeyFile front.key
RequestHeader set X-Forwarded-Proto https
ProxyPass /ws/ http://{WS}/ws/ upgrade=websocket
ProxyPass /app/ http://{BE}/app/
`, "{WS}", hostPort(ws.URL), "{BE}", hostPort(be.URL))
	s := startSluice(t, cfg)

	client := func(roots testcert.Cert) *http.Client {
		return &http.Client{Timeout: ioTimeout, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: "front.test", RootCAs: roots.Roots},
		}}
	}
	c := client(cert)
	resp, err := c.Get("https://" + s.Addr() + "/app/big")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, big) {
		t.Fatalf("GET /app/big: %d, %d bytes, %v", resp.StatusCode, len(body), err)
	}
	resp, err = c.Post("https://"+s.Addr()+"/app/up", "application/octet-stream", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "OK 1048576" || resp.Header.Get("X-Got") != "https" {
		t.Errorf("POST /app/up: %d %q, X-Forwarded-Proto %q", resp.StatusCode, body, resp.Header.Get("X-Got"))
	}

	t.Run("wss", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "wss://"+s.Addr()+"/ws/echo", &websocket.DialOptions{HTTPClient: client(cert)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		if err := conn.Write(ctx, websocket.MessageText, []byte("over tls")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.Read(ctx); err != nil || string(msg) != "over tls" {
			t.Errorf("echo: %q, %v", msg, err)
		}
		_ = conn.Close(websocket.StatusNormalClosure, "")
	})

	t.Run("renewed by SIGHUP", func(t *testing.T) {
		renewed := testcert.NewFor(t, "front.test")
		renewed.WriteFiles(t, dir, "front")
		from := s.lineCount()
		s.signal(syscall.SIGHUP)
		s.waitMsg(from, "reloaded")
		resp, err := client(renewed).Get("https://" + s.Addr() + "/app/up")
		if err != nil {
			t.Fatalf("with the renewed certificate trusted: %v", err)
		}
		resp.Body.Close()
		if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(renewed.TLS.Leaf.SerialNumber) != 0 {
			t.Errorf("serial %v after the reload, want the renewed one", got)
		}
	})

	t.Run("-t checks the files", func(t *testing.T) {
		bad := writeConfig(t, dir, "bad.conf", "Listen 127.0.0.1:0\nSSLEngine on\nSSLCertificateFile missing.crt\nProxyPass / http://127.0.0.1:9/\n")
		_, stderr, code := runSluice(t, "-t", "-config", bad)
		if want := filepath.Base(bad) + ":3"; code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "file does not exist") {
			t.Errorf("sluice -t: exit %d, %q; want 1 and %s: … file does not exist", code, stderr, want)
		}
	})
}

// TestAdminTLS: with admin.tls the admin listener speaks TLS, here with
// client certificates required (the admin only over mutual TLS); a
// change over it works as over plain HTTP.
func TestAdminTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewFor(t, "ca.test")
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	server := testcert.NewFor(t, "admin.test")
	server.WriteFiles(t, dir, "admin")
	operator := ca.Issue(t, "operator")
	b1 := newBackend(t, "b1", nil)
	cfg := writeConfig(t, dir, "s.yaml", `listen: ["127.0.0.1:0"]
admin:
  listen: "127.0.0.1:0"
  hosts: [admin.test]
  tls: {certs: [{cert_file: admin.crt, key_file: admin.key}], verify_client: require, client_ca_file: ca.crt}
server:
  routes: [{path: /, target: "balancer://app/"}]
  balancers: [{name: app, members: [{url: "http://{B1}", route: r1}]}]
`, "{B1}", b1.addr)
	p := startSluice(t, cfg)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: ioTimeout, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: "admin.test", RootCAs: server.Roots, Certificates: certs},
		}}
	}
	get := func(c *http.Client) (*http.Response, error) {
		req, err := http.NewRequest("GET", "https://"+p.adminAddr()+"/api/balancers/app/members/r1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "admin.test"
		return c.Do(req)
	}
	resp, err := get(client(operator.TLS))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" {
		t.Fatalf("GET over mutual TLS: %d, ETag %q", resp.StatusCode, etag)
	}
	req, _ := http.NewRequest("PATCH", "https://"+p.adminAddr()+"/api/balancers/app/members/r1", strings.NewReader(`{"loadfactor":4}`))
	req.Host = "admin.test"
	req.Header.Set("If-Match", etag)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := client(operator.TLS).Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PATCH over mutual TLS: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := get(client()); err == nil {
		resp.Body.Close()
		t.Errorf("without a client certificate: %d, want the handshake refused", resp.StatusCode)
	}
}

// httpsGet sends GET path over TLS to addr for host (SNI and Host),
// trusting roots and presenting certs, and returns the response with its
// body read; redirects are not followed.
func httpsGet(t *testing.T, addr, host string, roots *x509.CertPool, path string, certs ...tls.Certificate) (*http.Response, string) {
	t.Helper()
	c := &http.Client{Timeout: ioTimeout,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{ServerName: host, RootCAs: roots, Certificates: certs}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest("GET", "https://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET https://%s%s: %v", host, path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}
