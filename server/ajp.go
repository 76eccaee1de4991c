package server

import (
	"crypto/tls"
	"net"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/ajp"
	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/headers"
	"github.com/sluiceproxy/sluice/modssl"
	"github.com/sluiceproxy/sluice/pool"
)

// The mod_ssl variables mod_proxy_ajp forwards.
var (
	sslClientCert   = mustSSLVar("SSL_CLIENT_CERT")
	sslCipher       = mustSSLVar("SSL_CIPHER")
	sslKeySize      = mustSSLVar("SSL_CIPHER_USEKEYSIZE")
	sslProtocolName = mustSSLVar("SSL_PROTOCOL")
)

func mustSSLVar(name string) modssl.Var {
	v, err := modssl.Lookup(name)
	if err != nil {
		panic(err)
	}
	return v
}

// ajpTLS appends what mod_proxy_ajp tells the container of a TLS
// connection: the client's certificate (PEM), the cipher suite, its key
// size and the protocol (AJP_SSL_PROTOCOL).
func ajpTLS(r *ajp.Request, st tls.ConnectionState, x *exchange) {
	if x.val = modssl.Append(x.val[:0], sslClientCert, &st); len(x.val) > 0 {
		r.Attribute(ajp.AttrSSLCert, x.val)
	}
	r.Attribute(ajp.AttrSSLCipher, modssl.Append(x.val[:0], sslCipher, &st))
	x.val = modssl.Append(x.val[:0], sslKeySize, &st)
	if n, err := strconv.Atoi(string(x.val)); err == nil && n > 0 {
		r.IntAttribute(ajp.AttrSSLKeySize, n)
	}
	r.RequestAttribute("AJP_SSL_PROTOCOL", modssl.Append(x.val[:0], sslProtocolName, &st))
}

// ajpRequest builds the AJP forward request of ctx's request to m, an
// ajp:// member, as mod_proxy_ajp does (checked against Apache 2.4 in
// cmd/sluice TestAJPApacheRequest): the method, the path sent (its query
// as an attribute), the client's address, the server name as Apache has
// it (UseCanonicalName Off), the port the connection came in on, TLS; the
// request's fields after
// RequestHeader rules, every one (AJP has no X-Forwarded-*: the container
// reads the client from the packet), but for the forwarding fields an
// untrusted peer may not assert; then the sticky route the request named,
// the secret, AJP_REMOTE_PORT and AJP_LOCAL_ADDR, and the variables
// (SetEnv, SetEnvIf, [E=]) named AJP_NAME as request attributes NAME.
func (s *Server) ajpRequest(ctx *fasthttp.RequestCtx, req *fasthttp.Request, m *pool.Member, x *exchange) error {
	vh := x.vh
	path, query := x.uri, ctx.URI().QueryString()
	if len(query) > 0 {
		path = path[:len(path)-len(query)-1]
	}
	// The port the connection came in on, as mod_proxy_ajp sends it.
	port := 0
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		port = a.Port
	}
	x.val = appendClientIP(x.val[:0], ctx)
	r := &x.ajp
	r.B = x.params[:0]
	r.Start(ctx.Method(), ctx.Request.Header.Protocol(), path, x.val, requestServerName(ctx, vh), port, ctx.IsTLS())
	// trusted_proxies judges the peer, not a client mod_remoteip read.
	untrusted := vh.fwd.Trusted != nil && !vh.fwd.Trusted.Contains(connPeerIP(ctx))
	for k, v := range req.Header.All() {
		switch {
		case untrusted && headers.ClientForwarding(k):
		case len(v) == 1 && v[0] == '0' && anycase.SameName(k, "Content-Length"):
			// fasthttp's for a body-less POST, PUT or PATCH: Apache sends none.
		default:
			r.Header(k, v)
		}
	}
	r.EndHeaders()
	if len(query) > 0 {
		r.Attribute(ajp.AttrQueryString, query)
	}
	if len(x.route) > 0 {
		r.Attribute(ajp.AttrRoute, x.route)
	}
	if c, ok := ctx.Conn().(*tlsConn); ok {
		ajpTLS(r, c.ConnectionState(), x)
	}
	if m.Params.Secret != "" {
		r.Attribute(ajp.AttrSecret, []byte(m.Params.Secret))
	}
	r.StoredMethod()
	x.val = remotePort(x.val[:0], ctx)
	r.RequestAttribute("AJP_REMOTE_PORT", x.val)
	x.val = appendIP(x.val[:0], ctx.LocalIP())
	r.RequestAttribute("AJP_LOCAL_ADDR", x.val)
	// Variables named AJP_… go as request attributes, without the prefix.
	requestEnv(ctx, s.rt.Load(), vh, x, func(name string, val []byte) {
		if attr, ok := strings.CutPrefix(name, "AJP_"); ok {
			r.RequestAttribute(attr, val)
		}
	})
	err := r.End()
	x.params = r.B
	x.call.SetEncodedRequest(x.params)
	return err
}
