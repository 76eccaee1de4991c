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
	f.finishResponse(h, upgrade, via, needsHygiene(h, upgrade, via), proto)
}

// ResponseOf is Response, not for a tunnel, for a header that holds a
// member's fields, less its framing (Content-Length, Transfer-Encoding),
// whose kinds are in present (as the member's head was read): a header
// with no field of a kind Response removes or merges into, as most
// members send, is not looked at again.
func (f *Forwarder) ResponseOf(h *fasthttp.ResponseHeader, present MemberFields, proto []byte) {
	h.ResetConnectionClose()
	via := f.viaAdded()
	maybe := present.Has(MemberConnection) || present.Has(MemberHop) || present.Has(MemberUpgrade) ||
		via && present.Has(MemberVia)
	f.finishResponse(h, false, via, maybe && needsHygiene(h, false, via), proto)
}

func (f *Forwarder) finishResponse(h *fasthttp.ResponseHeader, upgrade, via, hygiene bool, proto []byte) {
	if hygiene {
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

// MemberField is what a member's response field is to the proxy, known
// from its name alone. The transport classifies each field of a member's
// head once as it reads it (ClassifyMember), for the body's framing and
// for ResponseOf.
type MemberField uint8

const (
	MemberOther      MemberField = iota
	MemberLength                 // Content-Length
	MemberChunked                // Transfer-Encoding: the framing, and hop-by-hop
	MemberConnection             // Connection
	MemberHop                    // another hop-by-hop field (Keep-Alive, TE, Trailer, Proxy-*), or an underscore spelling of a field sluice manages
	MemberUpgrade                // Upgrade
	MemberVia                    // Via
)

// PlainMemberName reports a name that ClassifyMember certainly finds
// MemberOther, as most are, from its length and first byte alone: no name
// classify looks for has its length, and it does not start as
// X-Forwarded- does. It inlines where ClassifyMember is too large to.
func PlainMemberName(name []byte) bool {
	n := uint(len(name))
	return n < 64 && classifiedLengths>>n&1 == 0 && (n <= uint(len("x-forwarded-")) || name[0]|0x20 != 'x')
}

// classifiedLengths has a bit for the length of each name classify looks
// for by its length.
const classifiedLengths = 1<<len("te") | 1<<len("via") | 1<<len("expect") | 1<<len("upgrade") |
	1<<len("forwarded") | 1<<len("connection") | 1<<len("content-length") | 1<<len("proxy-connection") |
	1<<len("transfer-encoding") | 1<<len("proxy-authenticate") | 1<<len("proxy-authorization")

// ClassifyMember classifies a member's response field by its name, in
// any case, as Response treats it.
func ClassifyMember(name []byte) MemberField {
	switch classify(name) {
	case kindLength:
		return MemberLength
	case kindConnection:
		return MemberConnection
	case kindHop:
		if len(name) == len("transfer-encoding") { // the only hop-by-hop name of its length
			return MemberChunked
		}
		return MemberHop
	case kindTE, kindAlias:
		return MemberHop
	case kindUpgrade:
		return MemberUpgrade
	case kindVia:
		return MemberVia
	}
	return MemberOther
}

// MemberFields is a set of MemberField kinds.
type MemberFields uint8

// Has reports whether k is in s.
func (s MemberFields) Has(k MemberField) bool { return s&(1<<k) != 0 }

// Add puts k in s.
func (s *MemberFields) Add(k MemberField) { *s |= 1 << k }

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
