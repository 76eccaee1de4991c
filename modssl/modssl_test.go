package modssl

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestAppend: every variable, on a TLS connection with a verified client
// certificate, with one not verified, with none, and on a plain one.
func TestAppend(t *testing.T) {
	leaf := &x509.Certificate{
		Raw:          []byte{0x30, 0x03, 0x02, 0x01, 0x01},
		Subject:      pkix.Name{CommonName: "alice", Organization: []string{"Example"}},
		Issuer:       pkix.Name{CommonName: "Example CA"},
		SerialNumber: big.NewInt(0xbeef),
		NotBefore:    time.Date(2026, 11, 7, 9, 5, 1, 0, time.UTC),
		NotAfter:     time.Date(2027, 11, 17, 19, 5, 1, 0, time.UTC),
	}
	verified := &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, ServerName: "a.test",
		DidResume: true, PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}
	unverified := &tls.ConnectionState{Version: tls.VersionTLS12, PeerCertificates: []*x509.Certificate{leaf}}
	anonymous := &tls.ConnectionState{Version: tls.VersionTLS12}
	for _, c := range []struct {
		name string
		cs   *tls.ConnectionState
		want string
	}{
		{"HTTPS", verified, "on"}, {"HTTPS", nil, "off"},
		{"SSL_PROTOCOL", verified, "TLSv1.3"}, {"SSL_PROTOCOL", anonymous, "TLSv1.2"}, {"SSL_PROTOCOL", nil, ""},
		{"SSL_CIPHER", verified, "TLS_AES_128_GCM_SHA256"},
		{"SSL_SESSION_RESUMED", verified, "Resumed"}, {"SSL_SESSION_RESUMED", anonymous, "Initial"},
		{"SSL_TLS_SNI", verified, "a.test"}, {"SSL_TLS_SNI", anonymous, ""},
		{"SSL_CLIENT_VERIFY", verified, "SUCCESS"}, {"SSL_CLIENT_VERIFY", unverified, "GENEROUS"}, {"SSL_CLIENT_VERIFY", anonymous, "NONE"},
		{"SSL_CLIENT_S_DN", verified, "CN=alice,O=Example"}, {"SSL_CLIENT_S_DN", anonymous, ""},
		{"SSL_CLIENT_S_DN_CN", unverified, "alice"}, {"SSL_CLIENT_I_DN", verified, "CN=Example CA"},
		{"SSL_CLIENT_M_SERIAL", verified, "BEEF"},
		{"SSL_CLIENT_V_START", verified, "Nov  7 09:05:01 2026 GMT"}, {"SSL_CLIENT_V_END", verified, "Nov 17 19:05:01 2027 GMT"},
		{"SSL_CLIENT_CERT", verified, "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n"},
	} {
		v, err := Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(Append([]byte("x"), v, c.cs)); got != "x"+c.want {
			t.Errorf("%s: %q, want %q", c.name, got[1:], c.want)
		}
	}
	if _, err := Lookup("SSL_SERVER_S_DN"); err == nil || !strings.Contains(err.Error(), "sluice reads HTTPS, SSL_CIPHER,") {
		t.Errorf("an unknown variable: %v", err)
	}
}
