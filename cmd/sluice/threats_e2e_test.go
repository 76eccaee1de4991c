package main

// Request smuggling and header hygiene cases of threats.md, sent as exact
// bytes to the real binary. Each case asserts what the client got (status,
// and the connection closed where the framing cannot be trusted) and what
// the backend received, parsed strictly: nothing, or exactly the expected
// well-formed requests. docs/security.md maps every threats.md ID to these
// subtests.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// threatsYAML: small client timeouts bound the waits of the slow-client
// cases; loopback is not a trusted proxy, so its forwarding fields go.
const threatsYAML = `
listen: ["127.0.0.1:0"]
trusted_proxies: ["192.0.2.0/24"]
server:
  server_name: proxy.example
  via: "on"
  routes:
    - path: /admin
      exclude: true
    - path: /
      target: http://{B}/
limits:
  max_request_body: 1048576
timeouts:
  client_header: 1s
  client_body: 1s
`

// closeWait bounds the wait for sluice to close a connection it must close.
const closeWait = 5 * time.Second

// smuggled is the 36-byte body of SMG-01: a last chunk, then a request.
const smuggled = "0\r\n\r\nGET /smug HTTP/1.1\r\nHost: a\r\n\r\n"

// closed is the pseudo status of a connection closed without a response.
const closed = 0

// threatCase is one raw request and what must come of it.
type threatCase struct {
	name   string
	send   string
	status []int // allowed final statuses of the first response; closed allows none
	// mustClose: the client connection must be closed after the response.
	mustClose bool
	// fwd lists the requests the backend must receive, in order; nil: none.
	fwd []fwdWant
	// client checks the responses further.
	client func(resps []*wireMsg) error
	// responses to read when it differs from len(fwd) (at least 1).
	responses int
	// cut: the backend also receives one request whose body sluice cuts
	// short by closing the connection (an aborted stream, never completed).
	cut bool
	// ownConns: each forwarded request arrives on a backend connection of
	// its own (the one before was not reused).
	ownConns bool
	// neverSent are byte strings that must not appear anywhere in what the
	// backend received (a trailer section is not otherwise checked).
	neverSent []string
}

// fwdWant is one request the backend must receive.
type fwdWant struct {
	line  string // "METHOD target HTTP/1.1"
	body  string
	check []fieldCheck
}

type fieldCheck func(m *wireMsg) error

// exactly requires name to occur once with value.
func exactly(name, value string) fieldCheck {
	return func(m *wireMsg) error {
		if vs := m.Values(name); len(vs) != 1 || vs[0] != value {
			return fmt.Errorf("%s = %q, want [%q]", name, vs, value)
		}
		return nil
	}
}

// absent requires none of the names.
func absent(names ...string) fieldCheck {
	return func(m *wireMsg) error {
		for _, n := range names {
			if m.Has(n) {
				return fmt.Errorf("%s present: %q", n, m.Values(n))
			}
		}
		return nil
	}
}

// lines requires exactly these fields named name (case-sensitive), in order.
func lines(name string, values ...string) fieldCheck {
	return func(m *wireMsg) error {
		var got []string
		for _, f := range m.Header {
			if f.Name == name {
				got = append(got, f.Value)
			}
		}
		if !slices.Equal(got, values) {
			return fmt.Errorf("%s lines = %q, want %q", name, got, values)
		}
		return nil
	}
}

// namesInOrder requires the names to appear in this order, exact case.
func namesInOrder(names ...string) fieldCheck {
	return func(m *wireMsg) error {
		i := 0
		for _, n := range m.Names() {
			if i < len(names) && n == names[i] {
				i++
			}
		}
		if i != len(names) {
			return fmt.Errorf("names %q do not contain %q in order", m.Names(), names)
		}
		return nil
	}
}

// cookiePairs requires the Cookie lines to carry these pairs in order,
// whether as one line joined by "; " (RFC 9113 §8.2.3) or as several.
func cookiePairs(pairs ...string) fieldCheck {
	return func(m *wireMsg) error {
		if got := strings.Join(m.Values("Cookie"), "; "); got != strings.Join(pairs, "; ") {
			return fmt.Errorf("Cookie pairs %q, want %q", got, pairs)
		}
		return nil
	}
}

func get(target string, fields ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: a\r\n" + joinFields(fields) + "\r\n"
}

func post(fields []string, body string) string {
	return "POST / HTTP/1.1\r\nHost: a\r\n" + joinFields(fields) + "\r\n" + body
}

func joinFields(fields []string) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	return b.String()
}

func st(codes ...int) []int { return codes }

// ok is the echo backend's answer to a forwarded request.
func okGet(target string, check ...fieldCheck) []fwdWant {
	return []fwdWant{{line: "GET " + target + " HTTP/1.1", check: check}}
}

func okPost(body string, check ...fieldCheck) []fwdWant {
	return []fwdWant{{line: "POST / HTTP/1.1", body: body, check: check}}
}

func requestCases() map[string][]threatCase {
	cl36 := "Content-Length: 36"
	bad := func(name, send string, codes ...int) threatCase {
		return threatCase{name: name, send: send, status: codes, mustClose: true}
	}
	// streamedBad is a chunked body that turns malformed after a valid
	// chunk: sluice streams, so the valid chunk may already have gone out;
	// the backend then sees that request cut short on a closed connection
	// (never completed, nothing smuggled) and the client gets the error.
	streamedBad := func(name, send string, codes ...int) threatCase {
		c := bad(name, send, codes...)
		c.cut = true
		return c
	}
	cases := map[string][]threatCase{
		"SMG-01": {bad("CL.TE", post([]string{cl36, "Transfer-Encoding: chunked"}, smuggled), 400)},
		"SMG-02": {bad("TE.CL", post([]string{"Content-Length: 3", "Transfer-Encoding: chunked"}, "1f\r\nGET /smug HTTP/1.1\r\nHost: a\r\n\r\n\r\n0\r\n\r\n"), 400)},
		"SMG-04": {
			bad("space before colon", post([]string{cl36, "Transfer-Encoding : chunked"}, smuggled), 400),
			bad("tab before colon", post([]string{cl36, "Transfer-Encoding\t: chunked"}, smuggled), 400),
			bad("inner space", post([]string{cl36, "Transfer Encoding: chunked"}, smuggled), 400),
			bad("non-ASCII name", post([]string{cl36, "Tr\xc3\xa0nsfer-Encoding: chunked"}, smuggled), 400),
			bad("NUL in name", post([]string{cl36, "Transfer-Encoding\x00: chunked"}, smuggled), 400),
			// An underscore alias of a framing field is dropped: the body is
			// the 36 bytes, one request.
			{name: "underscore alias dropped", send: post([]string{cl36, "Transfer_Encoding: chunked"}, smuggled), status: st(200),
				fwd: okPost(smuggled, exactly("Content-Length", "36"), absent("Transfer_Encoding", "Transfer-Encoding"))},
		},
		"SMG-05": {
			bad("TE twice", post([]string{"Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}, "5\r\nhello\r\n0\r\n\r\n"), 400),
			bad("CL 5 and 6", post([]string{"Content-Length: 5", "Content-Length: 6"}, "hello!"), 400),
			bad("CL 5 twice", post([]string{"Content-Length: 5", "Content-Length: 5"}, "hello!"), 400),
			bad("CL list", post([]string{"Content-Length: 5, 5"}, "hello!"), 400),
			bad("CL +5", post([]string{"Content-Length: +5"}, "hello!"), 400),
			bad("CL -5", post([]string{"Content-Length: -5"}, "hello!"), 400),
			bad("CL 0x5", post([]string{"Content-Length: 0x5"}, "hello!"), 400),
			bad("CL 5.0", post([]string{"Content-Length: 5.0"}, "hello!"), 400),
			bad("CL empty", post([]string{"Content-Length:"}, "hello!"), 400),
			bad("CL NUL", post([]string{"Content-Length: 5\x00"}, "hello!"), 400),
			bad("CL overflow", post([]string{"Content-Length: 99999999999999999999"}, "hello!"), 400, 413),
			{name: "CL leading zero", send: post([]string{"Content-Length: 05"}, "hello"), status: st(200), fwd: okPost("hello", exactly("Content-Length", "5"))},
		},
		"SMG-06": {
			bad("size overflow", post([]string{"Transfer-Encoding: chunked"}, "1ffffffffffffffff\r\nX\r\n0\r\n\r\n"), 400),
			bad("size 0x1", post([]string{"Transfer-Encoding: chunked"}, "0x1\r\nX\r\n0\r\n\r\n"), 400),
			bad("size -1", post([]string{"Transfer-Encoding: chunked"}, "-1\r\nX\r\n0\r\n\r\n"), 400),
			bad("leading space", post([]string{"Transfer-Encoding: chunked"}, " 1\r\nX\r\n0\r\n\r\n"), 400),
			bad("space before extension", post([]string{"Transfer-Encoding: chunked"}, "1 ;a=b\r\nX\r\n0\r\n\r\n"), 400),
			bad("LF in extension", post([]string{"Transfer-Encoding: chunked"}, "1;a\nb\r\nX\r\n0\r\n\r\n"), 400),
			bad("CR in extension", post([]string{"Transfer-Encoding: chunked"}, "1;a\rb\r\nX\r\n0\r\n\r\n"), 400),
			bad("bare LF after size", post([]string{"Transfer-Encoding: chunked"}, "1\nX\r\n0\r\n\r\n"), 400),
			streamedBad("data longer than size", post([]string{"Transfer-Encoding: chunked"}, "1\r\nXY\r\n0\r\n\r\n"), 400),
			streamedBad("last chunk with bare LFs", post([]string{"Transfer-Encoding: chunked"}, "1\r\nX\r\n0\n\n"), 400, closed),
			{name: "long extension not forwarded", send: post([]string{"Transfer-Encoding: chunked"}, "1;"+strings.Repeat("a", 3000)+"\r\nX\r\n0\r\n\r\n"),
				status: st(200), fwd: okPost("X")},
			// 40 chunks of one byte behind 60 000 bytes of extension: the
			// request makes sluice read more than twice max_request_body.
			streamedBad("extensions past the read budget", post([]string{"Transfer-Encoding: chunked"},
				strings.Repeat("1;"+strings.Repeat("e", 60000)+"\r\nX\r\n", 40)+"0\r\n\r\n"), 400, 413),
		},
		"SMG-07": {
			bad("a: bare LF inside a CRLF block", post([]string{cl36, "X-A: b\nTransfer-Encoding: chunked"}, smuggled), 400),
			bad("b: bare CR in a value", get("/", "X: a\rb"), 400),
			bad("c: LF-only request", "GET / HTTP/1.1\nHost: a\n\n", 400, 408),
			bad("d: CR CR", "GET / HTTP/1.0\r\r", 400, 408, closed),
			bad("e: obs-fold", get("/", "X-A: one", " two"), 400),
			bad("f: first field line starts with SP", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
			bad("g: folded Content-Length", post([]string{"Content-Length: 5", " Content-Length: 7"}, "hello"), 400),
		},
		"SMG-08": {
			bad("HTTP/0.9 simple request", "GET /\r\n\r\n", 400),
			bad("HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 400, 505),
			bad("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400, 505),
			bad("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400, 505),
			bad("HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
			bad("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
			bad("two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
			bad("tabs", "GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n", 400),
			bad("non-token method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
			bad("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, 505),
			// Methods are case-sensitive tokens: "get" is not GET, and goes
			// on as sent (Apache's default LenientMethods).
			{name: "lower-case method forwarded as sent", send: "get / HTTP/1.1\r\nHost: a\r\n\r\n", status: st(200),
				fwd: []fwdWant{{line: "get / HTTP/1.1"}}},
			{name: "HTTP/1.0 forwarded as HTTP/1.1", send: "GET /v HTTP/1.0\r\nHost: a\r\n\r\n", status: st(200), mustClose: true,
				fwd: okGet("/v")},
		},
		"SMG-09": {
			bad("authority differs from Host", "GET http://evil.example/x HTTP/1.1\r\nHost: good.example\r\n\r\n", 400),
			bad("gopher scheme", "GET gopher://good.example/x HTTP/1.1\r\nHost: good.example\r\n\r\n", 400),
			bad("octal IPv4", "GET http://017700000001/ HTTP/1.1\r\nHost: 017700000001\r\n\r\n", 400),
			bad("hex IPv4", "GET http://0x7f.1/ HTTP/1.1\r\nHost: 0x7f.1\r\n\r\n", 400),
			bad("zero-padded IPv4", "GET http://127.01.0.1/ HTTP/1.1\r\nHost: 127.01.0.1\r\n\r\n", 400),
			{name: "absolute-form matching Host", send: "GET http://a/x?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", status: st(200),
				fwd: okGet("/x?q=1", exactly("X-Forwarded-Host", "a"))},
		},
		"SMG-10": {
			bad("userinfo in Host", "GET / HTTP/1.1\r\nHost: evil@good\r\n\r\n", 400),
			bad("userinfo in the target", "GET http://good.example@evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400),
		},
		"SMG-11": {
			{name: "CONNECT", send: "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", status: st(405), mustClose: true},
			bad("authority-form GET", "GET evil.example:80 HTTP/1.1\r\nHost: evil.example:80\r\n\r\n", 400),
			bad("asterisk GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		},
		"SMG-12": {
			bad("no Host on 1.1", "GET / HTTP/1.1\r\n\r\n", 400),
			bad("two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
			bad("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
			bad("space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
			bad("backslash", "GET / HTTP/1.1\r\nHost: abc\\foo\r\n\r\n", 400),
			bad("tab", "GET / HTTP/1.1\r\nHost: evil.com\tx\r\n\r\n", 400),
			bad("non-ASCII", "GET / HTTP/1.1\r\nHost: abc\xa0\r\n\r\n", 400),
			bad("dots", "GET / HTTP/1.1\r\nHost: ..\r\n\r\n", 400),
			bad("hyphen-edged label", "GET / HTTP/1.1\r\nHost: -bad-\r\n\r\n", 400),
			bad("port over 65535", "GET / HTTP/1.1\r\nHost: 127.0.0.1:99999\r\n\r\n", 400),
			bad("two ports", "GET / HTTP/1.1\r\nHost: localhost:80:80\r\n\r\n", 400),
			{name: "HTTP/1.0 without Host", send: "GET /h10 HTTP/1.0\r\n\r\n", status: st(200), mustClose: true,
				fwd: okGet("/h10", absent("X-Forwarded-Host"))},
		},
		"SMG-13": {
			{name: "two pipelined GETs answered in order", send: get("/1") + get("/2"), status: st(200),
				fwd:    []fwdWant{{line: "GET /1 HTTP/1.1"}, {line: "GET /2 HTTP/1.1"}},
				client: bodies("GET /1", "GET /2")},
			bad("CL.TE then a pipelined GET", post([]string{cl36, "Transfer-Encoding: chunked"}, smuggled)+get("/after"), 400),
			bad("TE on HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
		},
		"HDR-01": {
			{name: "hop-by-hop fields removed", send: get("/hop",
				"Connection: keep-alive, X-Secret, Upgrade", "Keep-Alive: timeout=5", "TE: trailers", "Trailer: X-T",
				"Upgrade: h2c", "Proxy-Authorization: Basic Zm9vOmJhcg==", "Proxy-Connection: keep-alive", "X-Secret: s", "X-Kept: k"),
				status: st(200), fwd: okGet("/hop",
					absent("Keep-Alive", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Connection", "X-Secret"),
					exactly("Connection", "TE"), exactly("TE", "trailers"), exactly("X-Kept", "k"))},
			{name: "empty Connection elements", send: get("/hop", "Connection: ,,,", "X-Kept: k"), status: st(200),
				fwd: okGet("/hop", absent("Connection"), exactly("X-Kept", "k"))},
			{name: "2000 Connection tokens and 90 fields", send: get("/hop", manyTokens(2000, 90)...), status: st(200),
				fwd: okGet("/hop", absent("Connection", "X-F1", "X-F90"), exactly("X-Kept", "k"))},
		},
		"HDR-02": {
			{name: "Connection cannot remove what sluice adds", send: "POST / HTTP/1.1\r\nHost: a\r\n" +
				"Connection: close, X-Forwarded-For, Host, Content-Length, X-Forwarded-Host, X-Forwarded-Server, Via\r\n" +
				"X-Forwarded-For: 1.2.3.4\r\nContent-Length: 5\r\n\r\nhello",
				status: st(200), mustClose: true, fwd: okPost("hello",
					exactly("X-Forwarded-For", "127.0.0.1"), exactly("X-Forwarded-Host", "a"),
					exactly("X-Forwarded-Server", "proxy.example"), exactly("Content-Length", "5"),
					exactly("Via", "1.1 proxy.example"), absent("Connection"))},
		},
		"HDR-03": {
			{name: "untrusted forwarding fields replaced", send: get("/fwd",
				"X-Forwarded-For: 6.6.6.6", "X-Forwarded-Host: evil", "X-Forwarded-Proto: https", "Forwarded: for=6.6.6.6",
				"X-Real-IP: 6.6.6.6", "X_Forwarded_For: 6.6.6.6", "X_Real_IP: 6.6.6.6", "Via: 1.1 evil"),
				status: st(200), fwd: okGet("/fwd",
					exactly("X-Forwarded-For", "127.0.0.1"), exactly("X-Forwarded-Host", "a"),
					absent("X-Forwarded-Proto", "Forwarded", "X-Real-IP", "X_Forwarded_For", "X_Real_IP"),
					exactly("Via", "1.1 evil, 1.1 proxy.example"))},
		},
		"HDR-05": {
			{name: "request names, order and duplicates kept", send: get("/names",
				"x-lower: 1", "X-UPPER: 2", "sEc-WeBsOcKeT-kEy: 3", "X-Dup: a", "Cookie: a=1", "X-Dup: b", "Cookie: b=2"),
				status: st(200), fwd: okGet("/names",
					namesInOrder("x-lower", "X-UPPER", "sEc-WeBsOcKeT-kEy", "X-Dup", "X-Dup"),
					lines("X-Dup", "a", "b"), cookiePairs("a=1", "b=2"))},
		},
		"HDR-06": {
			{name: "no User-Agent or Content-Type invented", send: post([]string{"Content-Length: 5"}, "hello"), status: st(200),
				fwd: okPost("hello", absent("User-Agent", "Content-Type"))},
			{name: "own error page has no Server field", send: get("/admin"), status: st(404),
				client: func(rs []*wireMsg) error { return absent("Server")(rs[0]) }},
		},
		"HDR-07": {
			{name: "b: one 100 Continue, Expect not forwarded",
				send:   post([]string{"Expect: 100-continue", "Content-Length: 5"}, "hello"),
				status: st(200), fwd: okPost("hello", absent("Expect"))},
		},
		"HDR-09": hdr09Cases(),
		"HDR-11": {
			streamedBad("client chunk longer than its size", post([]string{"Transfer-Encoding: chunked"}, "1\r\nXY\r\n0\r\n\r\n"), 400),
		},
		"HDR-13": {
			{name: "dot-segments resolved before routing", send: get("/public/../admin"), status: st(404)},
			{name: "encoded dot-segments resolved before routing", send: get("/public/%2e%2e/admin"), status: st(404)},
			{name: "encoded slash refused", send: get("/a%2fb"), status: st(404)},
			{name: "merged slashes forwarded as routed", send: get("//evil.example/x"), status: st(200),
				fwd: okGet("/evil.example/x")},
			{name: "fragment refused", send: get("/a#frag"), status: st(400), mustClose: true},
			{name: "raw UTF-8 forwarded percent-encoded", send: get("/caf\xc3\xa9"), status: st(200),
				fwd: okGet("/caf%C3%A9")},
		},
		"HDR-14": {
			{name: "TRACE", send: "TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nCookie: s=1\r\n\r\n", status: st(405), mustClose: true},
		},
		"RES-03": {
			{name: "5000-byte field forwarded", send: get("/big", "X-Big: "+strings.Repeat("b", 5000)), status: st(200),
				fwd: okGet("/big", exactly("X-Big", strings.Repeat("b", 5000)))},
			bad("64 KiB Cookie", get("/", "Cookie: a="+strings.Repeat("c", 64<<10)), 431),
			bad("101 fields", get("/", manyFields(101)...), 431),
			bad("10000 fields", get("/", manyFields(10000)...), 431),
			bad("request line over the head limit", get("/"+strings.Repeat("l", 17000)), 431, 414),
		},
		"RES-01": {bad("request head stalls past client_header", "GET / HTTP/1.1\r\nHost: a\r\n", 408, closed)},
		"RES-02": {
			bad("prefetched body stalls", post([]string{"Content-Length: 4000"}, "x"), 408, closed),
			{name: "streamed body stalls past client_body", send: post([]string{"Content-Length: 500000"}, strings.Repeat("x", 70000)),
				status: st(408, closed), mustClose: true, cut: true},
		},
		"RES-04": {
			// fasthttp reads 64 KiB of a body before sluice sees the request.
			bad("Content-Length over max_request_body", post([]string{"Content-Length: 5242880"}, strings.Repeat("x", 70000)), 413),
			{name: "chunked body over max_request_body", send: post([]string{"Transfer-Encoding: chunked"},
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 1<<20+1, strings.Repeat("y", 1<<20+1))), status: st(413), cut: true},
		},
	}
	var smg03 []threatCase
	for _, te := range []string{"xchunked", "chunked, identity", "identity, chunked", "gzip, chunked", "chunked, chunked",
		`"chunked"`, "chunked\x0b", "\x0bchunked", "chunk", "chunked;q=1", "identity"} {
		smg03 = append(smg03,
			bad(fmt.Sprintf("%q with CL", te), post([]string{cl36, "Transfer-Encoding: " + te}, smuggled), 400, 501),
			bad(fmt.Sprintf("%q alone", te), post([]string{"Transfer-Encoding: " + te}, "5\r\nhello\r\n0\r\n\r\n"), 400, 501))
	}
	for _, te := range []string{"CHUNKED", " chunked ", "\tchunked"} {
		smg03 = append(smg03, threatCase{name: fmt.Sprintf("%q accepted", te), send: post([]string{"Transfer-Encoding:" + te}, "5\r\nhello\r\n0\r\n\r\n"),
			status: st(200), fwd: okPost("hello", absent("Content-Length"), exactly("Transfer-Encoding", "chunked"))})
	}
	cases["SMG-03"] = smg03
	return cases
}

// hdr09Cases send request trailers. None is forwarded: sluice sends the
// head before it has read the body, and re-chunks the body without a
// trailer section (RFC 9110 §6.5.2: a recipient may discard trailer
// fields and must not merge them into the header section). A field
// RFC 9110 §6.5.1 keeps out of trailers (framing, routing, credentials)
// fails the request: fasthttp refuses it, 400 and a close, and the
// backend's copy is cut short, never completed; announcing one in Trailer
// fails the request before anything is forwarded.
func hdr09Cases() []threatCase {
	chunked := "Transfer-Encoding: chunked"
	with := func(trailer string) string { return "5\r\nhello\r\n0\r\n" + trailer + "\r\n\r\n" }
	dropped := func(name string, fields []string, trailer string) threatCase {
		return threatCase{name: name, send: post(fields, with(trailer)), status: st(200),
			fwd: okPost("hello", absent("Trailer", "X-Sum")), neverSent: []string{"X-Sum"}}
	}
	refused := func(trailer string) threatCase {
		return threatCase{name: "prohibited " + trailer, send: post([]string{chunked}, with(trailer)), status: st(400),
			mustClose: true, cut: true, neverSent: []string{"0\r\n" + trailer}}
	}
	return []threatCase{
		dropped("announced trailer dropped", []string{chunked, "Trailer: X-Sum"}, "X-Sum: 9"),
		dropped("unannounced trailer dropped", []string{chunked}, "X-Sum: 9"),
		refused("Content-Length: 5"),
		refused("Host: evil.example"),
		refused("Transfer-Encoding: chunked"),
		refused("Authorization: Basic ZXZpbDpldmls"),
		// Announcing one is refused with the head: nothing is forwarded.
		{name: "announced prohibited trailer", send: post([]string{chunked, "Trailer: Host"}, with("Host: evil.example")), status: st(400),
			mustClose: true},
	}
}

// manyTokens is a Connection field naming n tokens, then fields
// X-F1..X-Ffields it names too, and X-Kept.
func manyTokens(n, fields int) []string {
	var b strings.Builder
	b.WriteString("Connection: ")
	for i := range n {
		fmt.Fprintf(&b, "t%d,", i)
	}
	for i := 1; i <= fields; i++ {
		fmt.Fprintf(&b, "X-F%d,", i)
	}
	out := []string{b.String()}
	for i := 1; i <= fields; i++ {
		out = append(out, fmt.Sprintf("X-F%d: v", i))
	}
	return append(out, "X-Kept: k")
}

func manyFields(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("X-N%d: 1", i)
	}
	return out
}

// bodies requires the responses to carry these bodies, in order.
func bodies(want ...string) func([]*wireMsg) error {
	return func(rs []*wireMsg) error {
		var got []string
		for _, r := range rs {
			got = append(got, string(r.Body))
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("response bodies %q, want %q", got, want)
		}
		return nil
	}
}

func TestThreats(t *testing.T) {
	b := newEchoBackend(t, cannedReply)
	s := startSluice(t, writeConfig(t, t.TempDir(), "threats.yaml", threatsYAML, "{B}", b.addr))
	cases := requestCases()
	for id, cs := range responseCases() {
		cases[id] = append(cases[id], cs...)
	}
	ids := make([]string, 0, len(cases))
	for id := range cases {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			for _, c := range cases[id] {
				t.Run(c.name, func(t *testing.T) { runThreat(t, s.Addr(), b, c) })
			}
		})
	}
	t.Run("SMG-14", testResponseQueue)
	// Nothing above may have made sluice buffer a declared length.
	if hwm := s.vmHWM(); hwm > 200<<20 {
		t.Errorf("sluice peak RSS %d MiB, want under 200 MiB", hwm>>20)
	}
}

func runThreat(t *testing.T, addr string, b *echoBackend, c threatCase) {
	t.Helper()
	b.reset()
	n := max(len(c.fwd), 1)
	if c.responses > 0 {
		n = c.responses
	}
	r := exchangeRaw(t, addr, c.send, n, c.mustClose)
	switch {
	case len(r.resps) == 0 && slices.Contains(c.status, closed):
	case len(r.resps) == 0:
		t.Errorf("no response (%v); want status %v", r.err, c.status)
	case !slices.Contains(c.status, r.resps[0].Status):
		t.Errorf("status %d, want %v; body %q", r.resps[0].Status, c.status, r.resps[0].Body)
	}
	if c.mustClose && !r.closed {
		t.Errorf("client connection left open (%v), want it closed", r.err)
	}
	if c.client != nil && len(r.resps) >= n {
		if err := c.client(r.resps); err != nil {
			t.Error(err)
		}
	}
	checkForwarded(t, b, c.fwd, c.cut)
	if got := b.received(); c.ownConns && len(got) != len(c.fwd) {
		t.Errorf("backend received the requests on %d connections, want %d; raw %q", len(got), len(c.fwd), got)
	}
	for _, raw := range b.received() {
		for _, never := range c.neverSent {
			if strings.Contains(raw, never) {
				t.Errorf("backend received %q: %q", never, raw)
			}
		}
	}
}

// checkForwarded compares what the backend received with want. With cut,
// the backend must also have received one more request whose body sluice
// cut short by closing the connection.
func checkForwarded(t *testing.T, b *echoBackend, want []fwdWant, cut bool) {
	t.Helper()
	b.settle(t, cut)
	got, short, err := b.requests()
	if err != nil {
		t.Errorf("backend received malformed bytes: %v", err)
		return
	}
	if cut && short != 1 {
		t.Errorf("backend received %d requests cut short, want 1; raw %q", short, b.received())
	}
	if !cut && short != 0 {
		t.Errorf("backend received %d requests cut short, want none; raw %q", short, b.received())
	}
	if len(got) != len(want) {
		var lines []string
		for _, m := range got {
			lines = append(lines, m.Method+" "+m.URI+" "+m.Proto)
		}
		t.Errorf("backend received %d complete requests %q, want %d; raw: %.2000q", len(got), lines, len(want), b.received())
		return
	}
	for i, w := range want {
		m := got[i]
		if line := m.Method + " " + m.URI + " " + m.Proto; line != w.line {
			t.Errorf("backend request %d line %q, want %q", i, line, w.line)
		}
		if string(m.Body) != w.body {
			t.Errorf("backend request %d body %.200q, want %.200q", i, m.Body, w.body)
		}
		for _, chk := range w.check {
			if err := chk(m); err != nil {
				t.Errorf("backend request %d: %v; fields %q", i, err, m.Header)
			}
		}
	}
}

// rawResult is what a client saw on one connection.
type rawResult struct {
	resps   []*wireMsg // final responses
	interim []int      // 1xx statuses before them
	closed  bool       // the connection ended after the responses
	err     error      // why reading stopped early
}

// exchangeRaw sends raw on a fresh connection and reads up to n final
// responses; with waitClose it then waits for the connection to end. A
// request starting with HEAD makes the first response bodiless.
func exchangeRaw(t *testing.T, addr, raw string, n int, waitClose bool) rawResult {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("cannot dial sluice: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, raw); err != nil && !isConnEnd(err) {
		t.Fatalf("cannot send request: %v", err)
	}
	var r rawResult
	br := bufio.NewReader(c)
	head := strings.HasPrefix(raw, "HEAD ")
	for len(r.resps) < n {
		m, err := readHead(br, false)
		if err != nil {
			r.err, r.closed = err, isConnEnd(err)
			return r
		}
		if m.Status/100 == 1 && m.Status != http.StatusSwitchingProtocols {
			r.interim = append(r.interim, m.Status)
			continue
		}
		if head && len(r.resps) == 0 {
			m.Method = http.MethodHead
		}
		m.Body, err = io.ReadAll(bodyReader(br, m, false))
		if cl, clErr := strconv.Atoi(m.Get("Content-Length")); err == nil && clErr == nil && m.Method != http.MethodHead && len(m.Body) < cl {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			r.err, r.closed = fmt.Errorf("%d response cut short: %w", m.Status, err), isConnEnd(err)
			return r
		}
		r.resps = append(r.resps, m)
	}
	if waitClose {
		_ = c.SetReadDeadline(time.Now().Add(closeWait))
		var one [1]byte
		k, err := br.Read(one[:])
		r.closed = k == 0 && isConnEnd(err)
		if !r.closed {
			r.err = fmt.Errorf("read %d more bytes: %v", k, err)
		}
	}
	return r
}

func isConnEnd(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// canned are raw backend responses by request target, for the cases about
// what a backend sends back. After one that says "close" the backend
// closes the connection, so a faulty response never spoils the next case.
var canned = map[string]string{
	"/r/hop": "HTTP/1.1 200 OK\r\nConnection: X-Internal, close\r\nX-Internal: secret\r\nKeep-Alive: timeout=5\r\n" +
		"Proxy-Authenticate: Basic\r\nUpgrade: h2c\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\nok",
	"/r/names": "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nWWW-Authenticate: Basic\r\nWWW-Authenticate: Bearer\r\n" +
		"Set-Cookie: a=1; Path=/x\r\nSet-Cookie: a=2; Path=/y\r\nSet-Cookie: b=3\r\nContent-Length: 2\r\n\r\nok",
	"/r/notype":   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"/r/103":      "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"/r/head":     "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
	"/r/304":      "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 4\r\n\r\n",
	"/r/204cl":    "HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\n",
	"/r/204te":    "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
	"/r/trailer":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 9\r\n\r\n",
	"/r/dupcl":    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
	"/r/wscolon":  "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length : 2\r\n\r\nok",
	"/r/tegzip":   "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"/r/clneg":    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: -1\r\n\r\nok",
	"/r/s2000":    "HTTP/1.1 2000 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
	"/r/s600":     "HTTP/1.1 600 Odd\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
	"/r/nul":      "HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
	"/r/cr":       "HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok",
	"/r/fold":     "HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: one\r\n two\r\nContent-Length: 2\r\n\r\nok",
	"/r/space":    "HTTP/1.1 200 OK\r\nConnection: close\r\nX Y: z\r\nContent-Length: 2\r\n\r\nok",
	"/r/bigcl":    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 68719476736\r\n\r\nabc",
	"/r/bigchunk": "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\nabc",
	"/r/101":      "HTTP/1.1 101 Switching Protocols\r\nConnection: close\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	// Both framings, the connection kept open: the length would end the
	// body inside the chunk framing.
	"/r/clte": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"/r/tecl": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length :  2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
}

func cannedReply(w *bufio.Writer, m *wireMsg) bool {
	raw, ok := canned[m.URI]
	if !ok {
		return echoRequestLine(w, m)
	}
	w.WriteString(raw)
	return strings.Contains(raw, "close\r\n")
}

// responseCases send requests the backend answers from canned.
func responseCases() map[string][]threatCase {
	after := fwdWant{line: "GET /after HTTP/1.1"}
	fault := func(name, target string, codes ...int) threatCase {
		return threatCase{name: name, send: get(target), status: codes, fwd: okGet(target)}
	}
	return map[string][]threatCase{
		"HDR-04": {{name: "hop-by-hop response fields removed, client connection kept",
			send: get("/r/hop") + get("/after"), status: st(200),
			fwd: []fwdWant{{line: "GET /r/hop HTTP/1.1"}, after},
			client: func(rs []*wireMsg) error {
				if err := absent("Connection", "X-Internal", "Keep-Alive", "Proxy-Authenticate", "Upgrade")(rs[0]); err != nil {
					return err
				}
				if err := exactly("X-Kept", "k")(rs[0]); err != nil {
					return err
				}
				return bodies("ok", "GET /after")(rs)
			}}},
		"HDR-05": {{name: "response names and Set-Cookie lines kept", send: get("/r/names"), status: st(200), fwd: okGet("/r/names"),
			client: func(rs []*wireMsg) error {
				for _, chk := range []fieldCheck{
					lines("ETag", `"e"`), lines("WWW-Authenticate", "Basic", "Bearer"),
					lines("Set-Cookie", "a=1; Path=/x", "a=2; Path=/y", "b=3"),
				} {
					if err := chk(rs[0]); err != nil {
						return err
					}
				}
				return nil
			}}},
		"HDR-06": {{name: "no Content-Type invented in responses", send: get("/r/notype"), status: st(200), fwd: okGet("/r/notype"),
			client: func(rs []*wireMsg) error { return absent("Content-Type", "Server")(rs[0]) }}},
		"HDR-07": {{name: "a: 103 dropped, final response relayed", send: get("/r/103"), status: st(200), fwd: okGet("/r/103"),
			client: bodies("ok")}},
		"HDR-08": {
			{name: "HEAD keeps Content-Length, no body", send: "HEAD /r/head HTTP/1.1\r\nHost: a\r\n\r\n" + get("/after"), status: st(200),
				fwd: []fwdWant{{line: "HEAD /r/head HTTP/1.1"}, after},
				client: func(rs []*wireMsg) error {
					if err := exactly("Content-Length", "1234")(rs[0]); err != nil {
						return err
					}
					return bodies("", "GET /after")(rs)
				}},
			{name: "304 keeps ETag and Content-Length, no body", send: get("/r/304") + get("/after"), status: st(304),
				fwd: []fwdWant{{line: "GET /r/304 HTTP/1.1"}, after},
				client: func(rs []*wireMsg) error {
					if err := exactly("ETag", `"e"`)(rs[0]); err != nil {
						return err
					}
					return bodies("", "GET /after")(rs)
				}},
			{name: "204 loses Content-Length", send: get("/r/204cl") + get("/after"), status: st(204),
				fwd: []fwdWant{{line: "GET /r/204cl HTTP/1.1"}, after},
				client: func(rs []*wireMsg) error {
					if err := absent("Content-Length", "Transfer-Encoding")(rs[0]); err != nil {
						return err
					}
					return bodies("", "GET /after")(rs)
				}},
			{name: "204 loses Transfer-Encoding", send: get("/r/204te") + get("/after"), status: st(204),
				fwd: []fwdWant{{line: "GET /r/204te HTTP/1.1"}, after},
				client: func(rs []*wireMsg) error {
					if err := absent("Content-Length", "Transfer-Encoding")(rs[0]); err != nil {
						return err
					}
					return bodies("", "GET /after")(rs)
				}},
		},
		"HDR-09": {{name: "response trailer not promoted to a header", send: get("/r/trailer"), status: st(200), fwd: okGet("/r/trailer"),
			client: func(rs []*wireMsg) error {
				if err := absent("X-Sum")(rs[0]); err != nil {
					return err
				}
				return bodies("ok")(rs)
			}}},
		"HDR-12": {fault("101 to a plain GET", "/r/101", 502)},
		"SMG-15": {
			fault("duplicate CL", "/r/dupcl", 502),
			{name: "space before colon normalised", send: get("/r/wscolon"), status: st(200), fwd: okGet("/r/wscolon"), client: bodies("ok")},
			fault("gzip, chunked", "/r/tegzip", 502),
			fault("CL -1", "/r/clneg", 502),
			fault("status 2000", "/r/s2000", 502),
			fault("status 600", "/r/s600", 502),
			fault("NUL in a value", "/r/nul", 502),
			fault("bare CR in a value", "/r/cr", 502),
			{name: "obs-fold joined", send: get("/r/fold"), status: st(200, 502), fwd: okGet("/r/fold"),
				client: func(rs []*wireMsg) error {
					if rs[0].Status == 200 {
						return exactly("X-A", "one two")(rs[0])
					}
					return nil
				}},
			fault("space inside a name", "/r/space", 502),
			bothFramings("/r/clte"),
			bothFramings("/r/tecl"),
		},
		"SMG-16": {
			{name: "64 GiB Content-Length", send: get("/r/bigcl"), status: st(502, closed), mustClose: true, fwd: okGet("/r/bigcl")},
			{name: "huge chunk size", send: get("/r/bigchunk"), status: st(502, closed), mustClose: true, fwd: okGet("/r/bigchunk")},
		},
	}
}

// bothFramings is a response with Content-Length and Transfer-Encoding:
// read chunked, relayed without the length, and its backend connection
// closed after it (RFC 9112 §6.3), so the pipelined request after it goes
// on a new one. The client connection is not closed.
func bothFramings(target string) threatCase {
	return threatCase{name: target[3:] + ": chunked, backend connection closed", send: get(target) + get("/after"), status: st(200),
		fwd: []fwdWant{{line: "GET " + target + " HTTP/1.1"}, {line: "GET /after HTTP/1.1"}}, ownConns: true,
		client: func(rs []*wireMsg) error {
			if err := absent("Content-Length", "Connection")(rs[0]); err != nil {
				return err
			}
			return bodies("ok", "GET /after")(rs)
		}}
}

// poison is the SMG-14 backend: after the first response to /p/<kind> it
// waits for release, then sends an unsolicited response on the same
// connection and reports it on written.
type poison struct {
	release, written chan struct{}
}

var poisonFirst = map[string]string{
	"/p/200":  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"/p/204":  "HTTP/1.1 204 No Content\r\n\r\n",
	"/p/head": "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",
}

const evil = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"

func (p *poison) reply(w *bufio.Writer, m *wireMsg) bool {
	first, ok := poisonFirst[m.URI]
	if !ok {
		return echoRequestLine(w, m)
	}
	w.WriteString(first)
	if w.Flush() != nil {
		return true
	}
	<-p.release
	w.WriteString(evil)
	err := w.Flush()
	p.written <- struct{}{}
	return err != nil
}

// testResponseQueue checks that bytes a backend sends after a complete
// response never become the response to a later request (SMG-14). Each
// kind runs on its own sluice, so the pool holds one connection.
func testResponseQueue(t *testing.T) {
	for _, kind := range []string{"200", "204", "head"} {
		t.Run("after "+kind, func(t *testing.T) {
			p := &poison{release: make(chan struct{}), written: make(chan struct{}, 1)}
			b := newEchoBackend(t, p.reply)
			s := startSluice(t, writeConfig(t, t.TempDir(), "poison.yaml", threatsYAML, "{B}", b.addr))
			poisonThenNext(t, s.Addr(), p, kind)
		})
	}
}

// poisonThenNext sends a request of kind (200, 204 or head) through the
// sluice at addr, lets p's member send its unsolicited response, and checks
// that the next request gets the member's own answer to it. It returns the
// first request's line.
func poisonThenNext(t *testing.T, addr string, p *poison, kind string) string {
	t.Helper()
	first, line := get("/p/"+kind), "GET /p/"+kind+" HTTP/1.1"
	if kind == "head" {
		first, line = "HEAD /p/head HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD /p/head HTTP/1.1"
	}
	r := exchangeRaw(t, addr, first, 1, false)
	if len(r.resps) != 1 {
		t.Fatalf("no response to the first request: %v", r.err)
	}
	close(p.release)
	<-p.written
	r = exchangeRaw(t, addr, get("/next"), 1, false)
	if len(r.resps) != 1 {
		t.Fatalf("no response to the next request: %v", r.err)
	}
	if got := r.resps[0]; got.Status != 200 || string(got.Body) != "GET /next" {
		t.Errorf("next request got %d %q, want 200 %q (the member's unsolicited bytes)", got.Status, got.Body, "GET /next")
	}
	return line
}
