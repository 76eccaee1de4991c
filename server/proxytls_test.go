package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testcert"
)

// caDir returns a directory holding ca.crt, the certificate of a new
// private CA, and that CA.
func caDir(t *testing.T) (string, testcert.Cert) {
	t.Helper()
	dir := t.TempDir()
	ca := testcert.NewFor(t, "ca.test")
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, ca
}

// serveApacheIn serves the Apache config conf, read as dir/t.conf, and
// returns a client bound to it.
func serveApacheIn(t *testing.T, dir, conf string) *fasthttp.Client {
	t.Helper()
	cfg, err := config.ParseApache(filepath.Join(dir, "t.conf"), []byte("Listen 127.0.0.1:0\n"+conf), os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	_, c := serveProxy(t, cfg)
	return c
}

// TestProxyTLS: the SSLProxy* directives decide which https:// members
// sluice accepts. The member's certificate comes from a private CA and
// names member.test, not the 127.0.0.1 sluice dials; a second member asks
// for a client certificate from the same CA.
func TestProxyTLS(t *testing.T) {
	dir, ca := caDir(t)
	client := ca.Issue(t, "sluice.test")
	if err := os.WriteFile(filepath.Join(dir, "client.pem"), append(client.PEM, client.KeyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	memberCert := ca.Issue(t, "member.test")
	member := func(clientAuth tls.ClientAuthType) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("member saw " + r.URL.Path))
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{memberCert.TLS}, ClientAuth: clientAuth, ClientCAs: ca.Roots}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "https://")
	}
	plain, mutual := member(tls.NoClientCert), member(tls.RequireAndVerifyClientCert)

	conf := strings.NewReplacer("{DIR}", dir, "{M}", plain, "{MTLS}", mutual).Replace(`
SSLProxyEngine on
<VirtualHost *:80>
  ServerName default.test
  ProxyPass / https://{M}/
</VirtualHost>
<VirtualHost *:80>
  ServerName ca.test
  SSLProxyCACertificateFile {DIR}/ca.crt
  ProxyPass / https://{M}/
</VirtualHost>
<VirtualHost *:80>
  ServerName noname.test
  SSLProxyCACertificateFile {DIR}/ca.crt
  SSLProxyCheckPeerName off
  ProxyPass /client/ https://{MTLS}/
  ProxyPass / https://{M}/
</VirtualHost>
<VirtualHost *:80>
  ServerName none.test
  SSLProxyVerify none
  ProxyPass / https://{M}/
</VirtualHost>
<VirtualHost *:80>
  ServerName nothing.test
  SSLProxyVerify none
  SSLProxyCheckPeerCN off
  ProxyPass / https://{M}/
</VirtualHost>
<VirtualHost *:80>
  ServerName balancer.test
  <Proxy balancer://m>
    BalancerMember https://{M}
    SSLProxyCACertificateFile {DIR}/ca.crt
    SSLProxyCheckPeerName off
  </Proxy>
  ProxyPass /b/ balancer://m/
  ProxyPass / https://{M}/
</VirtualHost>
<VirtualHost *:80>
  ServerName machine.test
  SSLProxyCACertificateFile {DIR}/ca.crt
  SSLProxyCheckPeerName off
  SSLProxyMachineCertificateFile {DIR}/client.pem
  ProxyPass / https://{MTLS}/
</VirtualHost>
`)
	c := serveApacheIn(t, dir, conf)
	for _, tc := range []struct {
		host, path string
		status     int
		why        string
	}{
		{"default.test", "/x", 503, "no SSLProxy*: the system's roots do not know the CA"},
		{"ca.test", "/x", 503, "the CA verifies the chain, but the certificate names member.test, not 127.0.0.1"},
		{"noname.test", "/x", 200, "the chain verified, the name not checked"},
		{"none.test", "/x", 503, "SSLProxyVerify none still checks the name, as Apache"},
		{"nothing.test", "/x", 200, "neither checked"},
		{"noname.test", "/client/x", 502, "the member asks for a certificate sluice does not have (TLS 1.3: it says so after the handshake)"},
		{"machine.test", "/x", 200, "SSLProxyMachineCertificateFile presented"},
		{"balancer.test", "/b/x", 200, "the balancer's own SSLProxy* settings"},
		{"balancer.test", "/x", 503, "a direct worker of the same host: the host's (none)"},
	} {
		resp := hostGet(t, c, tc.host, tc.path)
		if resp.StatusCode() != tc.status {
			t.Errorf("%s%s: %d %q, want %d (%s)", tc.host, tc.path, resp.StatusCode(), firstLine(resp.Body()), tc.status, tc.why)
		}
	}
}

// TestProxyTLSPreserveHost: with ProxyPreserveHost On an https:// member is
// sent the client's Host as the TLS server name (SNI) and its certificate
// is checked against that name, as Apache does; each name keeps its own
// pooled connections, and a tunnel's handshake does the same. Without it
// the member URL's host is sent (none for an IP address). Until the twelfth
// session the member URL's host was always sent.
func TestProxyTLSPreserveHost(t *testing.T) {
	dir, ca := caDir(t)
	memberCert := ca.Issue(t, "member.test", "alt.test")
	var mu sync.Mutex
	hellos := map[string]int{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "websocket" {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				conn.Close()
			}
			return
		}
		w.Write([]byte("sni=" + r.TLS.ServerName + " host=" + r.Host))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{memberCert.TLS}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		hellos[h.ServerName]++
		mu.Unlock()
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	m := strings.TrimPrefix(srv.URL, "https://")

	conf := strings.NewReplacer("{DIR}", dir, "{M}", m).Replace(`
<VirtualHost *:80>
  ServerName member.test
  ServerAlias alt.test other.test
  ProxyPreserveHost On
  SSLProxyCACertificateFile {DIR}/ca.crt
  ProxyPass / https://{M}/ upgrade=websocket
</VirtualHost>
<VirtualHost *:80>
  ServerName plain.test
  SSLProxyCACertificateFile {DIR}/ca.crt
  SSLProxyCheckPeerName off
  ProxyPass / https://{M}/ upgrade=websocket
</VirtualHost>
`)
	c := serveApacheIn(t, dir, conf)
	for _, tc := range []struct {
		host   string
		status int
		body   string
	}{
		{"member.test", 200, "sni=member.test host=member.test"},
		{"alt.test", 200, "sni=alt.test host=alt.test"},
		{"member.test", 200, "sni=member.test host=member.test"},
		{"Alt.Test:80", 200, "sni=alt.test host=Alt.Test:80"},
		{"other.test", 503, ""}, // the certificate does not name it
		{"plain.test", 200, "sni= host=" + m},
	} {
		resp := hostGet(t, c, tc.host, "/x")
		if resp.StatusCode() != tc.status || tc.body != "" && !strings.EqualFold(string(resp.Body()), tc.body) {
			t.Errorf("Host %s: %d %q, want %d %q", tc.host, resp.StatusCode(), firstLine(resp.Body()), tc.status, tc.body)
		}
	}

	// A tunnel's handshake names the client's Host too.
	conn, err := c.Dial("")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: alt.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	var head fasthttp.ResponseHeader
	if err := head.Read(bufio.NewReader(conn)); err != nil || head.StatusCode() != 101 {
		t.Fatalf("upgrade through alt.test: %d, %v", head.StatusCode(), err)
	}

	mu.Lock()
	defer mu.Unlock()
	// One handshake per name for the requests (their connections are
	// pooled), one more for the tunnel; other.test's was refused by sluice.
	want := map[string]int{"member.test": 1, "alt.test": 2, "other.test": 1, "": 1}
	if !maps.Equal(hellos, want) {
		t.Errorf("handshakes by server name %v, want %v", hellos, want)
	}
}
