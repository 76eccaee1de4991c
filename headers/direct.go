package headers

import (
	"net"
)

// AppendRequestFields appends to dst the field lines ("name: value\r\n") of
// the outbound request, built from l, the client's header block as it came
// (fasthttp's RawHeaders) and as Check read and passed it, instead of
// editing a copied fasthttp header and serialising it again: the fields go
// out as Request leaves them, less Host and Content-Length (the caller
// writes the request line, Host and the body's framing; a chunked body is
// not sent this way), and with upgrade off.
// proto is the client's protocol, for Via; ipText is remoteIP as text
// where the caller has it already (the server keeps it per connection),
// else nil. remoteIP is the peer's too, which Trusted judges: the server
// writes fields this way only where mod_remoteip is off.
//
// Fields keep the client's order, spelling and line breaks (Cookie lines
// are never joined); Request moves User-Agent and Content-Type ahead of the
// others, as fasthttp writes them: the fields are the same.
func (f *Forwarder) AppendRequestFields(dst []byte, l *Lines, remoteIP net.IP, ipText, clientHost, proto []byte) []byte {
	s := getScratch()
	defer putScratch(s)
	s.buf = append(s.buf, l.raw...)
	if l.table {
		// Check found the fields: their spans in raw are theirs in buf.
		s.fields = append(s.fields, l.fields...)
		s.noConnection = !l.connection
	} else {
		s.parseLines(0, nil)
	}
	for i := range s.fields {
		fl := &s.fields[i]
		fl.special = s.writtenApart(fl) // "special" here: the lines the caller writes
	}

	r, ip := f.requestRules(remoteIP, remoteIP, clientHost, false)
	teTrailers := markFields(s, &r, isRequestProtected)
	own := ownValues{ip: ip, ipText: ipText, clientHost: clientHost, proto: proto}
	if s.merging {
		f.mergeRequest(s, &r, &own, true)
	}

	// A kept line that reads as appendField would write it goes out as the
	// client sent it, and a run of such lines in one append.
	run, runEnd := 0, 0 // s.buf[run:runEnd]: lines copied, not yet appended
	for i := range s.fields {
		fl := &s.fields[i]
		if fl.drop || fl.folded || fl.special {
			continue
		}
		merged := fl.kind < kindForwarding && r.merge[fl.kind]
		if !merged && s.asWritten(fl) {
			if fl.ks != runEnd {
				dst = append(dst, s.buf[run:runEnd]...)
				run = fl.ks
			}
			runEnd = fl.ve + len("\r\n")
			continue
		}
		dst = append(dst, s.buf[run:runEnd]...)
		run, runEnd = 0, 0
		value := s.value(fl)
		if merged {
			value = s.mergedValue(fl.kind)
		}
		dst = appendField(dst, s.key(fl), value)
	}
	dst = append(dst, s.buf[run:runEnd]...)
	for _, k := range ownKinds {
		if r.merge[k] && s.count[k] == 0 {
			dst = f.appendOwnField(dst, k, &own)
		}
	}
	if teTrailers {
		// TE is a connection option its sender lists (RFC 9110 §10.1.4).
		dst = append(dst, "Connection: TE\r\nTE: trailers\r\n"...)
	}
	return dst
}

// asWritten reports a field parsed from a line that reads "name: value"
// and its CRLF, as appendField writes it: one space after the colon,
// none after the value.
func (s *scratch) asWritten(f *field) bool {
	return f.vs == f.ke+2 && s.buf[f.ke+1] == ' ' && f.ve < len(s.buf) && s.buf[f.ve] == '\r'
}

func appendField(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}

// writtenApart reports the fields AppendRequestFields leaves to the
// caller: Host, and Content-Length, the body's framing.
func (s *scratch) writtenApart(f *field) bool {
	return f.kind == kindLength || f.ke-f.ks == len("host") && equalFold(s.key(f), "host")
}

// LineEditable reports whether a RequestHeader rule on the field name can
// edit the field lines AppendRequestFields builds as it would a copied
// fasthttp header: the field is none that fasthttp keeps apart (Host,
// Content-Length, Content-Type, User-Agent, Trailer, Cookie) or that the
// Forwarder manages (Connection, hop-by-hop fields, TE, Upgrade, Expect).
func LineEditable(name string) bool {
	b := []byte(name)
	switch classify(b) {
	case kindConnection, kindHop, kindTE, kindUpgrade, kindExpect:
		return false
	}
	return !isRequestSpecial(b) && !equalFold(b, "cookie")
}
