package fuzz

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/headers"
)

// FuzzRequestHygiene parses arbitrary request bytes as sluice's server does.
// When fasthttp accepts them and headers.Check passes them, the outbound
// header Forwarder.Request prepares must carry no hop-by-hop field and no
// field the client's Connection named, other than those sluice writes
// itself, and must serialize.
func FuzzRequestHygiene(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, Upgrade\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nX-Secret: s\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Forwarded-For, Host, Content-Length\r\nX-Forwarded-For: 1.2.3.4\r\nContent-Length: 2\r\n\r\nhi",
		"GET / HTTP/1.1\r\nHost: a\r\nconnection: x-foo, Cookie\r\nX-FOO: 1\r\nCookie: a=1\r\ncookie: b=2\r\nVia: 1.0 fred\r\nvia: 1.1 x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: User-Agent, Content-Type\r\nUser-Agent: u\r\nContent-Type: text/plain\r\n\r\n0\r\n\r\n",
		"GET http://a/x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\nConnection: ,, ,\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	fwd := headers.Forwarder{AddHeaders: true, Via: config.ViaOn, ServerName: "proxy"}
	ip := net.IPv4(127, 0, 0, 1)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.DisableNormalizing()
		if err := ctx.Request.Header.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return
		}
		if status, _ := headers.Check(&ctx, new(headers.Lines)); status != 0 {
			return
		}
		named := connectionNames(&ctx.Request.Header)

		var out fasthttp.Request
		out.Header.DisableNormalizing()
		ctx.Request.Header.CopyTo(&out.Header)
		out.UseHostHeader = true
		fwd.Request(&out.Header, ip, ip, ctx.Request.Header.Host(), "backend:8080", false)

		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := out.Write(w); err != nil {
			t.Fatalf("cannot write the outbound request: %v", err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(b.String(), "\r\n\r\n")
		for _, line := range strings.Split(head, "\r\n")[1:] {
			name, value, _ := strings.Cut(line, ": ")
			lname := strings.ToLower(name)
			switch lname {
			case "connection":
				if value != "TE" || !strings.Contains(head, "\r\nTE: trailers") {
					t.Fatalf("Connection other than sluice's TE option forwarded: %q\nin:  %q\nout: %q", line, raw, b.String())
				}
			case "keep-alive", "proxy-connection", "proxy-authorization",
				"proxy-authenticate", "trailer", "transfer-encoding", "upgrade":
				t.Fatalf("hop-by-hop field %q forwarded\nin:  %q\nout: %q", line, raw, b.String())
			case "te":
				if value != "trailers" {
					t.Fatalf("TE other than trailers forwarded: %q", line)
				}
			}
			if named[lname] && !sluiceWrites(lname) {
				t.Fatalf("field %q named by Connection forwarded\nin:  %q\nout: %q", name, raw, b.String())
			}
		}
	})
}

// connectionNames returns the lower-cased names the client's Connection
// fields list.
func connectionNames(h *fasthttp.RequestHeader) map[string]bool {
	named := map[string]bool{}
	for k, v := range h.All() {
		if !strings.EqualFold(string(k), "connection") {
			continue
		}
		for _, tok := range strings.Split(string(v), ",") {
			named[strings.ToLower(strings.Trim(tok, " \t"))] = true
		}
	}
	return named
}

// sluiceWrites reports the fields sluice (or fasthttp's framing) sets
// after removing the client's, whatever Connection said.
func sluiceWrites(name string) bool {
	switch name {
	case "host", "content-length", "content-type", "te",
		"x-forwarded-for", "x-forwarded-host", "x-forwarded-server", "via":
		return true
	}
	return false
}
