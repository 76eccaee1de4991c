package server

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testcert"
)

// TestProxyTLS: the SSLProxy* directives decide which https:// members
// sluice accepts. The member's certificate comes from a private CA and
// names member.test, not the 127.0.0.1 sluice dials; a second member asks
// for a client certificate from the same CA.
func TestProxyTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewFor(t, "ca.test")
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
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
	cfg, err := config.ParseApache(filepath.Join(dir, "t.conf"), []byte("Listen 127.0.0.1:0\n"+conf), os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	_, c := serveProxy(t, cfg)
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
