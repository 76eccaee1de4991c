package modssl

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
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
	leaf.RawSubject, leaf.RawIssuer = rawName(t, leaf.Subject.ToRDNSequence()), rawName(t, leaf.Issuer.ToRDNSequence())
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

// rawName is a name's DER, as a certificate's RawSubject holds it.
func rawName(t *testing.T, n pkix.RDNSequence) []byte {
	t.Helper()
	der, err := asn1.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestDN: SSL_CLIENT_S_DN and SSL_CLIENT_I_DN as mod_ssl writes them
// (X509_NAME_print_ex, RFC 2253 but bytes above 0x7f as they are): the
// name's own order reversed, OpenSSL's short names, repeated attributes
// kept apart, RFC 2253's escapes; SSL_CLIENT_S_DN_CN is the first CN.
// Each expected value is what OpenSSL 3.0's `openssl x509 -nameopt
// RFC2253,-esc_msb` (and `esc_ctrl,utf8` for the CN) writes for the name.
func TestDN(t *testing.T) {
	atv := func(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	var (
		c, o, ou, cn = asn1.ObjectIdentifier{2, 5, 4, 6}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{2, 5, 4, 11}, asn1.ObjectIdentifier{2, 5, 4, 3}
		email        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
		dc           = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
		uid          = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
		bmp          = func(s string) asn1.RawValue { return asn1.RawValue{Tag: asn1.TagBMPString, Bytes: []byte(s)} }
		t61          = func(s string) asn1.RawValue { return asn1.RawValue{Tag: asn1.TagT61String, Bytes: []byte(s)} }
	)
	for _, tc := range []struct {
		name   pkix.RDNSequence
		dn, cn string
	}{
		{pkix.RDNSequence{{atv(c, "US")}, {atv(o, "Example")}, {atv(ou, "Eng")}, {atv(ou, "Ops")}, {atv(cn, "alice")}, {atv(email, "alice@example.com")}},
			"emailAddress=alice@example.com,CN=alice,OU=Ops,OU=Eng,O=Example,C=US", "alice"},
		{pkix.RDNSequence{{atv(dc, "com")}, {atv(dc, "example")}, {atv(cn, "bob")}}, "CN=bob,DC=example,DC=com", "bob"},
		{pkix.RDNSequence{{atv(cn, "first")}, {atv(cn, "second")}}, "CN=second,CN=first", "first"},
		// A multi-valued RDN, and a type OpenSSL has no name for.
		{pkix.RDNSequence{{atv(asn1.ObjectIdentifier{1, 2, 3, 4}, "xyz")}, {atv(cn, "a"), atv(uid, "u")}}, "UID=u+CN=a,1.2.3.4=#130378797A", "a"},
		{pkix.RDNSequence{{atv(asn1.ObjectIdentifier{2, 999, 3}, "v")}, {atv(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, "w")}},
			"1.3.6.1.4.1.99999.1=#130177,2.999.3=#130176", ""},
		// RFC 2253's specials; '#' and spaces only where they lead or trail.
		{pkix.RDNSequence{{atv(ou, " ")}, {atv(ou, "#")}, {atv(ou, "trail ")}, {atv(o, "#start")}, {atv(cn, ` lead, "q" +<x>;\ #h=`)}},
			`CN=\ lead\, \"q\" \+\<x\>\;\\ #h=,O=\#start,OU=trail\ ,OU=#,OU=\ `, ` lead, "q" +<x>;\\ #h=`},
		// Control bytes as \XX, UTF-8 as it is, Latin-1 and BMP strings in UTF-8.
		{pkix.RDNSequence{{atv(ou, bmp("\x00A\x00\xe9\x4e\x2d\x00 "))}, {atv(o, t61("lat\xe9"))}, {atv(cn, "ctl\x01\x7fé")}},
			`CN=ctl\01\7Fé,O=laté,OU=Aé中\ `, `ctl\01\7Fé`},
	} {
		raw := rawName(t, tc.name)
		var name pkix.Name
		name.FillFromRDNSequence(&tc.name)
		cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{RawSubject: raw, RawIssuer: raw, Subject: name, Issuer: name}}}
		for v, want := range map[string]string{"SSL_CLIENT_S_DN": tc.dn, "SSL_CLIENT_I_DN": tc.dn, "SSL_CLIENT_S_DN_CN": tc.cn} {
			if got := string(Append(nil, mustLookup(t, v), cs)); got != want {
				t.Errorf("%s of %v: %q, want %q", v, tc.name, got, want)
			}
		}
		buf := make([]byte, 0, 256)
		if n := testing.AllocsPerRun(10, func() { Append(buf, sslClientSDN, cs) }); n != 0 {
			t.Errorf("SSL_CLIENT_S_DN of %v: %v allocations", tc.name, n)
		}
	}
}

// TestSerial: SSL_CLIENT_M_SERIAL writes each byte of the serial number in
// hex, as OpenSSL: a leading zero stays.
func TestSerial(t *testing.T) {
	for n, want := range map[int64]string{0x0abc: "0ABC", 0xbeef: "BEEF", 1: "01", 0: "00", -0x0abc: "-0ABC"} {
		cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{SerialNumber: big.NewInt(n)}}}
		if got := string(Append([]byte("x"), mustLookup(t, "SSL_CLIENT_M_SERIAL"), cs)); got != "x"+want {
			t.Errorf("serial %#x: %q, want %q", n, got[1:], want)
		}
	}
}

func mustLookup(t *testing.T, name string) Var {
	t.Helper()
	v, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
