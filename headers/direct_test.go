package headers

import (
	"bufio"
	"bytes"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// directLines is what the server writes for a request when it builds the
// head itself: Host, as Request sets it, then the fields of
// AppendRequestFields (the transport adds the body's framing), given the
// client's address as text, as the server does, for the loopback client,
// and left to format it for any other.
func directLines(tb testing.TB, fwd *Forwarder, client *fasthttp.RequestHeader, ip net.IP) []string {
	tb.Helper()
	host := backend
	if fwd.PreserveHost && len(client.Host()) > 0 {
		host = string(client.Host())
	}
	var ipText []byte
	if ip.Equal(loopback) {
		ipText = []byte("127.0.0.1")
	}
	var l Lines
	if status, reason := checkFields(client.RawHeaders(), &l); status != 0 {
		tb.Fatalf("checkFields: %d %s", status, reason)
	}
	fields := fwd.AppendRequestFields(nil, &l, ip, ipText, client.Host(), client.Protocol())
	l.table = false // the fields found again from the lines
	if again := fwd.AppendRequestFields(nil, &l, ip, ipText, client.Host(), client.Protocol()); !bytes.Equal(again, fields) {
		tb.Fatalf("fields from the lines %q, from Check's table %q", again, fields)
	}
	lines := []string{"Host: " + host}
	if len(fields) > 0 {
		lines = append(lines, strings.Split(strings.TrimSuffix(string(fields), "\r\n"), "\r\n")...)
	}
	return lines
}

// sameFields reports whether two outbound field lists are the same fields:
// the same lines in the same order, but for Host, User-Agent and
// Content-Type, which fasthttp writes ahead of the others, with names as
// it spells them, once with the last value the client gave (and not at all
// when that is empty): AppendRequestFields passes them on as they came.
func sameFields(a, b []string) bool {
	apart := func(lines []string) (rest, first []string) {
		last := map[string]string{}
		for _, l := range lines {
			name, value, _ := strings.Cut(l, ":")
			switch name = strings.ToLower(name); name {
			case "user-agent", "content-type", "host":
				last[name] = value
			case "content-length": // the body's framing is the transport's
			default:
				rest = append(rest, l)
			}
		}
		for name, value := range last {
			if strings.TrimSpace(value) != "" {
				first = append(first, name+":"+value)
			}
		}
		slices.Sort(first)
		return rest, first
	}
	ra, fa := apart(a)
	rb, fb := apart(b)
	return slices.Equal(ra, rb) && slices.Equal(fa, fb)
}

// TestAppendRequestFieldsAsRequest runs requests like TestRequest's through
// both ways of building the outbound fields.
func TestAppendRequestFieldsAsRequest(t *testing.T) {
	trusted, err := NewTrusted([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	forwarders := []Forwarder{
		{},
		apacheForwarder,
		{AddHeaders: true, Via: config.ViaFull, ServerName: "p", Trusted: trusted},
		{Via: config.ViaBlock, PreserveHost: true},
	}
	raws := []string{typicalRequest, plainRequest, hopFieldsRequest, ipHostRequest,
		"GET / HTTP/1.1\r\nHost: front\r\nConnection: keep-alive, X-Secret, Upgrade\r\n" +
			"Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n" +
			"Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n" +
			"Proxy-Authenticate: Basic\r\nX-Secret: s\r\nX-Keep: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nX-Foo: 1\r\nConnection: close, X-Foo\r\nX-Bar: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nConnection: ,, X-A ,\tX-B,\r\nX-A: 1\r\nX-B: 2\r\nConnection: X-C\r\nX-C: 3\r\nX-D: 4\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nte: gzip, Trailers\r\nX-A: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nx-forwarded-host: edge\r\nX-A: 1\r\nx-forwarded-server: edge-proxy\r\nX-B: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nX-Forwarded-For: 1.1.1.1\r\nX-A: 1\r\nx-forwarded-for: 2.2.2.2, 3.3.3.3\r\nX-B: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nConnection: close, X-Forwarded-For, Host, Expect\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nUser-Agent: ua\r\nCookie: a=1\r\nConnection: User-Agent, Cookie\r\nX-A: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nx-lower: 1\r\nX-UPPER: 2\r\nX-Dup: a\r\nKeep-Alive: 5\r\nCookie: a=1\r\nX-Dup: b\r\ncookie: b=2\r\nUser-Agent: ua\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nvia: 1.0 fred\r\nX-A: 1\r\nVIA: 1.1 evil\r\n\r\n",
		"GET / HTTP/1.0\r\nX-A: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\n" +
			"X_Forwarded_For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-A: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: front\r\nContent_Length: 9\r\nTransfer_Encoding: chunked\r\nX_Api_Key: k\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: front\r\nExpect: 100-continue\r\nX-Empty:\r\nX-Spaces: \t a b \t\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: front\r\nContent-Type: text/plain\r\nConnection: close, Content-Length, Content-Type\r\nContent-Length: 2\r\n\r\nhi",
		"PUT / HTTP/1.1\r\nHost: front\r\nContent-Length: 2\r\nExpect: 100-continue\r\nX-A: 1\r\n\r\nhi",
	}
	for _, raw := range raws {
		for _, ip := range []net.IP{loopback, clientIP, net.ParseIP("::1")} {
			for i := range forwarders {
				fwd := &forwarders[i]
				client := readRequest(t, raw)
				out := outbound(client)
				fwd.Request(&out.Header, ip, ip, client.Header.Host(), backend, false)
				_, want := wireHeader(t, out)
				if got := directLines(t, fwd, &client.Header, ip); !sameFields(got, want) {
					t.Errorf("forwarder %d, %v, %q:\n got: %q\nwant: %q", i, ip, raw, got, want)
				}
			}
		}
	}
}

// FuzzAppendRequestFields holds the fields built from the client's bytes to
// those Request leaves in a copied header, for any request Check passes.
func FuzzAppendRequestFields(f *testing.F) {
	for _, raw := range []string{typicalRequest, plainRequest, hopFieldsRequest, ipHostRequest,
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nX-A: 1\r\nconnection: x-b\r\nX-B: 2\r\nX-A: 3\r\nCookie: c=1\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\nX-C: 4\r\n\r\n",
		"GET / HTTP/1.0\r\nVia: 1.0 a\r\nTE: trailers\r\nExpect: 100-continue\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nUser-Agent: u\r\n\r\nhi",
		// Lines copied as they are beside lines written anew (asWritten).
		"GET / HTTP/1.1\r\nX-A: 1\r\nX-B:2\r\nX-C:  3 \r\nHost: a\r\nX-D: \r\nX-E:\r\nX-F: 6\t\r\nX-G: 7\r\nKeep-Alive: 1\r\nX-H: 8\r\n\r\n",
	} {
		f.Add([]byte(raw), uint8(0))
	}
	trusted, err := NewTrusted([]string{"10.0.0.0/8"})
	if err != nil {
		f.Fatal(err)
	}
	forwarders := []Forwarder{
		apacheForwarder,
		{},
		{AddHeaders: true, Via: config.ViaFull, ServerName: "p", Trusted: trusted},
		{Via: config.ViaBlock, PreserveHost: true},
	}
	f.Fuzz(func(t *testing.T, raw []byte, which uint8) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.DisableNormalizing()
		if err := ctx.Request.Header.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return
		}
		in := &ctx.Request.Header
		if status, _ := Check(&ctx, new(Lines)); status != 0 || in.ContentLength() == -1 {
			return
		}
		fwd := &forwarders[int(which)%len(forwarders)]
		ip := []net.IP{loopback, clientIP}[int(which/4)%2]
		var out fasthttp.Request
		out.Header.DisableNormalizing()
		in.CopyTo(&out.Header)
		out.UseHostHeader = true
		fwd.Request(&out.Header, ip, ip, in.Host(), backend, false)
		_, want := wireHeader(t, &out)
		if got := directLines(t, fwd, in, ip); !sameFields(got, want) {
			t.Fatalf("fields\n got: %q\nwant: %q\nfrom: %q", got, want, raw)
		}
	})
}

// TestLineEditable: a RequestHeader rule keeps the own head unless its
// field is one fasthttp keeps apart or the Forwarder manages, in any case.
func TestLineEditable(t *testing.T) {
	for _, name := range []string{"Host", "content-length", "Content-Type", "User-Agent", "COOKIE", "Connection",
		"Transfer-Encoding", "Trailer", "TE", "Upgrade", "Keep-Alive", "Expect",
		"Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate"} {
		if LineEditable(name) {
			t.Errorf("LineEditable(%q) = true", name)
		}
	}
	for _, name := range []string{"X-Forwarded-Proto", "X-Forwarded-For", "Via", "Accept", "Keep_Alive", "X-Cookie", "Authorization"} {
		if !LineEditable(name) {
			t.Errorf("LineEditable(%q) = false", name)
		}
	}
}
