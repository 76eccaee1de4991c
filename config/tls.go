package config

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// TLS is a host's TLS termination (mod_ssl's SSLEngine on): the
// certificates it presents and what it asks of clients. A connection
// speaks TLS when the hosts its address reaches have it (docs/config.md
// "TLS").
type TLS struct {
	Pos Pos `yaml:"-"`
	// Certs are the host's certificates (SSLCertificateFile and
	// SSLCertificateKeyFile, one pair per key type): Go offers a client
	// the first one it can use.
	Certs []CertPair `yaml:"certs"`
	// ChainFile is SSLCertificateChainFile: intermediates sent after each
	// certificate.
	ChainFile string `yaml:"chain_file,omitempty"`
	// MinVersion and MaxVersion bound the protocol versions ("1.2",
	// "1.3"; SSLProtocol): 1.2 and 1.3 by default, and TLS 1.0 and 1.1
	// are never offered (RFC 8996).
	MinVersion string `yaml:"min_version,omitempty"`
	MaxVersion string `yaml:"max_version,omitempty"`
	// VerifyClient is SSLVerifyClient: "none" (the default), "optional"
	// or "require" (a certificate signed by ClientCAFile), or
	// "optional_no_ca" (any certificate; one that verifies against
	// ClientCAFile reads SUCCESS, one no CA known issued GENEROUS).
	VerifyClient string `yaml:"verify_client,omitempty"`
	// ClientCAFile is SSLCACertificateFile: the CAs clients' certificates
	// must chain to.
	ClientCAFile string `yaml:"client_ca_file,omitempty"`

	loaded    *tls.Config         // built by the checker: certificates read
	clientCAs []*x509.Certificate // ClientCAFile's, read
}

// CertPair is one certificate file and its key; an empty KeyFile means
// the key is in CertFile, after the certificate (Apache's rule).
type CertPair struct {
	Pos      Pos    `yaml:"-"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file,omitempty"`
}

// TLS versions sluice offers.
var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// Client verification modes (SSLVerifyClient).
const (
	VerifyNone         = "none"
	VerifyOptional     = "optional"
	VerifyRequire      = "require"
	VerifyOptionalNoCA = "optional_no_ca"
)

var verifyModes = []string{VerifyNone, VerifyOptional, VerifyRequire, VerifyOptionalNoCA}

// Config is the host's TLS server configuration: its certificates read,
// its versions and client verification set. The checker built it when the
// configuration loaded, so a reload reads the files again.
func (t *TLS) Config() *tls.Config { return t.loaded }

// VerifyNoCA verifies a client's certificates (the leaf first) against
// ClientCAFile as mod_ssl's SSLVerifyClient optional_no_ca does: it
// returns the chains where they verify, none where no CA known to it or
// sent by the client issued them (unknown or self-signed: mod_ssl's
// GENEROUS), and an error, which refuses the handshake, for any other
// failure: an expired certificate, a bad signature, the wrong usage.
func (t *TLS) VerifyNoCA(certs []*x509.Certificate) ([][]*x509.Certificate, error) {
	if len(certs) == 0 || t.loaded == nil || t.loaded.ClientCAs == nil {
		return nil, nil
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: t.loaded.ClientCAs, Intermediates: intermediates,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) && !hasIssuer(unknown.Cert, slices.Concat(t.clientCAs, certs)) {
		return nil, nil
	}
	return chains, err
}

// hasIssuer reports whether one of candidates may have issued c by its
// name and key identifier, as OpenSSL picks an issuer before it checks the
// signature: crypto/x509 reports a bad signature from a CA it knows as an
// unknown authority.
func hasIssuer(c *x509.Certificate, candidates []*x509.Certificate) bool {
	return slices.ContainsFunc(candidates, func(p *x509.Certificate) bool {
		return p != c && bytes.Equal(p.RawSubject, c.RawIssuer) &&
			(len(c.AuthorityKeyId) == 0 || len(p.SubjectKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, p.SubjectKeyId))
	})
}

// tls checks TLS settings (a host's or the admin listener's) and reads
// their files.
func (c *checker) tls(t *TLS) error {
	if t == nil {
		return nil
	}
	fail := func(key, value, format string, a ...any) error {
		return c.fail(t, t.Pos, key, value, format, a...)
	}
	if len(t.Certs) == 0 {
		return fail("certs", "", "TLS needs a certificate (SSLCertificateFile)")
	}
	conf := &tls.Config{
		// fasthttp speaks HTTP/1.1; ALPN says so rather than leave a
		// client to guess.
		NextProtos: []string{"http/1.1"},
	}
	if err := c.versions(t, t.Pos, t.MinVersion, t.MaxVersion, conf); err != nil {
		return err
	}
	var chain [][]byte
	if t.ChainFile != "" {
		var err error
		if chain, err = readCerts(c.path(t.ChainFile)); err != nil {
			return fail("chain_file", t.ChainFile, "%v", err)
		}
	}
	for i, p := range t.Certs {
		if slices.ContainsFunc(t.Certs[:i], func(q CertPair) bool { return q.CertFile == p.CertFile }) {
			return c.fail(&t.Certs[i], p.Pos, "cert_file", p.CertFile, "listed twice")
		}
		cert, err := loadPair(c.path(p.CertFile), c.path(p.KeyFile))
		if err != nil {
			return c.fail(&t.Certs[i], p.Pos, "cert_file", p.CertFile, "%v", err)
		}
		cert.Certificate = append(cert.Certificate, chain...)
		conf.Certificates = append(conf.Certificates, cert)
		switch now := time.Now(); {
		case now.After(cert.Leaf.NotAfter):
			c.warn(p.Pos, "certificate %s expired on %s: clients will refuse it", p.CertFile, cert.Leaf.NotAfter.UTC().Format(time.DateOnly))
		case now.Before(cert.Leaf.NotBefore):
			c.warn(p.Pos, "certificate %s is valid only from %s", p.CertFile, cert.Leaf.NotBefore.UTC().Format(time.DateTime))
		}
	}
	if t.VerifyClient == "" {
		t.VerifyClient = VerifyNone
	}
	t.VerifyClient = strings.ToLower(t.VerifyClient)
	switch t.VerifyClient {
	case VerifyNone:
	case VerifyOptional, VerifyRequire:
		if t.ClientCAFile == "" {
			return fail("verify_client", t.VerifyClient, "needs client_ca_file (SSLCACertificateFile): the CAs client certificates are checked against")
		}
		conf.ClientAuth = tls.VerifyClientCertIfGiven
		if t.VerifyClient == VerifyRequire {
			conf.ClientAuth = tls.RequireAndVerifyClientCert
		}
	case VerifyOptionalNoCA:
		// crypto/tls verifies nothing here; with CAs named, VerifyNoCA
		// does as mod_ssl (below).
		conf.ClientAuth = tls.RequestClientCert
	default:
		return fail("verify_client", t.VerifyClient, "must be one of %s", strings.Join(verifyModes, ", "))
	}
	if t.ClientCAFile != "" {
		ders, err := readCerts(c.path(t.ClientCAFile))
		if err != nil {
			return fail("client_ca_file", t.ClientCAFile, "%v", err)
		}
		if conf.ClientCAs, t.clientCAs, err = certPool(ders); err != nil {
			return fail("client_ca_file", t.ClientCAFile, "%v", err)
		}
		if conf.ClientAuth == tls.RequestClientCert {
			conf.VerifyConnection = func(cs tls.ConnectionState) error {
				_, err := t.VerifyNoCA(cs.PeerCertificates)
				return err
			}
		}
	}
	t.loaded = conf
	return nil
}

// path resolves a file named in the configuration: relative to the
// configuration file's directory (Apache's are made absolute against
// ServerRoot while parsing).
func (c *checker) path(name string) string {
	if name == "" || filepath.IsAbs(name) || c.cfg.Source == "" {
		return name
	}
	return filepath.Join(filepath.Dir(c.cfg.Source), name)
}

// loadPair reads a certificate and its key; with no keyFile the key is
// read from certFile.
func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM := certPEM
	if keyFile != "" {
		if keyPEM, err = readFile(keyFile); err != nil {
			return tls.Certificate{}, fmt.Errorf("key file %s: %w", keyFile, err)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil && encryptedKey(keyPEM) {
		return cert, errors.New("the private key is encrypted: sluice reads unencrypted keys only (no SSLPassPhraseDialog)")
	}
	return cert, err
}

// encryptedKey reports whether a PEM file holds an encrypted private key
// (PKCS#8 "ENCRYPTED PRIVATE KEY", or OpenSSL's Proc-Type header).
func encryptedKey(data []byte) bool {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return false
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return true
		}
	}
}

// readFile reads a file the configuration names; its error leaves out the
// path, which the caller's message names already.
func readFile(name string) ([]byte, error) {
	data, err := os.ReadFile(name)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, errors.New("file does not exist")
	case errors.As(err, &pe):
		return nil, fmt.Errorf("cannot read: %w", pe.Err)
	}
	return data, err
}

// readCerts reads every PEM certificate in file.
func readCerts(file string) ([][]byte, error) {
	data, err := readFile(file)
	if err != nil {
		return nil, err
	}
	var ders [][]byte
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			ders = append(ders, b.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, errors.New("no PEM certificate in the file")
	}
	return ders, nil
}

// ProxyTLS is how sluice checks the certificates of https:// and wss://
// members (mod_ssl's SSLProxy* directives). Without it, a member's chain
// must lead to the system's roots and name the member's host.
type ProxyTLS struct {
	Pos Pos `yaml:"-"`
	// Verify is SSLProxyVerify: "require" (the default) checks the chain,
	// against CAFile when set, else the system's roots; "none" does not
	// (Apache's default, docs/compatibility.md). Either way the name is
	// checked unless CheckPeerName is false.
	Verify string `yaml:"verify,omitempty"`
	// CAFile is SSLProxyCACertificateFile.
	CAFile string `yaml:"ca_file,omitempty"`
	// CheckPeerName false (SSLProxyCheckPeerName off) accepts a
	// certificate whatever name it is for.
	CheckPeerName *bool `yaml:"check_peer_name,omitempty"`
	// ClientCertFile is SSLProxyMachineCertificateFile: the certificate
	// and key sluice presents to members that ask for one.
	ClientCertFile string `yaml:"client_cert_file,omitempty"`
	// MinVersion and MaxVersion are SSLProxyProtocol's ("1.2", "1.3").
	MinVersion string `yaml:"min_version,omitempty"`
	MaxVersion string `yaml:"max_version,omitempty"`

	loaded *tls.Config
	// certs digests the certificates read from CAFile and ClientCertFile:
	// a reload that read the same ones may keep the connections made with
	// them (Same).
	certs [sha256.Size]byte
}

// Same reports whether p and q, each loaded, verify and present alike: the
// same settings and the same certificates read from their files (the files
// are read again at every reload, and may have been replaced).
func (p *ProxyTLS) Same(q *ProxyTLS) bool {
	if p == nil || q == nil {
		return p == q
	}
	a, b := *p, *q
	a.Pos, a.loaded, b.Pos, b.loaded = Pos{}, nil, Pos{}, nil
	a.CheckPeerName, b.CheckPeerName = nil, nil
	return a == b && (p.CheckPeerName == nil) == (q.CheckPeerName == nil) &&
		(p.CheckPeerName == nil || *p.CheckPeerName == *q.CheckPeerName)
}

// SSLProxyVerify values sluice reads; Apache's optional and
// optional_no_ca read as require and none.
const (
	ProxyVerifyRequire = "require"
	ProxyVerifyNone    = "none"
)

// ClientConfig is the TLS configuration for a member whose certificate
// must name serverName, from the files read when the configuration
// loaded.
func (p *ProxyTLS) ClientConfig(serverName string) *tls.Config {
	conf := p.loaded.Clone()
	conf.ServerName = serverName
	chain := p.Verify == ProxyVerifyRequire
	name := p.CheckPeerName == nil || *p.CheckPeerName
	if chain && name {
		return conf
	}
	// Go checks the chain and the name together; either alone is checked
	// here. With verify none the name is still checked unless
	// check_peer_name is off, as in Apache.
	roots := conf.RootCAs
	conf.InsecureSkipVerify = true //nolint:gosec // verified below as asked
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		leaf := cs.PeerCertificates[0]
		if name {
			return leaf.VerifyHostname(serverName)
		}
		if !chain {
			return nil
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		_, err := leaf.Verify(opts)
		return err
	}
	return conf
}

// certNames warns, as Apache does (AH01909), when none of h's
// certificates names its ServerName: clients checking the name refuse it.
func (c *checker) certNames(h *Host) {
	if h.TLS == nil || h.TLS.loaded == nil || h.ServerName == "" {
		return
	}
	name, _ := SplitServerName(h.ServerName)
	var names []string
	for _, cert := range h.TLS.loaded.Certificates {
		if cert.Leaf.VerifyHostname(name) == nil {
			return
		}
		names = append(names, cert.Leaf.DNSNames...)
	}
	c.warn(h.TLS.Pos, "no certificate of ServerName %s names it (they name %s)", name, strings.Join(names, ", "))
}

// proxyTLS checks member TLS settings (a host's or a balancer's) and reads
// their files.
func (c *checker) proxyTLS(p *ProxyTLS) error {
	if p == nil {
		return nil
	}
	fail := func(key, value, format string, a ...any) error {
		return c.fail(p, p.Pos, key, value, format, a...)
	}
	conf := &tls.Config{}
	if err := c.versions(p, p.Pos, p.MinVersion, p.MaxVersion, conf); err != nil {
		return err
	}
	switch p.Verify = strings.ToLower(p.Verify); p.Verify {
	case "":
		p.Verify = ProxyVerifyRequire
	case ProxyVerifyRequire, ProxyVerifyNone:
	default:
		return fail("verify", p.Verify, "must be require or none")
	}
	digest := sha256.New()
	if p.CAFile != "" {
		ders, err := readCerts(c.path(p.CAFile))
		if err != nil {
			return fail("ca_file", p.CAFile, "%v", err)
		}
		if conf.RootCAs, _, err = certPool(ders); err != nil {
			return fail("ca_file", p.CAFile, "%v", err)
		}
		digestCerts(digest, ders)
	}
	if p.ClientCertFile != "" {
		cert, err := loadPair(c.path(p.ClientCertFile), "")
		if err != nil {
			return fail("client_cert_file", p.ClientCertFile, "%v", err)
		}
		conf.Certificates = []tls.Certificate{cert}
		digestCerts(digest, cert.Certificate) // a new key comes with a new certificate
	}
	p.loaded = conf
	digest.Sum(p.certs[:0])
	return nil
}

// digestCerts adds each DER certificate to h, its length first.
func digestCerts(h hash.Hash, ders [][]byte) {
	for _, der := range ders {
		_, _ = h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(der))))
		_, _ = h.Write(der)
	}
}

// versions sets conf's version bounds from min and max ("1.2", "1.3"),
// TLS 1.2 to 1.3 where they are empty.
func (c *checker) versions(owner any, pos Pos, min, max string, conf *tls.Config) error {
	conf.MinVersion, conf.MaxVersion = tls.VersionTLS12, tls.VersionTLS13
	for _, v := range []struct {
		key, val string
		dst      *uint16
	}{{"min_version", min, &conf.MinVersion}, {"max_version", max, &conf.MaxVersion}} {
		if v.val == "" {
			continue
		}
		n, ok := tlsVersions[v.val]
		if !ok {
			return c.fail(owner, pos, v.key, v.val, "must be 1.2 or 1.3 (TLS 1.0 and 1.1 are deprecated, RFC 8996)")
		}
		*v.dst = n
	}
	if conf.MinVersion > conf.MaxVersion {
		return c.fail(owner, pos, "min_version", min, "is above max_version %s", max)
	}
	return nil
}

// certPool is a pool of the certificates ders, and those certificates.
func certPool(ders [][]byte) (*x509.CertPool, []*x509.Certificate, error) {
	pool, cas := x509.NewCertPool(), make([]*x509.Certificate, 0, len(ders))
	for _, der := range ders {
		ca, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, err
		}
		pool.AddCert(ca)
		cas = append(cas, ca)
	}
	return pool, cas, nil
}
