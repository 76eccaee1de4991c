package headers

import (
	"github.com/valyala/fasthttp"
)

// Response edits the backend's response header before it goes to the
// client: it removes Connection and every field it names, Keep-Alive,
// Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE,
// Transfer-Encoding and, unless upgrade, Upgrade (with upgrade it sends
// "Connection: Upgrade"), and appends "Via: 1.x ServerName" for ProxyVia On
// or Full, x from proto, the client's request protocol.
//
// A backend's "Connection: close" is cleared: it must not close the client's
// connection. Trailer stays: fasthttp writes it with the trailer fields it
// relays. Content-Length and Date cannot be removed by a Connection list.
func (f *Forwarder) Response(h *fasthttp.ResponseHeader, upgrade bool, proto []byte) {
	h.ResetConnectionClose()
	via := f.viaAdded()
	if needsHygiene(h, upgrade, via) {
		f.cleanResponse(h, upgrade, via, proto)
	} else if via {
		s := getScratch()
		s.val = f.appendVia(s.val, proto)
		h.SetCanonical(canonicalNames[kindVia], s.val)
		putScratch(s)
	}
	if upgrade {
		h.Set("Connection", "Upgrade")
	}
}

// needsHygiene reports whether h has a field Response removes or merges
// into. Many backends (Go's, fasthttp's) send none, and such a response is
// only scanned, not copied.
func needsHygiene(h *fasthttp.ResponseHeader, upgrade, via bool) bool {
	for k := range h.All() {
		switch classify(k) {
		case kindConnection, kindHop, kindTE, kindAlias:
			return true
		case kindUpgrade:
			if !upgrade {
				return true
			}
		case kindVia:
			if via {
				return true
			}
		}
	}
	return false
}

// cleanResponse is Response for a header with fields to remove or merge.
func (f *Forwarder) cleanResponse(h *fasthttp.ResponseHeader, upgrade, via bool, proto []byte) {
	s := getScratch()
	defer putScratch(s)

	for k, v := range h.All() {
		s.add(k, v, isResponseSpecial(k))
	}

	r := rules{upgrade: upgrade}
	r.merge[kindVia] = via
	o := mark(s, &r, isResponseProtected)
	if r.merge[kindVia] {
		start := s.joinLive(kindVia)
		s.val = f.appendVia(s.val, proto)
		s.endMerge(kindVia, start)
	}

	for i := range s.fields {
		if fl := &s.fields[i]; fl.special && fl.drop {
			delResponseSpecial(h, s.key(fl))
		}
	}
	if o.connectionInPlace {
		removeConnections(h, s)
	}
	rebuild(h, s, &r, &o)
	appendNewMerged(h, s, &r)
}

// isResponseProtected reports the fields a Connection list may not remove:
// fasthttp owns the framing and Trailer, and Date is the origin's.
func isResponseProtected(name []byte) bool {
	return equalFold(name, "content-length") || equalFold(name, "trailer") ||
		equalFold(name, "date")
}

// delResponseSpecial removes a field fasthttp keeps apart from its list.
func delResponseSpecial(h *fasthttp.ResponseHeader, name []byte) {
	switch {
	case equalFold(name, "content-type"):
		h.Del(fasthttp.HeaderContentType)
	case equalFold(name, "content-encoding"):
		h.Del(fasthttp.HeaderContentEncoding)
	case equalFold(name, "server"):
		h.Del(fasthttp.HeaderServer)
	case equalFold(name, "set-cookie"):
		h.Del(fasthttp.HeaderSetCookie)
	}
}
