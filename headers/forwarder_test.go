package headers

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

const backend = "127.0.0.1:27101"

func TestRequest(t *testing.T) {
	apache := Forwarder{AddHeaders: true, ServerName: "127.0.0.1"}
	trusted, err := NewTrusted([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		fwd     Forwarder
		raw     string
		ip      net.IP
		upgrade bool
		line    string // request line, when not "GET / HTTP/1.1"
		want    []string
	}{{
		name: "hop-by-hop fields and those Connection names",
		raw: "GET / HTTP/1.1\r\nHost: front\r\nConnection: keep-alive, X-Secret, Upgrade\r\n" +
			"Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n" +
			"Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n" +
			"Proxy-Authenticate: Basic\r\nX-Secret: s\r\nX-Keep: 1\r\n\r\n",
		want: []string{"Host: " + backend, "X-Keep: 1", "Connection: TE", "TE: trailers"},
	}, {
		name: "Connection: close with a name",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nX-Foo: 1\r\nConnection: close, X-Foo\r\nX-Bar: 2\r\n\r\n",
		want: []string{"Host: " + backend, "X-Bar: 2"},
	}, {
		name: "Connection: close alone",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nConnection: close\r\nX-Bar: 2\r\n\r\n",
		want: []string{"Host: " + backend, "X-Bar: 2"},
	}, {
		name: "lower-case connection names mixed-case fields",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nX-FOO: 1\r\nconnection: x-foo\r\nx-bar: 2\r\nx-foo: 3\r\n\r\n",
		want: []string{"Host: " + backend, "x-bar: 2"},
	}, {
		name: "Connection list with odd spacing, empty elements and two lines",
		raw: "GET / HTTP/1.1\r\nHost: front\r\nConnection: ,, X-A ,\tX-B,\r\nX-A: 1\r\nX-B: 2\r\n" +
			"Connection: X-C\r\nX-C: 3\r\nX-D: 4\r\n\r\n",
		want: []string{"Host: " + backend, "X-D: 4"},
	}, {
		name: "TE without trailers is dropped",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nTE: gzip, deflate;q=0.5\r\nX-A: 1\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1"},
	}, {
		name: "TE offering trailers among codings",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nte: gzip, Trailers\r\nX-A: 1\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1", "Connection: TE", "TE: trailers"},
	}, {
		name:    "upgrade keeps Upgrade and says so in Connection",
		raw:     "GET /ws HTTP/1.1\r\nHost: front\r\nconnection: keep-alive, Upgrade\r\nupgrade: websocket\r\nSec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		upgrade: true,
		line:    "GET /ws HTTP/1.1",
		want:    []string{"Host: " + backend, "upgrade: websocket", "Sec-WebSocket-Key: k==", "Sec-WebSocket-Version: 13", "Connection: Upgrade"},
	}, {
		name: "h2c upgrade without a tunnel is dropped",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
		want: []string{"Host: " + backend},
	}, {
		name: "Apache golden: X-Forwarded-* appended, Host is the backend's",
		fwd:  apache,
		raw:  "GET / HTTP/1.1\r\nHost: front.example.com:27080\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n",
		want: []string{"Host: " + backend, "X-Forwarded-For: 10.0.0.9, 127.0.0.1",
			"X-Forwarded-Host: front.example.com:27080", "X-Forwarded-Server: 127.0.0.1"},
	}, {
		name: "PreserveHost forwards the client's Host",
		fwd:  Forwarder{PreserveHost: true},
		raw:  "GET / HTTP/1.1\r\nHost: front.example.com:27080\r\n\r\n",
		want: []string{"Host: front.example.com:27080"},
	}, {
		name: "PreserveHost without a client Host sends the backend's",
		fwd:  Forwarder{PreserveHost: true},
		raw:  "GET / HTTP/1.0\r\n\r\n",
		want: []string{"Host: " + backend},
	}, {
		name: "existing X-Forwarded-* keep their name and place",
		fwd:  apache,
		raw: "GET / HTTP/1.1\r\nHost: front\r\nx-forwarded-host: edge\r\nX-A: 1\r\n" +
			"x-forwarded-server: edge-proxy\r\nX-B: 2\r\n\r\n",
		want: []string{"Host: " + backend, "x-forwarded-host: edge, front", "X-A: 1",
			"x-forwarded-server: edge-proxy, 127.0.0.1", "X-B: 2", "X-Forwarded-For: 127.0.0.1"},
	}, {
		name: "several X-Forwarded-For lines merge into the first",
		fwd:  apache,
		raw: "GET / HTTP/1.1\r\nHost: front\r\nX-Forwarded-For: 1.1.1.1\r\nX-A: 1\r\n" +
			"x-forwarded-for: 2.2.2.2, 3.3.3.3\r\nX-B: 2\r\n\r\n",
		want: []string{"Host: " + backend, "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1",
			"X-A: 1", "X-B: 2", "X-Forwarded-Host: front", "X-Forwarded-Server: 127.0.0.1"},
	}, {
		name: "CVE-2022-31813: Connection cannot remove what sluice adds",
		fwd:  apache,
		raw: "POST / HTTP/1.1\r\nHost: front\r\nConnection: close, X-Forwarded-For, Host, Content-Length\r\n" +
			"X-Forwarded-For: 1.2.3.4\r\nContent-Length: 2\r\n\r\nhi",
		line: "POST / HTTP/1.1",
		want: []string{"Host: " + backend, "Content-Length: 2",
			"X-Forwarded-For: 127.0.0.1", "X-Forwarded-Host: front", "X-Forwarded-Server: 127.0.0.1"},
	}, {
		name: "Connection may name fasthttp's special fields",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nUser-Agent: ua\r\nCookie: a=1\r\nConnection: User-Agent, Cookie\r\nX-A: 1\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1"},
	}, {
		name: "names, order and duplicates survive a rebuild; Cookie lines stay apart",
		raw: "GET / HTTP/1.1\r\nHost: front\r\nx-lower: 1\r\nX-UPPER: 2\r\nsEc-WeBsOcKeT-kEy: 3\r\n" +
			"X-Dup: a\r\nKeep-Alive: 5\r\nCookie: a=1\r\nX-Dup: b\r\ncookie: b=2\r\nUser-Agent: ua\r\n\r\n",
		want: []string{"User-Agent: ua", "Host: " + backend, "x-lower: 1", "X-UPPER: 2", "sEc-WeBsOcKeT-kEy: 3",
			"X-Dup: a", "Cookie: a=1", "X-Dup: b", "cookie: b=2"},
	}, {
		name: "Connection amid other fields: removed in place, the rest keep their order",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nX-A: 1\r\nConnection: keep-alive\r\nX-B: 2\r\nX-A: 3\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1", "X-B: 2", "X-A: 3"},
	}, {
		name: "Connection fields in two spellings",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nconnection: keep-alive\r\nX-A: 1\r\nCONNECTION: x-c\r\nX-C: 3\r\nX-B: 2\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1", "X-B: 2"},
	}, {
		name: "Connection fields of one exact spelling",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nX-A: 1\r\nConnection: keep-alive\r\nX-B: 2\r\nConnection: x-c\r\nX-C: 3\r\nX-D: 4\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1", "X-B: 2", "X-D: 4"},
	}, {
		name: "a field dropped late: a namesake of a later field moves with it",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\nKeep-Alive: 5\r\nX-C: 4\r\nX-B: 6\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1", "X-B: 2", "X-A: 3", "X-C: 4", "X-B: 6"},
	}, {
		name: "names, order and duplicates without a rebuild",
		raw: "GET / HTTP/1.1\r\nHost: front\r\nx-lower: 1\r\nX-UPPER: 2\r\n" +
			"X-Dup: a\r\nCookie: a=1\r\nX-Dup: b\r\ncookie: b=2\r\n\r\n",
		want: []string{"Host: " + backend, "x-lower: 1", "X-UPPER: 2", "X-Dup: a", "Cookie: a=1", "X-Dup: b", "cookie: b=2"},
	}, {
		name: "Expect is answered by the proxy, not asked again; the order stays",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nX-A: 1\r\nExpect: 100-continue\r\nX-B: 2\r\nX-C: 3\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1", "X-B: 2", "X-C: 3"},
	}, {
		name: "Via On",
		fwd:  Forwarder{Via: config.ViaOn, ServerName: "127.0.0.1:27080"},
		raw:  "GET / HTTP/1.1\r\nHost: front\r\n\r\n",
		want: []string{"Host: " + backend, "Via: 1.1 127.0.0.1:27080"},
	}, {
		name: "Via Full appends to an existing Via",
		fwd:  Forwarder{Via: config.ViaFull, ServerName: "127.0.0.1:27080"},
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nvia: 1.0 fred\r\nX-A: 1\r\n\r\n",
		want: []string{"Host: " + backend, "via: 1.0 fred, 1.1 127.0.0.1:27080 (sluice)", "X-A: 1"},
	}, {
		name: "Via Block strips every Via",
		fwd:  Forwarder{Via: config.ViaBlock, ServerName: "p"},
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nVia: 1.0 fred\r\nX-A: 1\r\nVIA: 1.1 evil\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1"},
	}, {
		name: "Via Off passes Via untouched",
		fwd:  Forwarder{Via: config.ViaOff, ServerName: "p"},
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nVia: 1.0 fred\r\n\r\n",
		want: []string{"Host: " + backend, "Via: 1.0 fred"},
	}, {
		name: "an HTTP/1.0 client without Host: Via 1.0, no X-Forwarded-Host, sent as HTTP/1.1",
		fwd:  Forwarder{AddHeaders: true, Via: config.ViaOn, ServerName: "proxy"},
		raw:  "GET / HTTP/1.0\r\nX-A: 1\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1", "X-Forwarded-For: 127.0.0.1", "X-Forwarded-Server: proxy", "Via: 1.0 proxy"},
	}, {
		name: "an IPv6 client",
		fwd:  Forwarder{AddHeaders: true},
		raw:  "GET / HTTP/1.1\r\nHost: front\r\n\r\n",
		ip:   net.ParseIP("::1"),
		want: []string{"Host: " + backend, "X-Forwarded-For: ::1", "X-Forwarded-Host: front"},
	}, {
		name: "untrusted peer: its forwarding fields are dropped before sluice's",
		fwd:  Forwarder{AddHeaders: true, ServerName: "p", Trusted: trusted},
		raw: "GET / HTTP/1.1\r\nHost: front\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\n" +
			"X-Forwarded-Proto: https\r\nX_Forwarded_For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n" +
			"X-Real-IP: 6.6.6.6\r\nX-Forwarded-Server: evil\r\nX-A: 1\r\n\r\n",
		want: []string{"Host: " + backend, "X-A: 1", "X-Forwarded-For: 127.0.0.1",
			"X-Forwarded-Host: front", "X-Forwarded-Server: p"},
	}, {
		name: "underscore spellings of managed fields are dropped, from any peer",
		fwd:  Forwarder{AddHeaders: true, ServerName: "p"},
		raw: "POST / HTTP/1.1\r\nHost: front\r\nContent-Length: 2\r\nTransfer_Encoding: chunked\r\n" +
			"Content_Length: 9\r\nX_Forwarded_For: 6.6.6.6\r\nX-Forwarded_Host: evil\r\nx_real_ip: 6.6.6.6\r\n" +
			"Keep_Alive: 1\r\nProxy_Authorization: x\r\nX_Api_Key: k\r\n\r\nhi",
		line: "POST / HTTP/1.1",
		want: []string{"Host: " + backend, "Content-Length: 2", "X_Api_Key: k",
			"X-Forwarded-For: 127.0.0.1", "X-Forwarded-Host: front", "X-Forwarded-Server: p"},
	}, {
		name: "trusted peer: its forwarding fields are kept and appended to",
		fwd:  Forwarder{AddHeaders: true, ServerName: "p", Trusted: trusted},
		ip:   clientIP,
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n\r\n",
		want: []string{"Host: " + backend, "X-Forwarded-For: 1.2.3.4, 10.0.0.9", "X-Forwarded-Proto: https",
			"X-Forwarded-Host: front", "X-Forwarded-Server: p"},
	}, {
		name: "AddHeaders off sends none and leaves the client's alone",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
		want: []string{"Host: " + backend, "X-Forwarded-For: 1.2.3.4"},
	}, {
		name: "chunked request body: Transfer-Encoding is fasthttp's to write",
		raw:  "POST / HTTP/1.1\r\nHost: front\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
		line: "POST / HTTP/1.1",
		want: []string{"Host: " + backend, "Content-Length: 2", "X-A: 1"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := readRequest(t, tc.raw)
			out := outbound(client)
			ip := tc.ip
			if ip == nil {
				ip = loopback
			}
			tc.fwd.Request(&out.Header, ip, ip, client.Header.Host(), backend, tc.upgrade)
			line, got := wireHeader(t, out)
			wantLine := tc.line
			if wantLine == "" {
				wantLine = "GET / HTTP/1.1"
			}
			if line != wantLine {
				t.Errorf("request line %q, want %q", line, wantLine)
			}
			equalLines(t, got, tc.want)
			if out.Header.ConnectionClose() {
				t.Error("the client's Connection: close reached the outbound header")
			}
		})
	}
}

func TestRequestLongConnectionList(t *testing.T) {
	list := strings.Repeat(",x-filler", 10000) + ", X-Last"
	client := readRequest(t, "GET / HTTP/1.1\r\nHost: front\r\nX-Last: 1\r\nConnection: "+list+"\r\nX-Keep: 2\r\n\r\n")
	out := outbound(client)
	new(Forwarder).Request(&out.Header, loopback, loopback, client.Header.Host(), backend, false)
	_, got := wireHeader(t, out)
	equalLines(t, got, []string{"Host: " + backend, "X-Keep: 2"})
}

// TestRequestConcurrent shares one Forwarder between goroutines, as the
// server does; run with -race.
func TestRequestConcurrent(t *testing.T) {
	fwd := Forwarder{AddHeaders: true, Via: config.ViaFull, ServerName: "p"}
	client := readRequest(t, typicalRequest)
	want := []string{"User-Agent: Mozilla/5.0 (X11; Linux x86_64)", "Host: " + backend,
		"Accept: text/html,application/xhtml+xml", "Accept-Encoding: gzip, deflate, br",
		"Accept-Language: en-US,en;q=0.9", "Cookie: ROUTEID=.r1; session=abc",
		"X-Forwarded-For: 10.0.0.9, 127.0.0.1", "X-Forwarded-Host: front.example.com:27080",
		"X-Forwarded-Server: p", "Via: 1.1 p (sluice)"}
	var wg sync.WaitGroup
	for range 4 {
		var out fasthttp.Request
		out.Header.DisableNormalizing()
		out.UseHostHeader = true
		wg.Go(func() {
			for range 200 {
				client.Header.CopyTo(&out.Header)
				fwd.Request(&out.Header, loopback, loopback, client.Header.Host(), backend, false)
			}
			_, got := wireHeader(t, &out)
			equalLines(t, got, want)
		})
	}
	wg.Wait()
}

// TestRequestJoinedCookie pins where a Cookie line fasthttp joined (after a
// cookie lookup, as sticky sessions do) lands: written after the field list
// when nothing is removed, moved into the list, before sluice's fields, when
// something is.
func TestRequestJoinedCookie(t *testing.T) {
	const fields = "Cookie: a=1\r\nX-A: 1\r\ncookie: b=2\r\n"
	forwarded := []string{"X-Forwarded-For: 127.0.0.1", "X-Forwarded-Host: front",
		"X-Forwarded-Server: 127.0.0.1:27080", "Via: 1.1 127.0.0.1:27080"}
	for _, tc := range []struct {
		name, raw string
		want      []string
	}{{
		name: "nothing removed",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\n" + fields + "X-B: 2\r\n\r\n",
		want: append(append([]string{"Host: " + backend, "X-A: 1", "X-B: 2"}, forwarded...), "Cookie: a=1; b=2"),
	}, {
		name: "Connection removed",
		raw:  "GET / HTTP/1.1\r\nHost: front\r\n" + fields + "Connection: keep-alive\r\nX-B: 2\r\n\r\n",
		want: append([]string{"Host: " + backend, "X-A: 1", "X-B: 2", "Cookie: a=1; b=2"}, forwarded...),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			client := readRequest(t, tc.raw)
			out := outbound(client)
			out.Header.Cookie("a")
			apacheForwarder.Request(&out.Header, loopback, loopback, client.Header.Host(), backend, false)
			_, got := wireHeader(t, out)
			equalLines(t, got, tc.want)
		})
	}
}

// FuzzRequestKeepsOrder: the fields Request passes on as they are keep
// their names, values, order and duplicates, whatever it removes or merges
// around them.
func FuzzRequestKeepsOrder(f *testing.F) {
	for _, raw := range []string{typicalRequest, plainRequest, hopFieldsRequest,
		"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\nKeep-Alive: 1\r\nX-C: 4\r\nX-B: 5\r\nKeep-Alive: 2\r\nX-E: 7\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nX-A: 1\r\nconnection: x-b\r\nX-B: 2\r\nX-A: 3\r\nCookie: c=1\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\nX-C: 4\r\n\r\n",
	} {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.DisableNormalizing()
		if err := ctx.Request.Header.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return
		}
		if status, _ := Check(&ctx, new(Lines)); status != 0 {
			return
		}
		in := &ctx.Request.Header
		named := map[string]bool{}
		for _, l := range headerLines(in.AppendBytes(nil)) {
			if name, value, _ := strings.Cut(l, ": "); strings.EqualFold(name, "connection") {
				for _, tok := range strings.Split(value, ",") {
					named[strings.ToLower(strings.Trim(tok, " \t"))] = true
				}
			}
		}
		var out fasthttp.RequestHeader
		out.DisableNormalizing()
		in.CopyTo(&out)
		apacheForwarder.Request(&out, loopback, loopback, in.Host(), backend, false)
		want := passedOn(headerLines(in.AppendBytes(nil)), named)
		got := passedOn(headerLines(out.AppendBytes(nil)), named)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("fields passed on\n got: %q\nwant: %q\nfrom: %q", got, want, raw)
		}
	})
}

// headerLines returns the field lines of a serialized header.
func headerLines(b []byte) []string {
	head, _, _ := strings.Cut(string(b), "\r\n\r\n")
	return strings.Split(head, "\r\n")[1:]
}

// passedOn keeps the lines Request passes on as they are: not hop-by-hop or
// named by Connection, not a field it sets or merges into, not an
// underscore name.
func passedOn(lines []string, named map[string]bool) []string {
	var kept []string
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ": ")
		n := strings.ToLower(name)
		switch {
		case named[n], strings.Contains(n, "_"), strings.HasPrefix(n, "x-forwarded-"):
		case n == "connection", n == "keep-alive", n == "proxy-connection", n == "proxy-authenticate",
			n == "proxy-authorization", n == "te", n == "trailer", n == "transfer-encoding", n == "upgrade",
			n == "expect":
		case n == "host", n == "user-agent", n == "content-type", n == "content-length",
			n == "forwarded", n == "x-real-ip", n == "via":
		default:
			kept = append(kept, l)
		}
	}
	return kept
}
