// Package ajp is the web server's side of the Apache JServ Protocol 1.3,
// as mod_proxy_ajp speaks it to Tomcat and other servlet containers: the
// forward request packet and the request body's data packets, and the
// container's packets (SEND_HEADERS, SEND_BODY_CHUNK, GET_BODY_CHUNK,
// END_RESPONSE), read into an HTTP response with a streamed body.
package ajp

import (
	"encoding/binary"
	"errors"
)

// Packet size: Apache's and Tomcat's default packetSize; a packet holds 4
// bytes of header, a data packet 2 more of chunk length.
const (
	PacketSize = 8192
	// MaxChunk is the most body bytes one data packet carries.
	MaxChunk = PacketSize - 6
)

// Container packet types.
const (
	typeSendBodyChunk = 3
	typeSendHeaders   = 4
	typeEndResponse   = 5
	typeGetBodyChunk  = 6
	typeCPong         = 9
)

// ErrProtocol is a packet stream that breaks AJP's framing.
var ErrProtocol = errors.New("ajp: malformed packet")

// ErrTooLarge is a forward request that does not fit one packet: its
// head is too large for the container.
var ErrTooLarge = errors.New("ajp: request head larger than the packet size")

// methods are the method codes of the forward request.
var methods = map[string]byte{
	"OPTIONS": 1, "GET": 2, "HEAD": 3, "POST": 4, "PUT": 5, "DELETE": 6, "TRACE": 7,
	"PROPFIND": 8, "PROPPATCH": 9, "MKCOL": 10, "COPY": 11, "MOVE": 12, "LOCK": 13, "UNLOCK": 14,
	"ACL": 15, "REPORT": 16, "VERSION-CONTROL": 17, "CHECKIN": 18, "CHECKOUT": 19, "UNCHECKOUT": 20,
	"SEARCH": 21, "MKWORKSPACE": 22, "UPDATE": 23, "LABEL": 24, "MERGE": 25, "BASELINE-CONTROL": 26,
	"MKACTIVITY": 27,
}

// storedMethod is the code of a method sent by name (the stored_method
// attribute).
const storedMethod = 0xFF

// requestHeaders are the request header codes, by lower-case name.
var requestHeaders = map[string]uint16{
	"accept": 0xA001, "accept-charset": 0xA002, "accept-encoding": 0xA003, "accept-language": 0xA004,
	"authorization": 0xA005, "connection": 0xA006, "content-type": 0xA007, "content-length": 0xA008,
	"cookie": 0xA009, "cookie2": 0xA00A, "host": 0xA00B, "pragma": 0xA00C, "referer": 0xA00D,
	"user-agent": 0xA00E,
}

// responseHeaders are the response header names, by code.
var responseHeaders = [...]string{
	"Content-Type", "Content-Language", "Content-Length", "Date", "Last-Modified", "Location",
	"Set-Cookie", "Set-Cookie2", "Servlet-Engine", "Status", "WWW-Authenticate",
}

// Attribute codes of the forward request.
const (
	AttrQueryString  = 0x05
	AttrRoute        = 0x06 // jvm_route
	AttrSSLCert      = 0x07
	AttrSSLCipher    = 0x08
	attrReqAttribute = 0x0A
	AttrSSLKeySize   = 0x0B
	AttrSecret       = 0x0C
	attrStoredMethod = 0x0D
	attrDone         = 0xFF
)

// Request builds a forward request packet in place. Its methods append in
// the order of the packet's fields: Start, the headers (Header, once
// each), EndHeaders, the attributes (StoredMethod where Apache puts it),
// then End.
type Request struct {
	B       []byte
	count   int // where the header count goes
	headers int
	method  []byte // a method sent by name
}

// Start begins the packet: method, protocol, URI (without its query),
// client address, server name and port, TLS.
func (r *Request) Start(method, protocol, uri, remoteAddr, serverName []byte, serverPort int, ssl bool) {
	b := append(r.B[:0], 0x12, 0x34, 0, 0, 2)
	code, ok := methods[string(method)]
	r.method = nil
	if !ok {
		code, r.method = storedMethod, method
	}
	b = append(b, code)
	b = AppendString(b, protocol)
	b = AppendString(b, uri)
	b = AppendString(b, remoteAddr)
	b = append(b, 0xFF, 0xFF) // remote_host: none (no HostnameLookups)
	b = AppendString(b, serverName)
	b = binary.BigEndian.AppendUint16(b, uint16(serverPort))
	if ssl {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	r.count, r.headers = len(b), 0
	r.B = append(b, 0, 0)
}

// Header appends a request field, by code where AJP has one.
func (r *Request) Header(name, value []byte) {
	var lower [16]byte
	code := uint16(0)
	if len(name) <= len(lower) {
		for i, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		code = requestHeaders[string(lower[:len(name)])]
	}
	if code != 0 {
		r.B = binary.BigEndian.AppendUint16(r.B, code)
	} else {
		r.B = AppendString(r.B, name)
	}
	r.B = AppendString(r.B, value)
	r.headers++
}

// Attribute appends an attribute of a code above.
func (r *Request) Attribute(code byte, value []byte) {
	r.B = AppendString(append(r.B, code), value)
}

// IntAttribute appends an attribute whose value is an integer
// (ssl_key_size).
func (r *Request) IntAttribute(code byte, n int) {
	r.B = binary.BigEndian.AppendUint16(append(r.B, code), uint16(n))
}

// RequestAttribute appends a named request attribute (AJP_REMOTE_PORT).
func (r *Request) RequestAttribute(name string, value []byte) {
	r.B = AppendString(AppendString(append(r.B, attrReqAttribute), name), value)
}

// EndHeaders fills in the header count.
func (r *Request) EndHeaders() {
	binary.BigEndian.PutUint16(r.B[r.count:], uint16(r.headers))
}

// StoredMethod appends the method's name where it has no code.
func (r *Request) StoredMethod() {
	if r.method != nil {
		r.Attribute(attrStoredMethod, r.method)
	}
}

// End closes the attributes and the packet; ErrTooLarge when it exceeds
// the packet size.
func (r *Request) End() error {
	r.B = append(r.B, attrDone)
	if len(r.B) > PacketSize {
		return ErrTooLarge
	}
	binary.BigEndian.PutUint16(r.B[2:], uint16(len(r.B)-4))
	return nil
}

// AppendString appends an AJP string: its length, the bytes, a NUL.
func AppendString[T ~string | ~[]byte](b []byte, s T) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(append(b, s...), 0)
}

// AppendData appends a data packet carrying chunk (at most MaxChunk
// bytes); an empty chunk marks the body's end.
func AppendData(b, chunk []byte) []byte {
	b = append(b, 0x12, 0x34)
	b = binary.BigEndian.AppendUint16(b, uint16(len(chunk)+2))
	b = binary.BigEndian.AppendUint16(b, uint16(len(chunk)))
	return append(b, chunk...)
}
