package server

import (
	"bytes"
	"net"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/anycase"
	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/headers"
)

// mod_remoteip (config.RemoteIP): the client's address is taken from a
// field that the proxies in front of sluice set, read right to left while
// the address before is one of those proxies, as mod_remoteip does. The
// request's remote address becomes that client's (ctx.SetRemoteAddr), so
// that every use of it follows: Require ip, %a and %h in access logs
// (%{c}a keeps the peer), REMOTE_ADDR, SetEnvIf Remote_Addr, the address
// appended to X-Forwarded-For. The addresses read are removed from the
// field, and the trusted proxies listed in RemoteIPProxiesHeader.

// remoteIP is a host's mod_remoteip, compiled.
type remoteIP struct {
	header        []byte // name, as bytes
	name          string
	proxies       []config.RemoteIPProxy // empty: every peer is a trusted proxy
	proxiesHeader string
}

func newRemoteIP(c *config.RemoteIP) (*remoteIP, error) {
	if c == nil || c.Header == "" {
		return nil, nil
	}
	proxies, err := c.Proxies()
	if err != nil {
		return nil, err
	}
	return &remoteIP{header: []byte(c.Header), name: c.Header, proxies: proxies, proxiesHeader: c.ProxiesHeader}, nil
}

// userAgent is a connection's client address as mod_remoteip found it for
// the request on it: one per connection (made at its first request
// through mod_remoteip), so that the request's remote address stays valid
// until its access log line, and needs no allocation per request.
type userAgent struct {
	addr  net.TCPAddr
	ip    [16]byte
	field []byte // the field's lines joined
	// tookFor is the number of the connection's request (ConnRequestNum)
	// whose client this is: that request's address is not the peer's.
	tookFor uint64
}

// requestUA is the connection's userAgent if it has one: nil for a
// connection whose requests mod_remoteip never read.
func requestUA(c net.Conn) *userAgent {
	switch c := c.(type) {
	case *clientConn:
		return c.ua
	case *tlsConn:
		return c.ua
	}
	return nil
}

// userAgentOf is the connection's userAgent, nil for a connection that
// is not sluice's own (tests' in-memory pipes).
func userAgentOf(c net.Conn) *userAgent {
	var ua **userAgent
	switch c := c.(type) {
	case *clientConn:
		ua = &c.ua
	case *tlsConn:
		ua = &c.ua
	default:
		return nil
	}
	if *ua == nil {
		*ua = new(userAgent)
	}
	return *ua
}

// connPeerIP is the connection's peer, whatever mod_remoteip made of the
// request's remote address.
func connPeerIP(ctx *fasthttp.RequestCtx) net.IP {
	if a, ok := ctx.Conn().RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return ctx.RemoteIP()
}

func connPort(ctx *fasthttp.RequestCtx) int {
	if a, ok := ctx.Conn().RemoteAddr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// vhostOf is the vhost of a request as it starts (hostOf), with the
// host's mod_remoteip applied to the request: only handle calls it.
func (rt *runtime) vhostOf(ctx *fasthttp.RequestCtx) *vhost {
	// The connection's last request may have set its client's address.
	ctx.SetRemoteAddr(nil)
	vh := rt.hostOf(ctx)
	if vh.remoteIP != nil {
		vh.remoteIP.apply(ctx)
	}
	return vh
}

// apply reads the client's address from ri's field. The connection's
// peer must be one of the proxies (any, without a list); each address
// taken from the right of the field then stands for the client, and is
// tested in turn, until one that is not a proxy, or not an address: the
// client is the last one taken. A trusted (not internal) proxy cannot
// present a private, loopback or link-local address (RFC 1918, RFC 4193,
// or outside IPv6's global unicast), nor can any proxy it presented, as in
// Apache.
func (ri *remoteIP) apply(ctx *fasthttp.RequestCtx) {
	peer, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return
	}
	ua := userAgentOf(ctx.Conn())
	var scratch []byte
	if ua != nil {
		scratch = ua.field[:0]
	}
	// Every line of the field, joined as Apache joins a request's repeated
	// fields: a proxy that adds a line of its own must not leave the
	// client's first line to be read.
	field := joinField(scratch, &ctx.Request.Header, ri.header)
	if ua != nil {
		ua.field = field
	}
	rest, client, proxies, took := field, peer.Unmap(), 0, false
	var proxyList [8]netip.Addr // the trusted proxies passed, nearest first
	passedTrusted := false
	for len(rest) > 0 {
		internal, isProxy := ri.proxy(client)
		if !isProxy {
			break
		}
		// An internal proxy may present a trusted one, never the reverse:
		// past a trusted proxy, an internal one is trusted only.
		internal = internal && !passedTrusted
		passedTrusted = !internal
		cut := bytes.LastIndexByte(rest, ',')
		item := bytes.Trim(rest[cut+1:], " \t")
		a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(item), len(item)))
		if err != nil || a.Zone() != "" {
			break
		}
		a = a.Unmap()
		if !internal && !public(a) {
			break
		}
		if !internal && proxies < len(proxyList) {
			proxyList[proxies] = client
			proxies++
		}
		client, took = a, true
		if cut < 0 {
			rest = rest[:0]
		} else {
			rest = rest[:cut]
		}
	}
	if !took {
		return
	}
	if ua != nil {
		ua.tookFor = ctx.ConnRequestNum()
		ua.ip = client.As16()
		// The port stays the connection's, as Apache keeps it.
		ua.addr = net.TCPAddr{IP: ua.ip[:], Port: connPort(ctx)}
		if client.Is4() {
			ua.addr.IP = ua.ip[12:]
		}
		ctx.SetRemoteAddr(&ua.addr)
	} else {
		ctx.SetRemoteAddr(&net.TCPAddr{IP: client.AsSlice()})
	}
	ri.rewriteFields(ctx, rest, proxyList[:proxies])
}

// joinField appends every line of the field name to dst, joined by ", ".
func joinField(dst []byte, h *fasthttp.RequestHeader, name []byte) []byte {
	n := 0
	for k, v := range h.All() {
		if headers.SameName(k, name) {
			if n++; n > 1 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, v...)
		}
	}
	return dst
}

// rewriteFields leaves in the field what was not read, or removes it, and
// lists the trusted proxies passed, the nearest first (as Apache does).
// It edits the client's own header, so a host with mod_remoteip never
// sends the client's field lines as they came (ownHead).
func (ri *remoteIP) rewriteFields(ctx *fasthttp.RequestCtx, rest []byte, proxies []netip.Addr) {
	h := &ctx.Request.Header
	anycase.DelRequest(h, ri.name) // every line, in any case: what is left goes back as one
	if rest = bytes.TrimRight(rest, " \t,"); len(rest) > 0 {
		h.SetBytesKV(ri.header, rest)
	}
	if ri.proxiesHeader == "" || len(proxies) == 0 {
		return
	}
	var buf [8 * 48]byte
	b := buf[:0]
	for _, p := range proxies {
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = p.AppendTo(b)
	}
	anycase.DelRequest(h, ri.proxiesHeader) // a client's own, in any case
	h.Set(ri.proxiesHeader, unsafe.String(unsafe.SliceData(b), len(b)))
}

// proxy reports whether a is one of ri's proxies, and an internal one.
func (ri *remoteIP) proxy(a netip.Addr) (internal, ok bool) {
	if len(ri.proxies) == 0 {
		return false, true
	}
	for _, p := range ri.proxies {
		if p.Prefix.Contains(a) {
			return p.Internal, true
		}
	}
	return false, false
}

// public reports whether a trusted proxy may present a as the client's:
// not a private, loopback or link-local IPv4 address, and within IPv6's
// global unicast 2000::/3.
func public(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		return !(b[0] == 10 || b[0] == 127 || b[0] == 169 && b[1] == 254 ||
			b[0] == 172 && b[1]&0xf0 == 16 || b[0] == 192 && b[1] == 168)
	}
	return a.As16()[0]&0xe0 == 0x20
}
