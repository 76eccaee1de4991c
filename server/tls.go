package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// serverTLS is the TLS configuration every TLS client connection starts
// with: it only picks, per handshake, the configuration of the host the
// connection's address and its server name (SNI) reach, from the runtime
// live at that moment, so a reload changes certificates for the next
// handshake and no listener needs to be opened again.
func (s *Server) serverTLS() *tls.Config {
	return &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		vh := s.rt.Load().tlsHost(hello.ServerName, hello.Conn.LocalAddr())
		conf := vh.tls
		if conf == nil {
			return nil, errNoTLSHost
		}
		if conf.ClientAuth == tls.RequestClientCert && conf.ClientCAs != nil {
			if c, ok := hello.Context().Value(handshakeConn{}).(*tlsConn); ok {
				return c.verifyingNoCA(conf, vh.cfg.TLS), nil
			}
		}
		return conf, nil
	}}
}

// handshakeConn keys the tlsConn in its handshake's context.
type handshakeConn struct{}

// verifyingNoCA is conf, a host's under SSLVerifyClient optional_no_ca
// with CAs, set to keep on c the chains the client's certificate verifies
// to, which crypto/tls does not look for: SSL_CLIENT_VERIFY then reads
// SUCCESS, as mod_ssl, rather than GENEROUS.
func (c *tlsConn) verifyingNoCA(conf *tls.Config, t *config.TLS) *tls.Config {
	conf = conf.Clone()
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		var err error
		c.verified, err = t.VerifyNoCA(cs.PeerCertificates)
		return err
	}
	return conf
}

// adminTLSConfig is serverTLS for the admin listener: admin.tls of the
// runtime live at each handshake.
func (s *Server) adminTLSConfig() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if t := s.rt.Load().cfg.Admin.TLS; t != nil {
			return t.Config(), nil
		}
		return nil, errNoTLSHost
	}}
}

// errNoTLSHost: a reload took TLS off the connection's address after it
// was accepted as TLS.
var errNoTLSHost = errors.New("sluice: no host terminates TLS on this address")

// startConn wraps an admitted connection in TLS when its address speaks
// it; the handshake runs on fasthttp's first read, under the client header
// timeout. A plain TCP one parks when it idles (park.go), and starts
// sparse: it parks as soon as its first answer is out unless its second
// request is there. Most connections that send one request send the next
// one late or never, and a burst of new ones would otherwise hold a
// reader and a goroutine each for client_park; a client quick with its
// second request wakes it once and then waits in fasthttp like any busy
// connection.
func (s *Server) startConn(c net.Conn) net.Conn {
	if !s.rt.Load().speaksTLS(c) {
		if cc, ok := c.(*clientConn); ok && s.lot != nil && isTCP(cc.Conn) {
			cc.lot, cc.sparse = s.lot, true
		}
		return c
	}
	return &tlsConn{Conn: tls.Server(c, s.tlsConf), metrics: s.metrics}
}

// startAdminTLS wraps an admin connection in TLS when admin.tls is set in
// the running configuration.
func (s *Server) startAdminTLS(c net.Conn) net.Conn {
	if s.rt.Load().cfg.Admin.TLS == nil {
		return c
	}
	return &tlsConn{Conn: tls.Server(c, s.adminTLS)}
}

// tlsConn is a client's TLS connection. Its first read runs the handshake
// so that a client speaking plain HTTP to the TLS port gets a readable
// 400, as Apache and nginx answer, instead of a closed connection.
type tlsConn struct {
	*tls.Conn
	ua       *userAgent // mod_remoteip's client of the current request, made on first use
	shaken   bool
	metrics  *serverMetrics
	verified [][]*x509.Certificate // chains sluice verified the client's certificate to (verifyingNoCA)
}

// ConnectionState is the connection's state, the chains verifyingNoCA
// found among its VerifiedChains.
func (c *tlsConn) ConnectionState() tls.ConnectionState {
	cs := c.Conn.ConnectionState()
	if cs.VerifiedChains == nil {
		cs.VerifiedChains = c.verified
	}
	return cs
}

// Handshake runs the handshake, with c in its context for
// verifyingNoCA. fasthttp calls it before the first Read.
func (c *tlsConn) Handshake() error {
	return c.HandshakeContext(context.WithValue(context.Background(), handshakeConn{}, c))
}

func (c *tlsConn) Read(p []byte) (int, error) {
	if !c.shaken {
		c.shaken = true
		err := c.Handshake()
		c.metrics.handshake(err)
		if err != nil {
			var rh tls.RecordHeaderError
			if errors.As(err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader[:]) {
				_, _ = rh.Conn.Write(plainToTLS)
			}
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// looksLikeHTTP reports whether a connection's first five bytes start a
// request line rather than a TLS record.
func looksLikeHTTP(b []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "DELET", "OPTIO", "PATCH", "CONNE", "TRACE"} {
		if bytes.HasPrefix(b, []byte(m)) {
			return true
		}
	}
	return false
}

// plainToTLS is the answer to plain HTTP on a TLS port.
var plainToTLS = func() []byte {
	const body = "This port speaks TLS: use https:// to reach it.\n"
	return fmt.Appendf(nil, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}()

// misdirected answers 421 (RFC 9110) and reports true when a request on a
// TLS connection reaches, by its Host, a vhost its handshake does not fit
// (reachable); and 400 when the handshake named a host (SNI) and the
// request names none, as Apache (AH02031).
func (s *Server) misdirected(ctx *fasthttp.RequestCtx, rt *runtime, vh *vhost) bool {
	if vh.tls == nil {
		return false
	}
	status := fasthttp.StatusMisdirectedRequest
	if tc, ok := ctx.Conn().(*tlsConn); ok {
		cs := tc.ConnectionState()
		if cs.ServerName != "" && len(ctx.Host()) == 0 {
			status = fasthttp.StatusBadRequest
		} else if reachable(rt.tlsHost(cs.ServerName, ctx.LocalAddr()), vh, &cs) {
			return false
		}
	}
	s.fail(ctx, status)
	return true
}

// reachable reports whether a request may reach vhost vh over a handshake
// made for hs. Where the client named hs (SNI), they must terminate TLS
// alike (sameTLS), as Apache requires (AH02032): the client may not have
// been asked for the certificate vh requires, may have been allowed a
// protocol vh refuses, or been shown a certificate vh does not present.
// Without a name, Apache checks nothing; sluice still requires that vh
// accepts the version negotiated and verifies clients as hs did.
func reachable(hs, vh *vhost, cs *tls.ConnectionState) bool {
	switch {
	case hs == vh:
		return true
	case hs.tls == nil:
		return false
	case cs.ServerName != "":
		return sameTLS(hs, vh)
	}
	return sameClientAuth(hs.tls, vh.tls) && vh.tls.MinVersion <= cs.Version && cs.Version <= vh.tls.MaxVersion
}

// sameTLS reports whether hosts a and b terminate TLS alike, as Apache's
// ssl_server_compatible: the same protocol versions, client verification
// and certificate files (SSLCipherSuite, which it compares too, sluice
// ignores).
func sameTLS(a, b *vhost) bool {
	x, y := a.tls, b.tls
	if x == nil || y == nil {
		return x == y
	}
	if x.MinVersion != y.MinVersion || x.MaxVersion != y.MaxVersion || !sameClientAuth(x, y) {
		return false
	}
	ca, cb := a.cfg.TLS.Certs, b.cfg.TLS.Certs
	return len(ca) == len(cb) && !slices.ContainsFunc(ca, func(p config.CertPair) bool {
		return !slices.ContainsFunc(cb, func(q config.CertPair) bool { return p.CertFile == q.CertFile && p.KeyFile == q.KeyFile })
	})
}

// sameClientAuth reports whether two TLS configurations ask clients for
// certificates alike: the same mode and CAs.
func sameClientAuth(x, y *tls.Config) bool {
	return x.ClientAuth == y.ClientAuth && x.ClientCAs.Equal(y.ClientCAs)
}

const certExpiry = "sluice_tls_certificate_expiry_timestamp_seconds"

// writeCertificates writes when each certificate of the running
// configuration expires, by host (the ServerName, "admin" for the admin
// listener) and file: what a renewal alert watches.
func (s *Server) writeCertificates(w io.Writer) {
	rt := s.rt.Load()
	type key struct{ host, file string }
	seen := map[key]bool{}
	emit := func(host string, t *config.TLS) {
		if t == nil || t.Config() == nil {
			return
		}
		for i, p := range t.Certs {
			k := key{host, p.CertFile}
			if seen[k] {
				continue
			}
			if len(seen) == 0 {
				metrics.WriteMetadataIfNeeded(w, certExpiry, "gauge")
			}
			seen[k] = true
			fmt.Fprintf(w, "%s{host=\"%s\",file=\"%s\"} %d\n", certExpiry, labelValue(host), labelValue(p.CertFile),
				t.Config().Certificates[i].Leaf.NotAfter.Unix())
		}
	}
	for _, vh := range slices.Concat(rt.hosts, []*vhost{rt.main}) {
		emit(vh.serverName, vh.cfg.TLS)
	}
	emit("admin", rt.cfg.Admin.TLS)
}
