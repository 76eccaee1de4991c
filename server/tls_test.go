package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/internal/testcert"
)

// tlsSite is a server with a plain listener and a TLS one, each a port of
// its own that the config's vhosts name, and the certificates it presents.
type tlsSite struct {
	s            *Server
	plain, TLS   string // addresses
	a, b, c, ca  testcert.Cert
	dir, conf    string
	plainP, tlsP int
}

// startTLSSite serves conf ({PLAIN}, {TLS}, {DIR} and BACKEND replaced) on
// two listeners. {DIR} holds a.crt/a.key (a.test), b.pem (b.test, key in the
// same file), c.crt/c.key (c.test: a vhost listing it after a.test's
// offers it to c.test, Go picking the first certificate valid for the
// name asked) and ca.crt (the CA client certificates must chain to).
func startTLSSite(t *testing.T, conf, backend string, adjust ...func(*config.Config)) *tlsSite {
	t.Helper()
	st := &tlsSite{dir: t.TempDir(), a: testcert.NewFor(t, "a.test"), b: testcert.NewFor(t, "b.test"), c: testcert.NewFor(t, "c.test"), ca: testcert.NewFor(t, "ca.test")}
	st.a.WriteFiles(t, st.dir, "a")
	st.c.WriteFiles(t, st.dir, "c")
	if err := os.WriteFile(filepath.Join(st.dir, "b.pem"), append(st.b.PEM, st.b.KeyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.dir, "ca.crt"), st.ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	lns, ports := listeners(t, 2)
	st.plain, st.TLS = lns[0].Addr().String(), lns[1].Addr().String()
	st.plainP, st.tlsP = ports[0], ports[1]
	st.conf = strings.NewReplacer("{PLAIN}", fmt.Sprint(st.plainP), "{TLS}", fmt.Sprint(st.tlsP), "{DIR}", st.dir, "BACKEND", backend).Replace(conf)
	cfg, err := config.ParseApache(filepath.Join(st.dir, "t.conf"), []byte("Listen 127.0.0.1:0\n"+st.conf), os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range adjust {
		f(cfg)
	}
	if st.s, err = New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	for _, ln := range lns {
		go func() { _ = st.s.Serve(ln) }()
	}
	return st
}

// tlsGet sends GET path with Host host over conn and returns the status
// and the body's first line.
func tlsGet(t *testing.T, conn net.Conn, host, path string) (int, string) {
	t.Helper()
	resp, body := getOver(t, conn, host, path)
	return resp.StatusCode, firstLine([]byte(body))
}

// getOver sends GET path with Host host over conn and returns the answer
// and its body.
func getOver(t *testing.T, conn net.Conn, host, path string) (*http.Response, string) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", path, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// dialBoth opens a connection to st's plain port and one to its TLS port
// as a.test, both closed when the test ends.
func (st *tlsSite) dialBoth(t *testing.T) (plain, secure net.Conn) {
	t.Helper()
	pc, err := net.Dial("tcp", st.plain)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	roots := x509.NewCertPool()
	roots.AddCert(st.a.TLS.Leaf)
	return pc, dialTLS(t, st.TLS, "a.test", roots)
}

// dialTLS opens a TLS connection to addr asking for serverName, trusting
// roots, and fails the test when the handshake does.
func dialTLS(t *testing.T, addr, serverName string, roots *x509.CertPool, certs ...tls.Certificate) *tls.Conn {
	t.Helper()
	c, err := tlsDial(addr, &tls.Config{ServerName: serverName, RootCAs: roots, Certificates: certs, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("handshake with %s as %q: %v", addr, serverName, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tlsDial(addr string, conf *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	// A handshake the server refuses after the client's last flight
	// (TLS 1.3 client certificates) fails on the first read.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, nil
}

const tlsSiteConf = `SSLProtocol all -SSLv3
<VirtualHost *:{PLAIN}>
  ServerName a.test
  ProxyPass / http://BACKEND/plain/
</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  ProxyPass / http://BACKEND/a/
  ProxyPassReverse / http://BACKEND/a/
</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName b.test
  SSLEngine on
  SSLProtocol -all +TLSv1.3
  SSLCertificateFile {DIR}/b.pem
  ProxyPass / http://BACKEND/b/
</VirtualHost>
`

// TestTLSBySNI: a TLS connection gets the certificate of the vhost its
// server name picks among the vhosts of its address, the first of them
// without one; the request then goes by Host, as any other; the plain
// port keeps speaking plain HTTP.
func TestTLSBySNI(t *testing.T) {
	st := startTLSSite(t, tlsSiteConf, startBackend(t, echo))
	roots := x509.NewCertPool()
	roots.AddCert(st.a.TLS.Leaf)
	roots.AddCert(st.b.TLS.Leaf)

	for _, tc := range []struct{ sni, host, want string }{
		{"a.test", "a.test", "a"},
		{"b.test", "b.test", "b"},
		{"B.Test", "b.test", "b"},
	} {
		c := dialTLS(t, st.TLS, tc.sni, roots)
		state := c.ConnectionState()
		if cn := state.PeerCertificates[0].Subject.CommonName; cn != tc.want+".test" {
			t.Errorf("SNI %s: certificate of %s", tc.sni, cn)
		}
		if state.NegotiatedProtocol != "http/1.1" {
			t.Errorf("SNI %s: ALPN %q, want http/1.1", tc.sni, state.NegotiatedProtocol)
		}
		if status, line := tlsGet(t, c, tc.host, "/x"); status != 200 || line != "GET /"+tc.want+"/x" {
			t.Errorf("SNI %s: %d %q", tc.sni, status, line)
		}
	}
	// No server name (an IP address): the address's first vhost.
	raw, err := tlsDial(st.TLS, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the certificate is what is checked
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if cn := raw.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "a.test" {
		t.Errorf("no SNI: certificate of %s, want a.test", cn)
	}
	if status, _ := tlsGet(t, raw, "a.test", "/x"); status != 200 {
		t.Errorf("no SNI: %d", status)
	}
	// b.test offers TLS 1.3 only.
	if c, err := tlsDial(st.TLS, &tls.Config{ServerName: "b.test", RootCAs: roots, MaxVersion: tls.VersionTLS12}); err == nil {
		c.Close()
		t.Error("b.test accepted TLS 1.2")
	}
	if c, err := tlsDial(st.TLS, &tls.Config{ServerName: "a.test", RootCAs: roots, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("a.test accepted TLS 1.1")
	}
	// Plain HTTP to the TLS port: a 400 that says so, as Apache and nginx.
	pt, err := net.Dial("tcp", st.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	if status, line := tlsGet(t, pt, "a.test", "/x"); status != 400 || !strings.Contains(line, "speaks TLS") {
		t.Errorf("plain HTTP to the TLS port: %d %q", status, line)
	}
	// The plain port.
	pc, err := net.Dial("tcp", st.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if status, line := tlsGet(t, pc, "a.test", "/x"); status != 200 || line != "GET /plain/x" {
		t.Errorf("plain port: %d %q", status, line)
	}
	// Four handshakes above succeeded, each followed by a request (so the
	// server's side had finished); three were refused: TLS 1.2 and 1.1
	// offered where not accepted, and plain HTTP. A refusing goroutine
	// counts after its alert went out, so its count may trail the
	// client's error a moment.
	const failures = `sluice_tls_handshakes_total{result="failure"}`
	for deadline := time.Now().Add(5 * time.Second); scrapeMetrics(t, st.s).values[failures] < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	scrapeMetrics(t, st.s).expect(t, map[string]float64{
		`sluice_tls_handshakes_total{result="success"}`: 4,
		failures: 3,
		`sluice_tls_certificate_expiry_timestamp_seconds{host="a.test",file="` + st.dir + `/a.crt"}`: float64(st.a.TLS.Leaf.NotAfter.Unix()),
		`sluice_tls_certificate_expiry_timestamp_seconds{host="b.test",file="` + st.dir + `/b.pem"}`: float64(st.b.TLS.Leaf.NotAfter.Unix()),
	})
}

// TestTLSClientCertificates: SSLVerifyClient require asks for a
// certificate signed by SSLCACertificateFile and refuses the handshake
// without one; a request whose Host reaches that vhost over a handshake
// made for another gets 421, whatever the other asked.
func TestTLSClientCertificates(t *testing.T) {
	st := startTLSSite(t, tlsSiteConf+`<VirtualHost *:{TLS}>
  ServerName c.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  SSLCertificateFile {DIR}/c.crt
  SSLCertificateKeyFile {DIR}/c.key
  SSLVerifyClient require
  SSLCACertificateFile {DIR}/ca.crt
  RequestHeader set X-Client "%{SSL_CLIENT_S_DN}s|%{SSL_CLIENT_VERIFY}s|%{SSL_PROTOCOL}s|%{HTTPS}s|%{SSL_TLS_SNI}s"
  RequestHeader set X-Client-Cert "%{SSL_CLIENT_CERT}s"
  ProxyPass / http://BACKEND/c/
</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName d.test
  SSLEngine on
  SSLCertificateFile {DIR}/c.crt
  SSLCertificateKeyFile {DIR}/c.key
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  SSLVerifyClient require
  SSLCACertificateFile {DIR}/ca.crt
  ProxyPass / http://BACKEND/d/
</VirtualHost>
`, startBackend(t, echo))
	roots := x509.NewCertPool()
	roots.AddCert(st.a.TLS.Leaf)
	roots.AddCert(st.c.TLS.Leaf)
	client := st.ca.Issue(t, "client")
	stranger := testcert.NewFor(t, "stranger.test")

	c := dialTLS(t, st.TLS, "c.test", roots, client.TLS)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: c.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// mod_ssl's variables reach the member through RequestHeader, the
	// PEM certificate on one line.
	pemLine := strings.ReplaceAll(strings.TrimSuffix(string(client.PEM), "\n"), "\n", " ")
	for _, want := range []string{"GET /c/x\n", "X-Client: CN=client|SUCCESS|TLSv1.3|on|c.test\n", "X-Client-Cert: " + pemLine} {
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("with a client certificate: %d, member saw\n%s\nwant %q", resp.StatusCode, body, want)
		}
	}
	for name, certs := range map[string][]tls.Certificate{"none": nil, "another CA's": {stranger.TLS}} {
		c, err := tlsDial(st.TLS, &tls.Config{ServerName: "c.test", RootCAs: roots, Certificates: certs})
		if err == nil {
			_, err = c.Write([]byte("GET / HTTP/1.1\r\nHost: c.test\r\n\r\n"))
			if err == nil {
				_, err = c.Read(make([]byte, 1))
			}
			c.Close()
		}
		if err == nil {
			t.Errorf("client certificate %s: the request was answered", name)
		}
	}
	// d.test terminates TLS as c.test does (its certificates in another
	// order): reachable over c.test's handshake.
	if status, line := tlsGet(t, c, "d.test", "/x"); status != 200 || line != "GET /d/x" {
		t.Errorf("Host d.test over c.test's handshake: %d %q, want 200", status, line)
	}
	// A handshake for a.test asks for no certificate: c.test is not
	// reachable over it.
	c = dialTLS(t, st.TLS, "a.test", roots)
	if status, _ := tlsGet(t, c, "c.test", "/x"); status != 421 {
		t.Errorf("Host c.test over a.test's handshake: %d, want 421", status)
	}
	if status, line := tlsGet(t, c, "a.test", "/x"); status != 200 || line != "GET /a/x" {
		t.Errorf("then Host a.test: %d %q", status, line)
	}
}

// TestTLSMisdirected: a request whose Host reaches another vhost than its
// handshake named (SNI) gets 421 unless the two terminate TLS alike, as
// Apache: another SSLProtocol or other certificates are enough. Without a
// name (Apache checks nothing) the vhost must accept the version
// negotiated. A request without Host over a handshake that named a host
// gets 400, as Apache.
func TestTLSMisdirected(t *testing.T) {
	st := startTLSSite(t, `<VirtualHost *:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  ProxyPass / http://BACKEND/a/
</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName b.test
  SSLEngine on
  SSLProtocol -all +TLSv1.3
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  ProxyPass / http://BACKEND/b/
</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName c.test
  SSLEngine on
  SSLCertificateFile {DIR}/c.crt
  SSLCertificateKeyFile {DIR}/c.key
  ProxyPass / http://BACKEND/c/
</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName e.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  ProxyPass / http://BACKEND/e/
</VirtualHost>
`, startBackend(t, echo))
	for _, tc := range []struct {
		sni   string
		max   uint16
		host  string
		want  int
		about string
	}{
		{"a.test", tls.VersionTLS12, "b.test", 421, "b.test refuses TLS 1.2"},
		{"a.test", tls.VersionTLS13, "b.test", 421, "b.test's SSLProtocol differs"},
		{"a.test", tls.VersionTLS13, "c.test", 421, "c.test's certificate differs"},
		{"a.test", tls.VersionTLS13, "e.test", 200, "e.test terminates TLS as a.test"},
		{"", tls.VersionTLS12, "b.test", 421, "no SNI, b.test refuses TLS 1.2"},
		{"", tls.VersionTLS13, "b.test", 200, "no SNI, TLS 1.3"},
		{"", tls.VersionTLS13, "c.test", 200, "no SNI"},
	} {
		c, err := tlsDial(st.TLS, &tls.Config{ServerName: tc.sni, MaxVersion: tc.max, InsecureSkipVerify: true}) //nolint:gosec // names are what is tested
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if status, _ := tlsGet(t, c, tc.host, "/x"); status != tc.want {
			t.Errorf("Host %s over a handshake for %q (%s): %d, want %d", tc.host, tc.sni, tc.about, status, tc.want)
		}
	}
	c := dialTLS(t, st.TLS, "c.test", st.c.Roots)
	fmt.Fprintf(c, "GET /x HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Errorf("HTTP/1.0 without Host over a handshake for c.test: %d, want 400", resp.StatusCode)
	}
}

// TestTLSVerifyOptionalNoCA: SSLVerifyClient optional_no_ca with
// SSLCACertificateFile verifies the certificate all the same, as mod_ssl:
// SUCCESS where it chains to the CAs, GENEROUS where no CA known issued
// it, NONE without one; any other failure (expired, a signature that is
// not the CA's) refuses the handshake. Until then every certificate read
// GENEROUS.
func TestTLSVerifyOptionalNoCA(t *testing.T) {
	st := startTLSSite(t, `<VirtualHost *:{TLS}>
  ServerName c.test
  SSLEngine on
  SSLCertificateFile {DIR}/c.crt
  SSLCertificateKeyFile {DIR}/c.key
  SSLVerifyClient optional_no_ca
  SSLCACertificateFile {DIR}/ca.crt
  RequestHeader set X-V "%{SSL_CLIENT_VERIFY}s"
  ProxyPass / http://BACKEND/c/
</VirtualHost>
`, startBackend(t, echo))
	for name, tc := range map[string]struct {
		cert tls.Certificate // none: the zero one
		want string          // "": the handshake is refused
	}{
		"the CA's":           {st.ca.Issue(t, "client").TLS, "SUCCESS"},
		"another CA's":       {testcert.NewFor(t, "stranger").TLS, "GENEROUS"},
		"none":               {tls.Certificate{}, "NONE"},
		"expired":            {testcert.NewExpired(t, "stranger").TLS, ""},
		"forged in its name": {forgeIssued(t, st.ca), ""},
	} {
		// Sent whatever CAs the server names, as curl and browsers do
		// (crypto/tls would send none of another CA's).
		send := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tc.cert, nil }
		c, err := tlsDial(st.TLS, &tls.Config{ServerName: "c.test", RootCAs: st.c.Roots, GetClientCertificate: send})
		if err == nil {
			defer c.Close()
			_, err = fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: c.test\r\n\r\n")
		}
		var resp *http.Response
		if err == nil {
			resp, err = http.ReadResponse(bufio.NewReader(c), nil)
		}
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("client certificate %s: answered %d, want the handshake refused", name, resp.StatusCode)
		case tc.want == "":
		case err != nil:
			t.Errorf("client certificate %s: %v", name, err)
		default:
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "X-V: "+tc.want+"\n") {
				t.Errorf("client certificate %s: member saw\n%s\nwant X-V: %s", name, body, tc.want)
			}
		}
	}
}

// forgeIssued is a client certificate that names ca as its issuer, by its
// name and key identifier, but is signed by another key.
func forgeIssued(t *testing.T, ca testcert.Cert) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "forged"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	fake := *ca.TLS.Leaf
	fake.PublicKey = &key.PublicKey
	der, err := x509.CreateCertificate(rand.Reader, tmpl, &fake, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSMainServerFallback: a plain connection whose Host names only a
// TLS vhost, on an address no vhost names, is served by the main server
// (as Apache serves it), never by the TLS vhost over plain HTTP.
func TestTLSMainServerFallback(t *testing.T) {
	st := startTLSSite(t, `Redirect / https://a.test/
<VirtualHost *:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  ProxyPass / http://BACKEND/a/
</VirtualHost>
`, startBackend(t, echo))
	pc, err := net.Dial("tcp", st.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_ = pc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(pc, "GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(pc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://a.test/x" {
		t.Errorf("plain request for a.test: %d Location %q, want the main server's redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
	roots := x509.NewCertPool()
	roots.AddCert(st.a.TLS.Leaf)
	if status, line := tlsGet(t, dialTLS(t, st.TLS, "a.test", roots), "a.test", "/x"); status != 200 || line != "GET /a/x" {
		t.Errorf("over TLS: %d %q", status, line)
	}
}

// TestTLSRequestSeesHTTPS: over TLS a member's Location maps back onto
// https://, and %{HTTPS} reads on, so the usual redirect to https fires
// on the plain port only.
func TestTLSRequestSeesHTTPS(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Location", "http://"+string(ctx.Host())+"/a/next")
		ctx.SetStatusCode(302)
	})
	const toHTTPS = `  RewriteEngine on
  RewriteCond %{HTTPS} !=on
  RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]
`
	st := startTLSSite(t, `<VirtualHost *:{PLAIN}>
  ServerName a.test
`+toHTTPS+`</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
`+toHTTPS+`  ProxyPass / http://BACKEND/a/
  ProxyPassReverse / http://BACKEND/a/
</VirtualHost>
`, be)
	pc, sc := st.dialBoth(t)
	for _, tc := range []struct {
		name       string
		conn       net.Conn
		status     int
		wantOrigin string
	}{
		{"plain", pc, 301, "https://a.test/x"},
		{"TLS", sc, 302, "https://a.test/next"},
	} {
		resp, _ := getOver(t, tc.conn, "a.test", "/x")
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.wantOrigin {
			t.Errorf("%s: %d Location %q, want %d %q", tc.name, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.wantOrigin)
		}
	}
}

// TestTLSReloadReadsCertificates: a reload reads the certificate files
// again; new handshakes present the new certificate, connections already
// open keep going.
func TestTLSReloadReadsCertificates(t *testing.T) {
	st := startTLSSite(t, tlsSiteConf, startBackend(t, echo))
	roots := x509.NewCertPool()
	roots.AddCert(st.a.TLS.Leaf)
	old := dialTLS(t, st.TLS, "a.test", roots)

	renewed := testcert.NewFor(t, "a.test")
	renewed.WriteFiles(t, st.dir, "a")
	cfg, err := config.ParseApache(filepath.Join(st.dir, "t.conf"), []byte("Listen 127.0.0.1:0\n"+st.conf), os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	c := dialTLS(t, st.TLS, "a.test", renewed.Roots)
	if got := c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(renewed.TLS.Leaf.SerialNumber) != 0 {
		t.Errorf("after the reload: serial %v, want the renewed certificate's", got)
	}
	for name, conn := range map[string]net.Conn{"new": c, "old": old} {
		if status, line := tlsGet(t, conn, "a.test", "/x"); status != 200 || line != "GET /a/x" {
			t.Errorf("%s connection: %d %q", name, status, line)
		}
	}
	// A certificate file gone: the reload fails, naming it, and the
	// running configuration stays.
	if err := os.Remove(filepath.Join(st.dir, "b.pem")); err != nil {
		t.Fatal(err)
	}
	_, err = config.ParseApache(filepath.Join(st.dir, "t.conf"), []byte("Listen 127.0.0.1:0\n"+st.conf), os.DirFS("/"))
	if err == nil || !strings.Contains(err.Error(), "b.pem") || !strings.Contains(err.Error(), "t.conf:19") {
		t.Errorf("load without b.pem: %v, want an error naming the file and its line", err)
	}
}

// TestSSLRequireSSL: a <Location> or <Proxy> with SSLRequireSSL answers
// 403 to requests that did not come over TLS, whatever its Require lines
// grant; a balancer-manager location too.
func TestSSLRequireSSL(t *testing.T) {
	st := startTLSSite(t, `ProxyPass /admin/ http://BACKEND/admin/
ProxyPass /secure/ http://BACKEND/secure/
ProxyPass /open/ http://BACKEND/open/
<Location /admin>
  SSLRequireSSL
  Require all granted
</Location>
<Proxy http://BACKEND/secure>
  SSLRequireSSL
</Proxy>
<Location /balancer-manager>
  SetHandler balancer-manager
  SSLRequireSSL
  Require all granted
</Location>
<VirtualHost *:{PLAIN}>
  ServerName a.test
</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
</VirtualHost>
`, startBackend(t, echo))
	pc, tc := st.dialBoth(t)
	for _, path := range []string{"/admin/x", "/secure/x", "/open/x", "/balancer-manager/"} {
		wantPlain := 403
		if path == "/open/x" {
			wantPlain = 200
		}
		if status, _ := tlsGet(t, pc, "a.test", path); status != wantPlain {
			t.Errorf("plain %s: %d, want %d", path, status, wantPlain)
		}
		if status, _ := tlsGet(t, tc, "a.test", path); status != 200 {
			t.Errorf("TLS %s: %d, want 200", path, status)
		}
	}
}

// TestTLSHandshakeTimeout: a client that starts a handshake and stalls is
// cut by the client header timeout, the handshake being the first read.
func TestTLSHandshakeTimeout(t *testing.T) {
	dir := t.TempDir()
	testcert.NewFor(t, "a.test").WriteFiles(t, dir, "a")
	src := strings.ReplaceAll("Listen 127.0.0.1:0\nSSLEngine on\nSSLCertificateFile {DIR}/a.crt\nSSLCertificateKeyFile {DIR}/a.key\nProxyPass / http://127.0.0.1:9/\n", "{DIR}", dir)
	cfg, err := config.ParseApache(filepath.Join(dir, "t.conf"), []byte(src), os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeouts.ClientHeader = config.Duration(200 * time.Millisecond)
	_, addr := serveTCP(t, cfg)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The first bytes of a ClientHello record, then nothing.
	if _, err := c.Write([]byte{0x16, 0x03, 0x01, 0x02}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the stalled handshake was not closed by sluice (read %d bytes): %v", n, err)
	}
}

// TestTLSResumesAcrossReload: session tickets are issued with keys of the
// server, not of one configuration, so a client resumes after a reload.
func TestTLSResumesAcrossReload(t *testing.T) {
	st := startTLSSite(t, tlsSiteConf, startBackend(t, echo))
	conf := &tls.Config{ServerName: "a.test", RootCAs: st.a.Roots, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	resumed := func() bool {
		t.Helper()
		c, err := tlsDial(st.TLS, conf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The ticket comes after the handshake (TLS 1.3): a request
		// makes sure the client has read it.
		if status, _ := tlsGet(t, c, "a.test", "/x"); status != 200 {
			t.Fatalf("status %d", status)
		}
		return c.ConnectionState().DidResume
	}
	if resumed() {
		t.Fatal("the first connection resumed")
	}
	cfg, err := config.ParseApache(filepath.Join(st.dir, "t.conf"), []byte("Listen 127.0.0.1:0\n"+st.conf), os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if !resumed() {
		t.Error("no resumption after the reload")
	}
}

// TestTLSClientCertificatePerPath: the way to ask for a client certificate
// under one path only, since SSLVerifyClient in a <Location> is refused:
// verify optionally for the whole vhost, and forbid the path to requests
// whose %{SSL:SSL_CLIENT_VERIFY} is not SUCCESS.
func TestTLSClientCertificatePerPath(t *testing.T) {
	st := startTLSSite(t, `<VirtualHost *:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  SSLVerifyClient optional
  SSLCACertificateFile {DIR}/ca.crt
  RewriteEngine on
  RewriteCond %{SSL:SSL_CLIENT_VERIFY} !=SUCCESS
  RewriteRule ^/admin - [F]
  ProxyPass / http://BACKEND/
</VirtualHost>
`, startBackend(t, echo))
	roots := x509.NewCertPool()
	roots.AddCert(st.a.TLS.Leaf)
	anonymous := dialTLS(t, st.TLS, "a.test", roots)
	operator := dialTLS(t, st.TLS, "a.test", roots, st.ca.Issue(t, "operator").TLS)
	for _, tc := range []struct {
		name string
		conn net.Conn
		path string
		want int
	}{
		{"anonymous", anonymous, "/open", 200},
		{"anonymous", anonymous, "/admin/x", 403},
		{"operator", operator, "/admin/x", 200},
	} {
		if status, _ := tlsGet(t, tc.conn, "a.test", tc.path); status != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.name, tc.path, status, tc.want)
		}
	}
}

// TestTLSOverMaxConns: a TLS client over max_conns gets its connection
// closed, not the plain 503 page, which it would read as a broken record;
// a plain client over the cap still gets the page.
func TestTLSOverMaxConns(t *testing.T) {
	dir := t.TempDir()
	cert := testcert.NewFor(t, "a.test")
	cert.WriteFiles(t, dir, "a")
	lns, ports := listeners(t, 2)
	src := fmt.Sprintf("Listen 127.0.0.1:0\n<VirtualHost *:%d>\nSSLEngine on\nSSLCertificateFile %s/a.crt\nSSLCertificateKeyFile %s/a.key\nProxyPass / http://127.0.0.1:9/\n</VirtualHost>\n",
		ports[0], dir, dir)
	cfg, err := config.ParseApache(filepath.Join(dir, "t.conf"), []byte(src), os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Limits.MaxConns = 1
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range lns {
		go func() { _ = s.Serve(ln) }()
	}
	dialTLS(t, lns[0].Addr().String(), "a.test", cert.Roots) // takes the one slot until the test ends
	_, err = tlsDial(lns[0].Addr().String(), &tls.Config{ServerName: "a.test", RootCAs: cert.Roots})
	if err == nil || strings.Contains(err.Error(), "record") {
		t.Errorf("TLS over the cap: %v, want the connection closed", err)
	}
	pc, err := net.Dial("tcp", lns[1].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if status, _ := tlsGet(t, pc, "a.test", "/"); status != 503 {
		t.Errorf("plain over the cap: %d, want 503", status)
	}
}

// TestTLSAccessLog: the JSON access log says which TLS version a request
// came over, and nothing for a plain one.
func TestTLSAccessLog(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "access.log")
	st := startTLSSite(t, tlsSiteConf, startBackend(t, echo), func(c *config.Config) {
		c.AccessLog = config.AccessLog{Path: logFile, Format: "json"}
	})
	roots := x509.NewCertPool()
	roots.AddCert(st.a.TLS.Leaf)
	tlsGet(t, dialTLS(t, st.TLS, "a.test", roots), "a.test", "/over-tls")
	pc, err := net.Dial("tcp", st.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tlsGet(t, pc, "a.test", "/plain")
	flushLogs(st.s)
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"uri":"/over-tls",`, `"tls":"TLSv1.3"`, `"uri":"/plain",`, `"tls":""`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("access log lacks %s:\n%s", want, b)
		}
	}
}

// TestTLSWildcardAliasAndDefault: SNI picks a vhost by a wildcard
// ServerAlias as Host does, and _default_:port is the address's catch-all.
func TestTLSWildcardAliasAndDefault(t *testing.T) {
	st := startTLSSite(t, `<VirtualHost _default_:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  ProxyPass / http://BACKEND/a/
</VirtualHost>
<VirtualHost _default_:{TLS}>
  ServerName b.test
  ServerAlias *.b.test
  SSLEngine on
  SSLCertificateFile {DIR}/b.pem
  ProxyPass / http://BACKEND/b/
</VirtualHost>
`, startBackend(t, echo))
	c, err := tlsDial(st.TLS, &tls.Config{ServerName: "shop.b.test", InsecureSkipVerify: true}) //nolint:gosec // the certificate is what is checked
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "b.test" {
		t.Errorf("SNI shop.b.test: certificate of %s, want b.test's", cn)
	}
	if status, line := tlsGet(t, c, "shop.b.test", "/x"); status != 200 || line != "GET /b/x" {
		t.Errorf("Host shop.b.test: %d %q", status, line)
	}
}

// TestTLSNoNameFirstVHost: a connection that sends no server name gets
// the certificate of its address's first vhost, and a request without Host
// goes to it, even where a later vhost has a catch-all ServerAlias *, as
// in Apache (the catch-all took both).
func TestTLSNoNameFirstVHost(t *testing.T) {
	st := startTLSSite(t, `<VirtualHost *:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  ProxyPass / http://BACKEND/a/
</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName b.test
  ServerAlias *
  SSLEngine on
  SSLCertificateFile {DIR}/b.pem
  ProxyPass / http://BACKEND/b/
</VirtualHost>
`, startBackend(t, echo))
	for sni, want := range map[string]string{"": "a.test", "other.test": "b.test"} {
		c, err := tlsDial(st.TLS, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // the certificate is what is checked
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != want {
			t.Errorf("SNI %q: certificate of %s, want %s's", sni, cn, want)
		}
	}
	c, err := tlsDial(st.TLS, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // no name: any certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /x HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || firstLine(body) != "GET /a/x" {
		t.Errorf("HTTP/1.0 without Host: %d %q, want a.test's", resp.StatusCode, firstLine(body))
	}
}

// TestTLSEnvHTTPS: mod_ssl's HTTPS variable is "on" for a request over TLS
// and unset otherwise, so the common "env=HTTPS" conditions work: an
// X-Forwarded-Proto for the member and a Strict-Transport-Security only
// over TLS. Until the twelfth session such a line was refused at load.
func TestTLSEnvHTTPS(t *testing.T) {
	be := startBackend(t, echo)
	st := startTLSSite(t, `RequestHeader set X-Forwarded-Proto "https" env=HTTPS
Header always set Strict-Transport-Security "max-age=60" env=HTTPS
Header set X-Scheme "%{HTTPS}e"
<VirtualHost *:{PLAIN}>
  ServerName a.test
  ProxyPass / http://BACKEND/
</VirtualHost>
<VirtualHost *:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  ProxyPass / http://BACKEND/
</VirtualHost>
`, be)
	pc, sc := st.dialBoth(t)
	for _, tc := range []struct {
		name        string
		conn        net.Conn
		proto, hsts string
		scheme      string
	}{
		{"plain", pc, "", "", "(null)"},
		{"TLS", sc, "https", "max-age=60", "on"},
	} {
		resp, body := getOver(t, tc.conn, "a.test", "/x")
		gotProto := ""
		if _, v, ok := strings.Cut(body, "X-Forwarded-Proto: "); ok {
			gotProto, _, _ = strings.Cut(v, "\n")
		}
		if gotProto != tc.proto || resp.Header.Get("Strict-Transport-Security") != tc.hsts || resp.Header.Get("X-Scheme") != tc.scheme {
			t.Errorf("%s: member got X-Forwarded-Proto %q, client Strict-Transport-Security %q, X-Scheme %q; want %q, %q, %q",
				tc.name, gotProto, resp.Header.Get("Strict-Transport-Security"), resp.Header.Get("X-Scheme"), tc.proto, tc.hsts, tc.scheme)
		}
	}
}

// TestTLSClientAddressKeepAlive: over one TLS connection, the client's
// address that X-Forwarded-For and the log carry is the peer's, made as
// text once for the connection, but for the requests whose client
// mod_remoteip found.
func TestTLSClientAddressKeepAlive(t *testing.T) {
	be := startBackend(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(string(ctx.Request.Header.Peek("X-Forwarded-For")) + "\n")
	})
	st := startTLSSite(t, `<VirtualHost *:{TLS}>
  ServerName a.test
  SSLEngine on
  SSLCertificateFile {DIR}/a.crt
  SSLCertificateKeyFile {DIR}/a.key
  RemoteIPHeader X-Client-IP
  RemoteIPInternalProxy 127.0.0.1
  CustomLog {DIR}/access.log "%a %h"
  ProxyPass / http://BACKEND/
</VirtualHost>
`, be)
	_, sc := st.dialBoth(t)
	br := bufio.NewReader(sc)
	var want strings.Builder
	for i, client := range []string{"", "192.0.2.7", "", "198.51.100.9", ""} {
		field := ""
		if client != "" {
			field = "X-Client-IP: " + client + "\r\n"
		}
		_ = sc.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(sc, "GET /r%d HTTP/1.1\r\nHost: a.test\r\n%s\r\n", i, field)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if client == "" {
			client = "127.0.0.1"
		}
		if got := firstLine(body); got != client {
			t.Errorf("request %d: member saw X-Forwarded-For %q, want %q", i, got, client)
		}
		fmt.Fprintf(&want, "%s %s\n", client, client)
	}
	flushLogs(st.s)
	b, err := os.ReadFile(filepath.Join(st.dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want.String() {
		t.Errorf("access log:\n%s\nwant:\n%s", b, want.String())
	}
}
