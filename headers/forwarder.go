package headers

import (
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// Forwarder prepares the outbound request header and the returned response
// header of a proxied exchange. It is immutable after construction and safe
// for concurrent use; each call borrows pooled scratch space.
type Forwarder struct {
	// AddHeaders is ProxyAddHeaders: append X-Forwarded-For (client IP),
	// X-Forwarded-Host (the client's Host, only if it sent one) and
	// X-Forwarded-Server (ServerName) to any values already present.
	AddHeaders bool
	// Via is ProxyVia (apache.md §1.5).
	Via config.ViaMode
	// ServerName names this proxy in X-Forwarded-Server and Via; the server
	// fills in the machine's host name when no ServerName is configured,
	// as Apache does.
	ServerName string
	// PreserveHost is ProxyPreserveHost: forward the client's Host.
	PreserveHost bool
	// Trusted, when set, lists the peers whose forwarding fields are kept
	// (and appended to); from any other peer they are dropped first. Nil
	// trusts every peer, as Apache does.
	Trusted *Trusted
}

// serverToken is what ProxyVia Full appends after the server name.
const serverToken = " (sluice)"

// Request edits h, the outbound copy of the client's request header, made
// with header-name normalization disabled. It must run before the protocol
// of h is changed: Via carries the client's version. In order, it
//   - removes Connection and every field it names, Keep-Alive,
//     Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE (sending
//     "TE: trailers" when the client accepts trailers), Trailer,
//     Transfer-Encoding and, unless upgrade, Upgrade (with upgrade it sends
//     "Connection: Upgrade"); Host and Content-Length are never removed;
//   - removes underscore spellings of those and of Content-Length and the
//     forwarding fields (Transfer_Encoding, X_Forwarded_For, X_Real_IP);
//   - removes Expect: fasthttp answered it with 100 Continue before the
//     handler ran, and the member must not be asked again;
//   - sets Host: clientHost with PreserveHost, else (or when the client,
//     on HTTP/1.0, sent none) backendHost;
//   - drops forwarding fields from an untrusted peer, then appends
//     X-Forwarded-For, -Host and -Server (AddHeaders);
//   - appends "Via: 1.x ServerName" (On, Full adds " (sluice)") or removes
//     Via (Block);
//   - sets the protocol to HTTP/1.1 (RFC 9110 §2.5: a proxy sends its own);
//   - keeps fasthttp from inventing a Content-Type for a body that came
//     without one (RFC 9110 §8.3).
//
// Other fields keep their names, order and duplicates; Cookie lines stay
// apart unless a cookie lookup on h had already made fasthttp join them.
//
// peer is the connection's peer, which Trusted judges; remoteIP is the
// client's address for X-Forwarded-For: the peer's, unless mod_remoteip
// read another from the fields of a proxy in front.
func (f *Forwarder) Request(h *fasthttp.RequestHeader, peer, remoteIP net.IP, clientHost []byte, backendHost string, upgrade bool) {
	s := getScratch()
	defer putScratch(s)

	// A client's "close" is hop-by-hop too; clearing it first also keeps
	// fasthttp from listing it as a field.
	h.ResetConnectionClose()
	s.buf = h.AppendBytes(s.buf)
	s.parseLines(indexCRLF(s.buf, 0)+2, isRequestSpecial) // past the request line

	r, ip := f.requestRules(peer, remoteIP, clientHost, upgrade)
	r.joinedCookie = true
	o := mark(s, &r, isRequestProtected)
	f.mergeRequest(s, &r, &ownValues{ip: ip, clientHost: clientHost, proto: h.Protocol()}, false)

	for i := range s.fields {
		fl := &s.fields[i]
		if fl.special && fl.drop {
			delRequestSpecial(h, s.key(fl))
		}
	}
	if o.connectionInPlace {
		removeConnections(h, s)
	}
	// Re-added fields must stay plain fields: with special handling on,
	// fasthttp would fold Cookie lines into one.
	wasDisabled := h.DisableSpecialHeader()
	rebuild(h, s, &r, &o)
	if !wasDisabled {
		h.EnableSpecialHeader()
	}
	appendNewMerged(h, s, &r)

	switch {
	case upgrade && o.teTrailers:
		h.Set("Connection", "Upgrade, TE")
	case upgrade:
		h.Set("Connection", "Upgrade")
	case o.teTrailers:
		h.Set("Connection", "TE") // a connection option of its sender (RFC 9110 §10.1.4)
	}
	if o.teTrailers {
		h.Add("TE", "trailers")
	}
	f.SetHost(h, clientHost, backendHost)
	if !h.IsHTTP11() || string(h.Protocol()) != "HTTP/1.1" { // most clients send it already
		h.SetProtocol("HTTP/1.1")
	}
	h.SetNoDefaultContentType(true)
}

// SetHost sets the outbound Host: clientHost with PreserveHost, else (or
// when the client, on HTTP/1.0, sent none) backendHost.
func (f *Forwarder) SetHost(h *fasthttp.RequestHeader, clientHost []byte, backendHost string) {
	if f.PreserveHost && len(clientHost) > 0 {
		h.SetHostBytes(clientHost)
	} else {
		h.SetHost(backendHost)
	}
}

// requestRules are what Request asks of mark for a request on a
// connection from peer, of the client remoteIP, with the Host clientHost
// (empty when it sent none).
func (f *Forwarder) requestRules(peer, remoteIP net.IP, clientHost []byte, upgrade bool) (rules, netip.Addr) {
	ip, ipOK := netip.AddrFromSlice(remoteIP)
	r := rules{
		upgrade:    upgrade,
		untrusted:  f.Trusted != nil && !f.Trusted.Contains(peer),
		dropVia:    f.Via == config.ViaBlock,
		dropExpect: true,
	}
	r.merge[kindXFF] = f.AddHeaders && ipOK
	r.merge[kindXFH] = f.AddHeaders && len(clientHost) > 0
	r.merge[kindXFS] = f.AddHeaders && f.ServerName != ""
	r.merge[kindVia] = f.viaAdded()
	return r, ip
}

// ownKinds are the field kinds sluice adds a value of its own to, in the
// order it adds new ones.
var ownKinds = [...]kind{kindXFF, kindXFH, kindXFS, kindVia}

// ownValues are sluice's own values of the forwarding fields for one
// request: the client's address (ipText as text, or nil), the Host it
// asked for, and its protocol (for Via).
type ownValues struct {
	ip                        netip.Addr
	ipText, clientHost, proto []byte
}

// mergeRequest writes into s.val the values sluice merges into a marked
// request: X-Forwarded-For, -Host, -Server and Via, after the live ones.
// With liveOnly it leaves out the kinds no live field carries, which the
// caller writes itself (appendOwnField).
func (f *Forwarder) mergeRequest(s *scratch, r *rules, own *ownValues, liveOnly bool) {
	for _, k := range ownKinds {
		if r.merge[k] && !(liveOnly && s.count[k] == 0) {
			start := s.joinLive(k)
			s.val = f.appendOwn(s.val, k, own)
			s.endMerge(k, start)
		}
	}
}

// appendOwn appends sluice's own value of kind k (one of ownKinds).
func (f *Forwarder) appendOwn(dst []byte, k kind, own *ownValues) []byte {
	switch k {
	case kindXFF:
		if own.ipText != nil {
			return append(dst, own.ipText...)
		}
		return own.ip.Unmap().AppendTo(dst)
	case kindXFH:
		return append(dst, own.clientHost...)
	case kindXFS:
		return append(dst, f.ServerName...)
	}
	return f.appendVia(dst, own.proto)
}

// appendOwnField appends a field line of kind k that carries sluice's
// value alone: its name and ": " go in one copy.
func (f *Forwarder) appendOwnField(dst []byte, k kind, own *ownValues) []byte {
	dst = append(dst, ownFieldStarts[k]...)
	dst = f.appendOwn(dst, k, own)
	return append(dst, '\r', '\n')
}

// viaAdded reports whether ProxyVia adds a Via value.
func (f *Forwarder) viaAdded() bool {
	return f.Via == config.ViaOn || f.Via == config.ViaFull
}

// appendVia appends "1.x ServerName[ (sluice)]", x from the client's proto.
func (f *Forwarder) appendVia(dst, proto []byte) []byte {
	if string(proto) == "HTTP/1.0" {
		dst = append(dst, "1.0 "...)
	} else {
		dst = append(dst, "1.1 "...)
	}
	dst = append(dst, f.ServerName...)
	if f.Via == config.ViaFull {
		dst = append(dst, serverToken...)
	}
	return dst
}

// isRequestProtected reports the fields a Connection list may not remove:
// sluice sets Host itself and fasthttp owns the body framing.
func isRequestProtected(name []byte) bool {
	return equalFold(name, "host") || equalFold(name, "content-length")
}

// delRequestSpecial removes a field fasthttp keeps apart from its list.
func delRequestSpecial(h *fasthttp.RequestHeader, name []byte) {
	switch {
	case equalFold(name, "user-agent"):
		h.Del(fasthttp.HeaderUserAgent)
	case equalFold(name, "content-type"):
		h.Del(fasthttp.HeaderContentType)
	case equalFold(name, "trailer"):
		h.Del(fasthttp.HeaderTrailer)
	}
}
