// Package testcert makes the certificates tests need: for TLS members, for
// sluice's own TLS listeners and for clients that present one.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Cert is a certificate for 127.0.0.1 or for DNS names, valid for an hour
// either side of now (unless NewExpired made it). It can sign others.
type Cert struct {
	TLS    tls.Certificate
	Roots  *x509.CertPool // trusts it
	PEM    []byte         // the certificate, PEM-encoded (for SSL_CERT_FILE)
	KeyPEM []byte         // its key, PEM-encoded
}

// New makes a self-signed Cert for 127.0.0.1.
func New(t testing.TB) Cert {
	t.Helper()
	return newCert(t, nil, nil, time.Now().Add(time.Hour))
}

// NewFor makes a self-signed Cert for names (not for 127.0.0.1), its
// common name the first of them.
func NewFor(t testing.TB, names ...string) Cert {
	t.Helper()
	return newCert(t, names, nil, time.Now().Add(time.Hour))
}

// NewExpired is NewFor with a certificate that expired a day ago.
func NewExpired(t testing.TB, names ...string) Cert {
	t.Helper()
	return newCert(t, names, nil, time.Now().Add(-24*time.Hour))
}

// Issue makes a certificate for names (for 127.0.0.1 without any) signed
// by c, its common name the first of them: a member's or a client's, when
// c is the CA trusted.
func (c Cert) Issue(t testing.TB, names ...string) Cert {
	t.Helper()
	return newCert(t, names, &c, time.Now().Add(time.Hour))
}

// WriteFiles writes the certificate and its key to dir as name.crt and
// name.key, and returns their paths.
func (c Cert) WriteFiles(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, c.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func newCert(t testing.TB, names []string, parent *Cert, notAfter time.Time) Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: notAfter.Add(-2 * time.Hour), NotAfter: notAfter,
		DNSNames:    names,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	if len(names) > 0 {
		tmpl.Subject.CommonName = names[0]
	} else {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	signer, signerKey := tmpl, any(key)
	if parent != nil {
		signer, signerKey = parent.TLS.Leaf, parent.TLS.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return Cert{
		TLS:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Roots:  roots,
		PEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// Localize makes config text that names certificate files under prefix
// ("/etc/ssl/") loadable: for each PREFIX+NAME.crt it names it writes a
// certificate for NAME and its key, NAME.crt and NAME.key, into a new
// directory, and returns text with prefix replaced by that directory.
func Localize(t testing.TB, text, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	re := regexp.MustCompile(regexp.QuoteMeta(prefix) + `([A-Za-z0-9._-]+)\.crt`)
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if _, err := os.Stat(filepath.Join(dir, m[1]+".crt")); err == nil {
			continue
		}
		NewFor(t, m[1]).WriteFiles(t, dir, m[1])
	}
	return strings.ReplaceAll(text, prefix, dir+"/")
}

// LocalizeFile is Localize for a config file: f itself when it names no
// file under prefix, else a copy in a new directory naming certificates
// made for it.
func LocalizeFile(t testing.TB, f, prefix string) string {
	t.Helper()
	text, err := os.ReadFile(f)
	if err != nil || !strings.Contains(string(text), prefix) {
		return f
	}
	local := filepath.Join(t.TempDir(), filepath.Base(f))
	if err := os.WriteFile(local, []byte(Localize(t, string(text), prefix)), 0o600); err != nil {
		t.Fatal(err)
	}
	return local
}
