package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/internal/testcert"
)

// tlsDir writes a.crt/a.key (a.test) and ca.crt into a new directory.
func tlsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	a := testcert.NewFor(t, "a.test")
	a.WriteFiles(t, dir, "a")
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), testcert.NewFor(t, "ca.test").PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func parseIn(t *testing.T, dir, src string) (*Config, error) {
	t.Helper()
	return ParseApache(filepath.Join(dir, "t.conf"), []byte(strings.ReplaceAll(src, "{DIR}", dir)), os.DirFS("/"))
}

// TestSSLInheritance: a vhost takes each mod_ssl directive it does not
// write from the main server, SSLEngine included; files are relative to
// ServerRoot.
func TestSSLInheritance(t *testing.T) {
	dir := tlsDir(t)
	cfg, err := parseIn(t, dir, `Listen 80
Listen 443
ServerRoot {DIR}
SSLCertificateFile a.crt
SSLCertificateKeyFile a.key
SSLProtocol -all +TLSv1.3
<VirtualHost *:80>
  ProxyPass / http://h/
</VirtualHost>
<VirtualHost *:443>
  SSLEngine on
  ProxyPass / http://h/
</VirtualHost>
<VirtualHost *:443>
  ServerName c.test
  SSLEngine on
  SSLVerifyClient require
  SSLCACertificateFile ca.crt
  ProxyPass / http://h/
</VirtualHost>
`)
	if err != nil {
		t.Fatal(err)
	}
	plain, secure, client := cfg.VHosts[0], cfg.VHosts[1], cfg.VHosts[2]
	if plain.TLS != nil {
		t.Errorf("*:80 has TLS %+v", plain.TLS)
	}
	want := CertPair{Pos: Pos{File: "t.conf", Line: 4}, CertFile: dir + "/a.crt", KeyFile: dir + "/a.key"}
	if tl := secure.TLS; tl == nil || len(tl.Certs) != 1 || tl.Certs[0].CertFile != want.CertFile || tl.Certs[0].KeyFile != want.KeyFile || tl.MinVersion != "1.3" {
		t.Fatalf("*:443 TLS %+v, want the main server's certificate and versions", tl)
	}
	if c := secure.TLS.Config(); c == nil || c.MinVersion != tls.VersionTLS13 || len(c.Certificates) != 1 || c.ClientAuth != tls.NoClientCert {
		t.Errorf("*:443 tls.Config %+v", c)
	}
	if c := client.TLS.Config(); c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil {
		t.Errorf("c.test: ClientAuth %v, CAs %v", c.ClientAuth, c.ClientCAs)
	}

	// SSLEngine on in the main server reaches every vhost but one that
	// turns it off.
	cfg, err = parseIn(t, dir, `Listen 443
Listen 80
SSLEngine on
SSLCertificateFile {DIR}/a.crt
SSLCertificateKeyFile {DIR}/a.key
ProxyPass / http://h/
<VirtualHost *:443>
</VirtualHost>
<VirtualHost *:80>
  SSLEngine off
</VirtualHost>
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Main.TLS == nil || cfg.VHosts[0].TLS == nil || cfg.VHosts[1].TLS != nil {
		t.Errorf("main %v, *:443 %v, *:80 (off) %v", cfg.Main.TLS != nil, cfg.VHosts[0].TLS != nil, cfg.VHosts[1].TLS != nil)
	}
}

// TestSSLErrors: what cannot be honoured fails the load, naming the line.
func TestSSLErrors(t *testing.T) {
	dir := tlsDir(t)
	enc := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n"
	if err := os.WriteFile(filepath.Join(dir, "enc.key"), []byte(enc), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ src, want string }{
		{"SSLEngine on\n", "t.conf:2: certs: TLS needs a certificate (SSLCertificateFile)"},
		{"SSLEngine optional\n", `t.conf:2: SSLEngine "optional": is not supported`},
		{"SSLEngine on\nSSLCertificateFile {DIR}/none.crt\n", `t.conf:3: cert_file "` + dir + `/none.crt": file does not exist`},
		{"SSLEngine on\nSSLCertificateFile {DIR}/a.crt\n", `t.conf:3: cert_file "` + dir + `/a.crt": tls: found a certificate rather than a key`},
		{"SSLEngine on\nSSLCertificateFile {DIR}/a.crt\nSSLCertificateKeyFile {DIR}/ca.crt\n", "private key"},
		{"SSLEngine on\nSSLCertificateFile {DIR}/a.crt\nSSLCertificateKeyFile {DIR}/enc.key\n", "t.conf:3: cert_file \"" + dir + "/a.crt\": the private key is encrypted"},
		{"SSLEngine on\nSSLCertificateFile {DIR}/a.crt\nSSLCertificateKeyFile {DIR}/a.key\nSSLVerifyClient require\n", "verify_client \"require\": needs client_ca_file (SSLCACertificateFile)"},
		{"SSLEngine on\nSSLCertificateFile {DIR}/a.crt\nSSLCertificateKeyFile {DIR}/a.key\nSSLCACertificateFile {DIR}/a.key\n", "client_ca_file"},
		{"SSLVerifyClient sometimes\n", `SSLVerifyClient "sometimes": must be one of`},
		{"<Location /x>\nSSLVerifyClient require\n</Location>\n", "t.conf:3: SSLVerifyClient \"require\": inside <Location> is not supported"},
		{"SSLProtocol -all +TLSv1.1\n", "leaves neither TLSv1.2 nor TLSv1.3"},
		{"SSLProtocol TLSv2\n", `SSLProtocol "TLSv2": unknown protocol`},
		{"<Location /x>\nSSLRequire %{SSL_CLIENT_S_DN_O} eq \"Snake Oil, Ltd.\"\n</Location>\n", "t.conf:3: SSLRequire"},
		{"SSLRequireSSL\n", "t.conf:2: SSLRequireSSL: is only allowed inside <Location>, <LocationMatch> or <Proxy>"},
		{"SSLCARevocationFile {DIR}/crl.pem\n", "t.conf:2: SSLCARevocationFile"},
		{"SSLCARevocationCheck chain\n", "would admit the certificates it revokes"},
		{"SSLEngine on\nSSLCertificateFile {DIR}/a.crt\nSSLCertificateKeyFile {DIR}/a.key\n<VirtualHost *:443>\nSSLEngine off\n</VirtualHost>\n<VirtualHost *:443>\n</VirtualHost>\n",
			"t.conf:8: tls \"*:443\": this one terminates TLS (SSLEngine on) and the vhost at " + dir + "/t.conf:5 on the same address does not"},
	} {
		_, err := parseIn(t, dir, "Listen 443\n"+tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestTLSYAML: the same model in YAML, with files relative to the
// configuration's directory.
func TestTLSYAML(t *testing.T) {
	dir := tlsDir(t)
	path := filepath.Join(dir, "t.yaml")
	cfg, err := ParseYAML(path, []byte(`listen: [":443"]
vhosts:
  - addrs: ["*:443"]
    server_name: a.test
    tls:
      certs: [{cert_file: a.crt, key_file: a.key}]
      min_version: "1.3"
      verify_client: optional
      client_ca_file: ca.crt
    routes: [{path: /, target: "http://h/"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.VHosts[0].TLS.Config()
	if c.MinVersion != tls.VersionTLS13 || c.ClientAuth != tls.VerifyClientCertIfGiven || len(c.Certificates) != 1 {
		t.Errorf("tls.Config %+v", c)
	}
	for _, tc := range []struct{ tls, want string }{
		{"certs: [{cert_file: a.crt, key_file: a.key}]\n      min_version: '1.1'", `t.yaml:7: min_version "1.1": must be 1.2 or 1.3`},
		{"certs: [{cert_file: a.crt, key_file: a.key}]\n      min_version: '1.3'\n      max_version: '1.2'", "is above max_version"},
		{"certs: [{cert_file: b.crt}]", `t.yaml:6: cert_file "b.crt": file does not exist`},
		{"certs: []", "TLS needs a certificate"},
	} {
		src := "listen: [':443']\nvhosts:\n  - addrs: ['*:443']\n    routes: [{path: /, target: 'http://h/'}]\n    tls:\n      " + tc.tls + "\n"
		_, err := ParseYAML(path, []byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.tls, err, tc.want)
		}
	}
}

// TestSSLProxy: the SSLProxy* directives, a vhost taking each it does not
// write from the main server; SSLProxyCheckPeerCN off turns the name check
// off unless SSLProxyCheckPeerName says otherwise.
func TestSSLProxy(t *testing.T) {
	dir := tlsDir(t)
	if err := os.WriteFile(filepath.Join(dir, "client.pem"), append(must(os.ReadFile(filepath.Join(dir, "a.crt"))), must(os.ReadFile(filepath.Join(dir, "a.key")))...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseIn(t, dir, `Listen 80
SSLProxyEngine on
SSLProxyVerify optional_no_ca
SSLProxyProtocol -all +TLSv1.3
<VirtualHost *:80>
  ServerName a
  SSLProxyCheckPeerCN off
</VirtualHost>
<VirtualHost *:80>
  ServerName b
  SSLProxyVerify require
  SSLProxyCACertificateFile {DIR}/ca.crt
  SSLProxyCheckPeerCN off
  SSLProxyCheckPeerName on
  SSLProxyMachineCertificateFile {DIR}/client.pem
</VirtualHost>
`)
	if err != nil {
		t.Fatal(err)
	}
	main, a, b := cfg.Main.ProxyTLS, cfg.VHosts[0].ProxyTLS, cfg.VHosts[1].ProxyTLS
	if main == nil || main.Verify != ProxyVerifyNone || main.MinVersion != "1.3" || main.CheckPeerName != nil || main.Pos.Line != 3 {
		t.Errorf("main: %+v", main)
	}
	if a == nil || a.Verify != ProxyVerifyNone || a.CheckPeerName == nil || *a.CheckPeerName || a.MinVersion != "1.3" {
		t.Errorf("a: %+v", a)
	}
	if b == nil || b.Verify != ProxyVerifyRequire || b.CheckPeerName == nil || !*b.CheckPeerName || b.CAFile != dir+"/ca.crt" {
		t.Errorf("b: %+v", b)
	}
	if c := b.ClientConfig("m.test"); c.ServerName != "m.test" || c.InsecureSkipVerify || c.RootCAs == nil || len(c.Certificates) != 1 || c.MinVersion != tls.VersionTLS13 {
		t.Errorf("b's tls.Config: %+v", c)
	}
	if c := a.ClientConfig("m.test"); !c.InsecureSkipVerify || c.VerifyConnection == nil {
		t.Errorf("a's tls.Config checks nothing itself: %+v", c)
	}
	// The same settings read again are Same; another setting is not.
	again, err := parseIn(t, dir, "Listen 80\nSSLProxyEngine on\n\nSSLProxyVerify require\nSSLProxyCACertificateFile {DIR}/ca.crt\nSSLProxyCheckPeerName on\nSSLProxyMachineCertificateFile {DIR}/client.pem\nSSLProxyProtocol -all +TLSv1.3\n")
	if err != nil {
		t.Fatal(err)
	}
	if p := again.Main.ProxyTLS; !p.Same(b) || !b.Same(p) || p.Same(a) || p.Same(nil) || a.Same(main) || !(*ProxyTLS)(nil).Same(nil) {
		t.Errorf("Same: %+v against %+v", p, b)
	}
	for _, tc := range []struct{ src, want string }{
		{"<Proxy http://h:8080>\nSSLProxyVerify none\n</Proxy>\n", "t.conf:3: SSLProxyVerify \"none\": inside <Proxy URL> is not supported"},
		{"<Location /x>\nSSLProxyCheckPeerName off\n</Location>\n", "inside <Location> is not supported: set it for the server, the <VirtualHost> or a <Proxy balancer://…>"},
		{"SSLProxyVerify sometimes\n", "must be one of none, optional, require, optional_no_ca"},
		{"SSLProxyCACertificateFile {DIR}/nothing.crt\n", `ca_file "` + dir + `/nothing.crt": file does not exist`},
		{"SSLProxyMachineCertificateFile {DIR}/a.crt\n", "client_cert_file"},
	} {
		_, err := parseIn(t, dir, "Listen 80\n"+tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
	// In <Proxy balancer://…>: that balancer's, each setting it does not
	// write taken from its host.
	cfg, err = parseIn(t, dir, `Listen 80
SSLProxyCACertificateFile {DIR}/ca.crt
<Proxy balancer://own>
  BalancerMember https://h1
  SSLProxyCheckPeerName off
</Proxy>
<Proxy balancer://plain>
  BalancerMember https://h2
</Proxy>
`)
	if err != nil {
		t.Fatal(err)
	}
	own, plain := cfg.Main.Balancer("own").ProxyTLS, cfg.Main.Balancer("plain").ProxyTLS
	if own == nil || own.CheckPeerName == nil || *own.CheckPeerName || own.CAFile != dir+"/ca.crt" || own.ClientConfig("h1") == nil || own.Pos.Line != 5 {
		t.Errorf("balancer://own: %+v", own)
	}
	if plain != nil || cfg.Main.ProxyTLS == nil || cfg.Main.ProxyTLS.CheckPeerName != nil {
		t.Errorf("balancer://plain %+v, host %+v", plain, cfg.Main.ProxyTLS)
	}
	_, err = ParseYAML(filepath.Join(dir, "p.yaml"), []byte("listen: [':80']\nserver:\n  proxy_tls: {verify: maybe}\n"))
	if err == nil || !strings.Contains(err.Error(), `p.yaml:3: verify "maybe": must be require or none`) {
		t.Errorf("YAML verify maybe: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCertificateWarnings: an expired certificate, and a host none of whose
// certificates names its ServerName, load with a warning each (Apache
// starts too, and logs AH01909 for the second).
func TestCertificateWarnings(t *testing.T) {
	dir := tlsDir(t)
	testcert.NewExpired(t, "old.test").WriteFiles(t, dir, "old")
	cfg, err := parseIn(t, dir, `Listen 443
<VirtualHost *:443>
  ServerName old.test
  SSLEngine on
  SSLCertificateFile {DIR}/old.crt
  SSLCertificateKeyFile {DIR}/old.key
</VirtualHost>
<VirtualHost *:443>
  ServerName https://other.test:443
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
</VirtualHost>
<VirtualHost *:443>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
</VirtualHost>
`)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cfg.Warnings, "\n")
	for _, want := range []string{
		"t.conf:5: certificate " + dir + "/old.crt expired on ",
		"t.conf:10: no certificate of ServerName other.test names it (they name a.test)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings:\n%s\nwant %q", got, want)
		}
	}
	if len(cfg.Warnings) != 2 {
		t.Errorf("%d warnings, want 2:\n%s", len(cfg.Warnings), got)
	}
}
