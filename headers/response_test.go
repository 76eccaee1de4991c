package headers

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// readResponseHeader parses a backend response header as the proxy's
// client does: header names not normalized.
func readResponseHeader(t testing.TB, raw string) *fasthttp.ResponseHeader {
	t.Helper()
	h := new(fasthttp.ResponseHeader)
	h.DisableNormalizing()
	if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("cannot read response header %q: %v", raw, err)
	}
	return h
}

func TestResponse(t *testing.T) {
	tests := []struct {
		name    string
		fwd     Forwarder
		raw     string
		upgrade bool
		proto   string
		want    []string
	}{{
		name: "hop-by-hop fields and those Connection names",
		raw: "HTTP/1.1 200 OK\r\nConnection: X-Internal, close\r\nX-Internal: secret\r\nKeep-Alive: timeout=5\r\n" +
			"Proxy-Authenticate: Basic\r\nProxy-Connection: close\r\nTE: trailers\r\nUpgrade: h2c\r\nETag: \"x\"\r\nContent-Length: 2\r\n\r\n",
		want: []string{"Content-Type: text/plain; charset=utf-8", "Content-Length: 2", "ETag: \"x\""},
	}, {
		name: "names, order and duplicates; Set-Cookie lines stay apart",
		raw: "HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/x\r\nwww-authenticate: Basic\r\nKeep-Alive: 5\r\nSet-Cookie: a=2; Path=/y\r\n" +
			"WWW-Authenticate: Bearer\r\nx-lower: 1\r\nContent-Length: 0\r\n\r\n",
		want: []string{"Content-Length: 0", "www-authenticate: Basic", "WWW-Authenticate: Bearer", "x-lower: 1",
			"Set-Cookie: a=1; Path=/x", "Set-Cookie: a=2; Path=/y"},
	}, {
		name: "underscore spellings of hop-by-hop fields",
		raw:  "HTTP/1.1 200 OK\r\nKeep_Alive: timeout=5\r\nTransfer_Encoding: chunked\r\nX_Custom: 1\r\nContent-Length: 0\r\n\r\n",
		want: []string{"Content-Length: 0", "X_Custom: 1"},
	}, {
		name: "chunked: Transfer-Encoding is fasthttp's to write",
		raw:  "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
		want: []string{"Content-Type: text/html", "X-A: 1"},
	}, {
		name: "Connection amid other fields: removed in place, the rest keep their order",
		raw:  "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: keep-alive\r\nX-B: 2\r\nX-A: 3\r\nContent-Length: 0\r\n\r\n",
		want: []string{"Content-Length: 0", "X-A: 1", "X-B: 2", "X-A: 3"},
	}, {
		name: "the fields before the first removed one stay in place, a date among them",
		raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\ndate: Thu, 26 Nov 2026 22:38:16 GMT\r\nX-B: 2\r\nKeep-Alive: 5\r\n" +
			"X-C: 3\r\nConnection: keep-alive\r\nX-D: 4\r\nContent-Length: 0\r\n\r\n",
		want: []string{"Content-Length: 0", "X-A: 1", "date: Thu, 26 Nov 2026 22:38:16 GMT", "X-B: 2", "X-C: 3", "X-D: 4"},
	}, {
		name:    "a 101 keeps Upgrade",
		raw:     "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n",
		upgrade: true,
		want:    []string{"Upgrade: websocket", "Sec-WebSocket-Accept: x", "Connection: Upgrade"},
	}, {
		name:  "Via On",
		fwd:   Forwarder{Via: config.ViaOn, ServerName: "127.0.0.1:27080"},
		raw:   "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
		proto: "HTTP/1.1",
		want:  []string{"X-A: 1", "Via: 1.1 127.0.0.1:27080"},
	}, {
		name:  "Via Full appends to the backend's Via with the client's version",
		fwd:   Forwarder{Via: config.ViaFull, ServerName: "p"},
		raw:   "HTTP/1.1 204 No Content\r\nVia: 1.1 inner\r\nX-A: 1\r\n\r\n",
		proto: "HTTP/1.0",
		want:  []string{"Via: 1.1 inner, 1.0 p (sluice)", "X-A: 1"},
	}, {
		name: "Via Block leaves responses alone",
		fwd:  Forwarder{Via: config.ViaBlock, ServerName: "p"},
		raw:  "HTTP/1.1 204 No Content\r\nVia: 1.1 inner\r\n\r\n",
		want: []string{"Via: 1.1 inner"},
	}, {
		name: "Connection may name fasthttp's special fields, not Content-Length",
		raw: "HTTP/1.1 200 OK\r\nServer: backend\r\nSet-Cookie: a=1\r\nContent-Type: text/html\r\n" +
			"Content-Length: 2\r\nConnection: Server, Set-Cookie, Content-Type, Content-Length\r\n\r\n",
		want: []string{"Content-Type: text/plain; charset=utf-8", "Content-Length: 2"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := readResponseHeader(t, tc.raw)
			tc.fwd.Response(h, tc.upgrade, []byte(tc.proto))
			equalLines(t, responseLines(h), tc.want)
			if h.ConnectionClose() {
				t.Error("the backend's Connection: close would close the client connection")
			}
			if tc.upgrade {
				return
			}
			// ResponseOf, told the kinds of the fields, makes the same of
			// the header the server builds, which leaves the framing to
			// fasthttp.
			h = readResponseHeader(t, withoutChunking(tc.raw))
			tc.fwd.ResponseOf(h, memberFields(tc.raw), []byte(tc.proto))
			equalLines(t, responseLines(h), tc.want)
		})
	}
}

// withoutChunking is raw without its Transfer-Encoding lines.
func withoutChunking(raw string) string {
	lines := strings.Split(raw, "\r\n")
	kept := lines[:0]
	for _, l := range lines {
		if name, _, _ := strings.Cut(l, ":"); !strings.EqualFold(name, "transfer-encoding") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\r\n")
}

// memberFields is the set of the kinds of raw's fields.
func memberFields(raw string) MemberFields {
	var present MemberFields
	for _, l := range strings.Split(raw, "\r\n")[1:] {
		if name, _, ok := strings.Cut(l, ":"); ok {
			present.Add(ClassifyMember([]byte(strings.TrimSpace(name))))
		}
	}
	return present
}

func TestClassifyMember(t *testing.T) {
	for name, want := range map[string]MemberField{
		"Content-Length": MemberLength, "content-length": MemberLength, "Content_Length": MemberHop,
		"Transfer-Encoding": MemberChunked, "TRANSFER-ENCODING": MemberChunked, "Transfer_Encoding": MemberHop,
		"Connection": MemberConnection, "Keep-Alive": MemberHop, "TE": MemberHop, "Trailer": MemberHop,
		"Proxy-Connection": MemberHop, "Proxy-Authenticate": MemberHop, "X_Forwarded_For": MemberHop,
		"Upgrade": MemberUpgrade, "via": MemberVia,
		"X-Forwarded-For": MemberOther, "Content-Type": MemberOther, "Set-Cookie": MemberOther, "ETag": MemberOther,
		"X-Content-Length": MemberOther, "Content-Lengths": MemberOther,
	} {
		if got := ClassifyMember([]byte(name)); got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
	// Every name classify knows, in any spelling, is not plain.
	for _, name := range managedNames {
		for _, n := range []string{name, strings.ToUpper(name), strings.ReplaceAll(name, "-", "_")} {
			if PlainMemberName([]byte(n)) {
				t.Errorf("%s: plain", n)
			}
		}
	}
	var s MemberFields
	s.Add(MemberVia)
	s.Add(MemberLength)
	if !s.Has(MemberVia) || !s.Has(MemberLength) || s.Has(MemberOther) || s.Has(MemberHop) {
		t.Errorf("set %08b", s)
	}
}

func TestResponseKeepsDate(t *testing.T) {
	const date = "Thu, 26 Nov 2026 22:38:16 GMT"
	h := readResponseHeader(t, "HTTP/1.1 204 No Content\r\nDate: "+date+"\r\nConnection: Date, Keep-Alive\r\nKeep-Alive: 5\r\n\r\n")
	new(Forwarder).Response(h, false, nil)
	if got := string(h.Peek("Date")); got != date {
		t.Errorf("Date = %q, want %q", got, date)
	}
	if got := h.Peek("Keep-Alive"); got != nil {
		t.Errorf("Keep-Alive = %q, want none", got)
	}
}

// managedNames are the names classify tells apart.
var managedNames = []string{"te", "via", "expect", "upgrade", "trailer", "forwarded", "x-real-ip", "connection",
	"keep-alive", "content-length", "proxy-connection", "transfer-encoding", "proxy-authenticate",
	"proxy-authorization", "x-forwarded-for", "x-forwarded-host", "x-forwarded-server", "x-forwarded-proto"}

// FuzzClassifyMember: a name PlainMemberName calls plain is MemberOther.
func FuzzClassifyMember(f *testing.F) {
	for _, name := range managedNames {
		f.Add([]byte(name))
	}
	f.Add([]byte("X-Frame-Options"))
	f.Fuzz(func(t *testing.T, name []byte) {
		if PlainMemberName(name) && ClassifyMember(name) != MemberOther {
			t.Fatalf("%q: plain, but of kind %d", name, ClassifyMember(name))
		}
	})
}
