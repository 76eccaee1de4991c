package modssl

import (
	"encoding/asn1"
	"strconv"
	"unicode/utf8"
)

// appendDN writes a distinguished name (a certificate's RawSubject or
// RawIssuer) as mod_ssl's SSL_CLIENT_S_DN: OpenSSL's X509_NAME_print_ex
// with XN_FLAG_RFC2253 but bytes above 0x7f left as they are. The
// attributes go last first, multi-valued ones joined by '+', each under
// OpenSSL's short name; an attribute type it has no name for is written
// as its OID and its value as '#' and the hex of its DER.
func appendDN(dst, raw []byte) []byte {
	var buf [16]attr
	attrs := parseName(buf[:0], raw)
	for i := len(attrs) - 1; i >= 0; i-- {
		a := attrs[i]
		if i < len(attrs)-1 {
			if a.set == attrs[i+1].set {
				dst = append(dst, '+')
			} else {
				dst = append(dst, ',')
			}
		}
		name, known := shortNames[string(a.oid)]
		if !known {
			_, oid, _ := derTag(a.oid)
			dst = appendOID(dst, oid)
			dst = appendDump(append(dst, '='), a.value)
			continue
		}
		dst = append(dst, name...)
		dst = appendValue(append(dst, '='), a.value, true)
	}
	return dst
}

// appendFirstCN writes the value of a name's first commonName, as
// mod_ssl's SSL_CLIENT_S_DN_CN: in UTF-8, control bytes and backslashes
// escaped.
func appendFirstCN(dst, raw []byte) []byte {
	var buf [16]attr
	for _, a := range parseName(buf[:0], raw) {
		if string(a.oid) == oidCN {
			return appendValue(dst, a.value, false)
		}
	}
	return dst
}

// attr is an attribute of a name: the index of its RDN, and its type's
// and its value's DER.
type attr struct {
	set        int
	oid, value []byte
}

// parseName appends the attributes of a DER name to attrs, in order. It
// stops where the name is malformed, which crypto/x509 would have refused.
func parseName(attrs []attr, raw []byte) []attr {
	seq, _, ok := derNext(raw, 0x30)
	for set := 0; ok && len(seq) > 0; set++ {
		var rdn []byte
		if rdn, seq, ok = derNext(seq, 0x31); !ok {
			break
		}
		for len(rdn) > 0 {
			var atv, oid, value []byte
			if atv, rdn, ok = derNext(rdn, 0x30); !ok {
				return attrs
			}
			if oid, value, ok = derFull(atv); !ok || oid[0] != 0x06 {
				return attrs
			}
			attrs = append(attrs, attr{set, oid, value})
		}
	}
	return attrs
}

// appendValue writes an attribute's value (its full DER): its characters
// in UTF-8, with OpenSSL's escapes; rfc2253 adds those of
// ASN1_STRFLGS_ESC_2253. A value of a type that is not a string is dumped.
func appendValue(dst, full []byte, rfc2253 bool) []byte {
	_, content, ok := derTag(full)
	if !ok {
		return appendDump(dst, full)
	}
	width := 0
	switch full[0] {
	case 12: // UTF8String, as OpenSSL writes it: byte by byte
		width = 0
	case 18, 19, 20, 22, 23, 24, 26: // one byte a character (T61String read as Latin-1)
		width = 1
	case 30: // BMPString
		width = 2
	case 28: // UniversalString
		width = 4
	default:
		return appendDump(dst, full)
	}
	if width > 1 && len(content)%width != 0 {
		return appendDump(dst, full)
	}
	for i := 0; i < len(content); {
		start := i
		var r rune
		switch width {
		case 0, 1:
			r = rune(content[i])
			i++
		case 2:
			r = rune(content[i])<<8 | rune(content[i+1])
			i += 2
		case 4:
			r = rune(content[i])<<24 | rune(content[i+1])<<16 | rune(content[i+2])<<8 | rune(content[i+3])
			i += 4
		}
		switch {
		case r < 0x80:
			dst = appendEscaped(dst, byte(r), rfc2253, start == 0, i == len(content))
		case width == 0:
			dst = append(dst, byte(r))
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// appendEscaped writes an ASCII character as OpenSSL's do_esc_char: a
// control character as \XX, and under RFC 2253 its specials, a leading
// '#' and a leading or trailing space after a backslash. A backslash is
// always escaped, the control escapes being on.
func appendEscaped(dst []byte, c byte, rfc2253, first, last bool) []byte {
	const hex = "0123456789ABCDEF"
	switch {
	case c < 0x20 || c == 0x7f:
		return append(dst, '\\', hex[c>>4], hex[c&0xf])
	case c == '\\',
		rfc2253 && (c == ',' || c == '+' || c == '"' || c == '<' || c == '>' || c == ';'),
		rfc2253 && c == ' ' && (first || last),
		rfc2253 && c == '#' && first && !last: // OpenSSL checks a lone character as the last
		return append(dst, '\\', c)
	}
	return append(dst, c)
}

// appendOID writes an OID's contents in dotted form.
func appendOID(dst, content []byte) []byte {
	arc, first := uint64(0), true
	for _, b := range content {
		arc = arc<<7 | uint64(b&0x7f)
		if b&0x80 != 0 {
			continue
		}
		if first {
			top := min(arc/40, 2)
			dst = strconv.AppendUint(dst, top, 10)
			arc -= top * 40
			first = false
		}
		dst = strconv.AppendUint(append(dst, '.'), arc, 10)
		arc = 0
	}
	return dst
}

// appendDump writes '#' and the DER of a value in upper-case hex.
func appendDump(dst, full []byte) []byte {
	const hex = "0123456789ABCDEF"
	dst = append(dst, '#')
	for _, b := range full {
		dst = append(dst, hex[b>>4], hex[b&0xf])
	}
	return dst
}

// derNext reads one DER element of tag from b: its contents and what
// follows it.
func derNext(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != tag {
		return nil, nil, false
	}
	n, content, ok := derTag(b)
	if !ok {
		return nil, nil, false
	}
	return content, b[n:], true
}

// derFull splits an AttributeTypeAndValue's contents into the full DER of
// its type (an OID) and of its value.
func derFull(b []byte) (typ, value []byte, ok bool) {
	n, _, ok := derTag(b)
	if !ok {
		return nil, nil, false
	}
	m, _, ok := derTag(b[n:])
	if !ok || n+m != len(b) {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}

// derTag reads the element b starts with (a one-byte tag): its length in
// all and its contents.
func derTag(b []byte) (n int, content []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, false
	}
	size, hdr := int(b[1]), 2
	if size >= 0x80 {
		lenBytes := size & 0x7f
		if lenBytes == 0 || lenBytes > 3 || len(b) < 2+lenBytes {
			return 0, nil, false
		}
		size = 0
		for _, c := range b[2 : 2+lenBytes] {
			size = size<<8 | int(c)
		}
		hdr += lenBytes
	}
	if len(b)-hdr < size {
		return 0, nil, false
	}
	return hdr + size, b[hdr : hdr+size], true
}

// oidCN is commonName's OID, in DER.
const oidCN = "\x06\x03\x55\x04\x03"

// shortNames are OpenSSL's short names of the attribute types names
// carry, keyed by their OIDs in DER.
var shortNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []struct {
		oid  asn1.ObjectIdentifier
		name string
	}{
		{asn1.ObjectIdentifier{2, 5, 4, 3}, "CN"},
		{asn1.ObjectIdentifier{2, 5, 4, 4}, "SN"},
		{asn1.ObjectIdentifier{2, 5, 4, 5}, "serialNumber"},
		{asn1.ObjectIdentifier{2, 5, 4, 6}, "C"},
		{asn1.ObjectIdentifier{2, 5, 4, 7}, "L"},
		{asn1.ObjectIdentifier{2, 5, 4, 8}, "ST"},
		{asn1.ObjectIdentifier{2, 5, 4, 9}, "street"},
		{asn1.ObjectIdentifier{2, 5, 4, 10}, "O"},
		{asn1.ObjectIdentifier{2, 5, 4, 11}, "OU"},
		{asn1.ObjectIdentifier{2, 5, 4, 12}, "title"},
		{asn1.ObjectIdentifier{2, 5, 4, 13}, "description"},
		{asn1.ObjectIdentifier{2, 5, 4, 15}, "businessCategory"},
		{asn1.ObjectIdentifier{2, 5, 4, 17}, "postalCode"},
		{asn1.ObjectIdentifier{2, 5, 4, 18}, "postOfficeBox"},
		{asn1.ObjectIdentifier{2, 5, 4, 41}, "name"},
		{asn1.ObjectIdentifier{2, 5, 4, 42}, "GN"},
		{asn1.ObjectIdentifier{2, 5, 4, 43}, "initials"},
		{asn1.ObjectIdentifier{2, 5, 4, 44}, "generationQualifier"},
		{asn1.ObjectIdentifier{2, 5, 4, 45}, "x500UniqueIdentifier"},
		{asn1.ObjectIdentifier{2, 5, 4, 46}, "dnQualifier"},
		{asn1.ObjectIdentifier{2, 5, 4, 65}, "pseudonym"},
		{asn1.ObjectIdentifier{2, 5, 4, 72}, "role"},
		{asn1.ObjectIdentifier{2, 5, 4, 97}, "organizationIdentifier"},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, "emailAddress"},
		{asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, "UID"},
		{asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, "DC"},
		{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 1}, "jurisdictionL"},
		{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 2}, "jurisdictionST"},
		{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3}, "jurisdictionC"},
	} {
		der, err := asn1.Marshal(n.oid)
		if err != nil {
			panic(err)
		}
		m[string(der)] = n.name
	}
	return m
}()
