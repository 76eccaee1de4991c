package headers

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluiceproxy/sluice/config"
)

// readRequest parses raw as the server does: header names not normalized.
func readRequest(t testing.TB, raw string) *fasthttp.Request {
	t.Helper()
	req := new(fasthttp.Request)
	req.Header.DisableNormalizing()
	if err := req.Read(bufio.NewReaderSize(strings.NewReader(raw), len(raw)+16)); err != nil {
		t.Fatalf("cannot read a %d-byte request: %.200v", len(raw), err)
	}
	return req
}

// outbound copies the client's request into a fresh outbound request, as
// the server does before calling Forwarder.Request.
func outbound(client *fasthttp.Request) *fasthttp.Request {
	out := new(fasthttp.Request)
	out.Header.DisableNormalizing()
	client.Header.CopyTo(&out.Header)
	out.SetBodyRaw(client.Body())
	out.UseHostHeader = true
	return out
}

// wireHeader writes req and returns its header block: the lines between the
// request line and the blank line.
func wireHeader(t testing.TB, req *fasthttp.Request) (requestLine string, lines []string) {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := req.Write(w); err != nil {
		t.Fatalf("cannot write request: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(b.String(), "\r\n\r\n")
	if !ok {
		t.Fatalf("no header end in %q", b.String())
	}
	all := strings.Split(head, "\r\n")
	return all[0], all[1:]
}

// responseLines returns the header lines fasthttp would write for h,
// without the Date line it generates.
func responseLines(h *fasthttp.ResponseHeader) []string {
	head := strings.TrimSuffix(h.String(), "\r\n\r\n")
	var lines []string
	for _, l := range strings.Split(head, "\r\n")[1:] {
		if !strings.HasPrefix(l, "Date: ") {
			lines = append(lines, l)
		}
	}
	return lines
}

func equalLines(t testing.TB, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("header lines\n got: %q\nwant: %q", got, want)
	}
}

var (
	loopback = net.IPv4(127, 0, 0, 1)
	clientIP = net.ParseIP("10.0.0.9")
)

// typicalRequest is a browser request: its Connection: keep-alive is
// removed in place, the rest of the field list stays.
const typicalRequest = "GET /app/page?id=7 HTTP/1.1\r\nHost: front.example.com:27080\r\n" +
	"Connection: keep-alive\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
	"Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\nCookie: ROUTEID=.r1; session=abc\r\n" +
	"X-Forwarded-For: 10.0.0.9\r\n\r\n"

// plainRequest has no hop-by-hop field: Request edits in place.
const plainRequest = "GET /app/page?id=7 HTTP/1.1\r\nHost: front.example.com:27080\r\n" +
	"User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"

// hopFieldsRequest is typicalRequest as an older browser sends it, with a
// Keep-Alive field: the field list has to be rebuilt from there on.
const hopFieldsRequest = "GET /app/page?id=7 HTTP/1.1\r\nHost: front.example.com:27080\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: text/html,application/xhtml+xml\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\nKeep-Alive: 300\r\n" +
	"Connection: keep-alive\r\nCookie: ROUTEID=.r1; session=abc\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n"

// ipHostRequest is what a load generator sends (wrk, benchmarks/instructions.sh).
const ipHostRequest = "GET /small HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"

// nginxResponse carries Connection only; plainResponse, as Go and fasthttp
// backends answer, no hop-by-hop field at all.
const (
	nginxResponse = "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 22:38:16 GMT\r\n" +
		"Content-Type: text/html\r\nContent-Length: 1234\r\nConnection: keep-alive\r\nETag: \"abc\"\r\n" +
		"Cache-Control: no-cache\r\n\r\n"
	plainResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1234\r\n" +
		"ETag: \"abc\"\r\nCache-Control: no-cache\r\nDate: Thu, 26 Nov 2026 22:38:16 GMT\r\n\r\n"
)

// typicalResponse is as Node.js answers, with Connection and Keep-Alive.
const typicalResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1234\r\n" +
	"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nETag: \"abc\"\r\nSet-Cookie: a=1; Path=/\r\n" +
	"Cache-Control: no-cache\r\n\r\n"

var apacheForwarder = Forwarder{AddHeaders: true, Via: config.ViaOn, ServerName: "127.0.0.1:27080"}

// linesOf is h's header block as Check reads it, with its table.
func linesOf(tb testing.TB, h *fasthttp.RequestHeader) *Lines {
	tb.Helper()
	l := new(Lines)
	if status, reason := checkFields(h.RawHeaders(), l); status != 0 || !l.table {
		tb.Fatalf("checkFields: %d %s, table %v", status, reason, l.table)
	}
	return l
}
