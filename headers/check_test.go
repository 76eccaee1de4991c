package headers

import (
	"bufio"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// checkServer serves Check behind a fasthttp.Server configured as sluice's
// (names not normalized, streamed bodies) on an in-memory listener. A
// request Check refuses is answered with its status and reason and the
// header X-Refused.
func checkServer(t *testing.T) *fasthttputil.InmemoryListener {
	t.Helper()
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if status, reason := Check(ctx, new(Lines)); status != 0 {
				ctx.Error(reason, status) // resets the header: set X-Refused after
				ctx.Response.Header.Set("X-Refused", "1")
				ctx.SetConnectionClose()
				return
			}
			ctx.SetBodyString("ok")
		},
		DisableHeaderNamesNormalizing: true,
		StreamRequestBody:             true,
		ReadTimeout:                   5 * time.Second,
		Logger:                        quietLogger{},
	}
	ln := fasthttputil.NewInmemoryListener()
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	t.Cleanup(func() {
		_ = srv.Shutdown()
		wg.Wait()
	})
	return ln
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

func TestCheckThroughServer(t *testing.T) {
	const smuggled = "0\r\n\r\nGET /smug HTTP/1.1\r\nHost: a\r\n\r\n" // 36 bytes
	manyFields := strings.Repeat("X-N: 1\r\n", MaxFields)
	tests := []struct {
		name    string
		raw     string
		status  int
		reason  string // Check's reason; "" when fasthttp answers itself
		refused bool
	}{
		// Accepted by fasthttp v1.78.0, refused by Check (threats.md §1.2).
		{"inner space in a name (SMG-04)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\nTransfer Encoding: chunked\r\n\r\n" + smuggled, 400, reasonFieldName, true},
		{"inner space in another name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", 400, reasonFieldName, true},
		{"CONNECT (SMG-11)", "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", 405, reasonConnect, true},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405, reasonTrace, true},
		{"HTTP/0.9 request line (SMG-08)", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, reasonVersion, true},
		{"HTTP/1.2 request line", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, reasonVersion, true},
		{"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, reasonVersion, true},
		{"userinfo in Host (SMG-10)", "GET / HTTP/1.1\r\nHost: evil@good\r\n\r\n", 400, reasonHost, true},
		{"userinfo in the target", "GET http://good.example@evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400, reasonUserinfo, true},
		{"absolute-form authority differs from Host (SMG-09)", "GET http://evil.example/x HTTP/1.1\r\nHost: good.example\r\n\r\n", 400, reasonHostMismatch, true},
		{"absolute-form port differs from Host", "GET http://good.example:8080/x HTTP/1.1\r\nHost: good.example\r\n\r\n", 400, reasonHostMismatch, true},
		{"absolute-form with another scheme", "GET gopher://good.example/ HTTP/1.1\r\nHost: good.example\r\n\r\n", 400, reasonTarget, true},
		{"non-ASCII Host (SMG-12)", "GET / HTTP/1.1\r\nHost: abc\xa0\r\n\r\n", 400, reasonHost, true},
		{"Host label ..", "GET / HTTP/1.1\r\nHost: ..\r\n\r\n", 400, reasonHost, true},
		{"Host port over 65535", "GET / HTTP/1.1\r\nHost: 127.0.0.1:99999\r\n\r\n", 400, reasonHost, true},
		{"CL then TE (SMG-01)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, 400, reasonFraming, true},
		{"fragment in the target (HDR-13)", "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, reasonTarget, true},
		{"octal IPv4 Host (SMG-09)", "GET / HTTP/1.1\r\nHost: 017700000001\r\n\r\n", 400, reasonHost, true},
		{"hyphen-edged Host label (SMG-12)", "GET / HTTP/1.1\r\nHost: -bad-\r\n\r\n", 400, reasonHost, true},
		{"TE then CL (SMG-02)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1f\r\nGET /smug HTTP/1.1\r\nHost: a\r\n\r\n\r\n0\r\n\r\n", 400, reasonFraming, true},
		{"TE identity with CL (SMG-03)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\nTransfer-Encoding: identity\r\n\r\n" + smuggled, 400, reasonFraming, true},
		{"TE identity alone", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501, reasonCoding, true},
		{"obs-fold (SMG-07e)", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", 400, reasonFold, true},
		{"bare LF inside a CRLF block (SMG-07a)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\nX-A: b\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, 400, reasonLineEnd, true},
		{"more than MaxFields fields", "GET / HTTP/1.1\r\nHost: a\r\n" + manyFields + "\r\n", 431, reasonTooMany, true},

		// Passed on.
		{"plain GET", "GET / HTTP/1.1\r\nHost: front.example.com:27080\r\n\r\n", 200, "", false},
		{"MaxFields fields", "GET / HTTP/1.1\r\n" + manyFields[8:] + "Host: a\r\n\r\n", 200, "", false},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 200, "", false},
		{"IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200, "", false},
		{"FQDN Host with a trailing dot", "GET / HTTP/1.1\r\nHost: front.example.\r\n\r\n", 200, "", false},
		{"absolute-form equal to Host but for case and default port", "GET http://Good.Example:80/x HTTP/1.1\r\nHost: good.example\r\n\r\n", 200, "", false},
		{"https absolute-form with its default port in Host", "GET https://good.example/x HTTP/1.1\r\nHost: good.example:443\r\n\r\n", 200, "", false},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 200, "", false},
		{"chunked body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 200, "", false},
		{"underscore names are tokens", "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n", 200, "", false},

		// Refused by fasthttp itself: kept to notice a fasthttp change.
		{"space before the colon", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\nTransfer-Encoding : chunked\r\n\r\n" + smuggled, 400, "", false},
		{"duplicate Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, "", false},
		{"GET *", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "", false},
		{"Host with a percent-encoding", "GET / HTTP/1.1\r\nHost: a%2fb\r\n\r\n", 400, "", false},
		{"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "", false},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", 400, "", false},
	}
	ln := checkServer(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ln.Dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte(tc.raw)); err != nil {
				t.Fatal(err)
			}
			var resp fasthttp.Response
			if err := resp.Read(bufio.NewReader(c)); err != nil {
				t.Fatalf("cannot read response: %v", err)
			}
			if got := resp.StatusCode(); got != tc.status {
				t.Errorf("status %d, want %d (body %q)", got, tc.status, resp.Body())
			}
			refused := len(resp.Header.Peek("X-Refused")) > 0
			if refused != tc.refused {
				t.Errorf("refused by Check: %v, want %v", refused, tc.refused)
			}
			if tc.refused && string(resp.Body()) != tc.reason {
				t.Errorf("reason %q, want %q", resp.Body(), tc.reason)
			}
		})
	}
}

// Check reports an Upgrade field only for a request it lets go on.
func TestCheckUpgrade(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		upgrade bool
	}{
		{"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; b=2\r\n\r\n", false},
		{"GET http://b/ HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", false}, // refused: Host differs
	} {
		var ctx fasthttp.RequestCtx
		readRequest(t, tc.raw).CopyTo(&ctx.Request)
		var l Lines
		if Check(&ctx, &l); l.Upgrade != tc.upgrade {
			t.Errorf("Check(%q): upgrade %v, want %v", tc.raw, l.Upgrade, tc.upgrade)
		}
	}
}
