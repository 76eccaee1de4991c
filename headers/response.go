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
	s := getScratch()
	defer putScratch(s)

	h.ResetConnectionClose()
	for k, v := range h.All() {
		s.add(k, v, isResponseSpecial(k))
	}

	r := rules{upgrade: upgrade}
	r.merge[kindVia] = f.viaAdded()
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
	if o.rebuild {
		rebuild(h, s, &r)
	} else {
		setMergedInPlace(h, s, &r)
	}
	appendNewMerged(h, s, &r)
	if upgrade {
		h.Set("Connection", "Upgrade")
	}
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
