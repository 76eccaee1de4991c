package anycase

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestRequest: a field is found whatever the case of its name on the
// wire and in the question, with names kept as sent (as sluice's server
// keeps them); only a whole name matches.
func TestRequest(t *testing.T) {
	var h fasthttp.RequestHeader
	h.DisableNormalizing()
	head := "GET / HTTP/1.1\r\nHost: site\r\nreferer: http://r/\r\nUSER-AGENT: ua/1\r\nX-AB: long\r\nx-a:  short \r\nX-Empty:\r\nCookie: a=1\r\n\r\n"
	if err := h.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"Referer", "http://r/"},
		{"REFERER", "http://r/"},
		{"User-Agent", "ua/1"},
		{"user-agent", "ua/1"},
		{"Host", "site"},
		{"X-A", "short"},
		{"X-AB", "long"},
		{"X-Empty", ""},
		{"cookie", "a=1"},
		{"X-Absent", ""},
	} {
		if got := string(Request(&h, tc.name)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if Request(&h, "X-Absent") != nil {
		t.Error("an absent field is not nil")
	}
	// A header built in code has no lines: fasthttp's view is searched.
	var built fasthttp.RequestHeader
	built.DisableNormalizing()
	built.Set("x-built", "yes")
	if got := string(Request(&built, "X-Built")); got != "yes" {
		t.Errorf("built: %q, want yes", got)
	}
}

// TestResponse: a member's field is found whatever the case of its name,
// with names kept as the member sent them.
func TestResponse(t *testing.T) {
	var h fasthttp.ResponseHeader
	h.DisableNormalizing()
	h.Set("x-cache", "HIT")
	h.Set("X-Served-By", "m1")
	h.SetContentType("text/plain")
	for _, tc := range []struct{ name, want string }{
		{"X-Cache", "HIT"},
		{"x-served-by", "m1"},
		{"content-type", "text/plain"},
		{"X-Absent", ""},
	} {
		if got := string(Response(&h, tc.name)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestInLines: each field of a name is found in turn, in any case, its
// value trimmed; the lines after it are where the next is looked for.
func TestInLines(t *testing.T) {
	raw := []byte("Cookie: a=1\r\nX-Cookie: no\r\nCOOKIE:b=2 \r\nCookie2: no\r\n\r\n")
	var got []string
	for {
		v, rest, found := InLines(raw, "Cookie")
		if !found {
			break
		}
		got, raw = append(got, string(v)), rest
	}
	if strings.Join(got, "|") != "a=1|b=2" {
		t.Errorf("values %q, want a=1 and b=2", got)
	}
}

// TestDelRequest: every field of the name goes, whatever its case, and no
// other.
func TestDelRequest(t *testing.T) {
	var h fasthttp.RequestHeader
	h.DisableNormalizing()
	head := "POST / HTTP/1.1\r\nHost: x\r\nexpect: 100-continue\r\nX-Expect: keep\r\nEXPECT: again\r\nContent-Length: 0\r\n\r\n"
	if err := h.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		t.Fatal(err)
	}
	DelRequest(&h, "Expect")
	var left []string
	for k, v := range h.All() {
		if strings.Contains(strings.ToLower(string(k)), "expect") {
			left = append(left, string(k)+"="+string(v))
		}
	}
	if got := strings.Join(left, " "); got != "X-Expect=keep" {
		t.Errorf("left %q, want X-Expect alone of the three", got)
	}
}

// TestRequestAsEdited: a field looked up is the one fasthttp's view holds
// now, whatever its case on the wire: one removed (as mod_remoteip removes
// what it read) stays removed, one set again is the new value, and a
// field fasthttp keeps apart is found whatever the case asked for, its
// cookies parsed or not.
func TestRequestAsEdited(t *testing.T) {
	read := func(head string) *fasthttp.RequestHeader {
		var h fasthttp.RequestHeader
		h.DisableNormalizing()
		if err := h.Read(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n" + head + "\r\n"))); err != nil {
			t.Fatal(err)
		}
		return &h
	}
	h := read("x-forwarded-for: 203.0.113.7\r\nx-forwarded-by: 6.6.6.6\r\n")
	DelRequest(h, "X-Forwarded-For")
	if v := Request(h, "X-Forwarded-For"); v != nil {
		t.Errorf("a removed field reads %q", v)
	}
	DelRequest(h, "X-Forwarded-By")
	h.Set("X-Forwarded-By", "10.0.0.1")
	if v := string(Request(h, "x-forwarded-by")); v != "10.0.0.1" {
		t.Errorf("a field set again reads %q", v)
	}
	h = read("Accept: */*\r\n")
	h.Set("X-Forwarded-By", "10.0.0.2") // added by sluice, spelt as configured
	if v := string(Request(h, "x-forwarded-by")); v != "10.0.0.2" {
		t.Errorf("a field sluice added reads %q", v)
	}
	h = read("USER-AGENT: ua/1\r\ncookie: a=1\r\n")
	if v := string(Request(h, "user-agent")); v != "ua/1" {
		t.Errorf("user-agent reads %q", v)
	}
	if v := string(Request(h, "Cookie")); v != "a=1" {
		t.Errorf("Cookie, unparsed, reads %q", v)
	}
	for range h.All() { // parses the cookies, which leave fasthttp's list
	}
	if v := string(Request(h, "cookie")); v != "a=1" {
		t.Errorf("cookie, parsed, reads %q", v)
	}
}

// TestApart: each name fasthttp keeps apart is known in any case, and no
// other name is, those of the same lengths included.
func TestApart(t *testing.T) {
	for _, s := range []string{"Host", "Cookie", "Trailer", "User-Agent", "Connection", "Content-Type",
		"Content-Length", "Content-Encoding", "Transfer-Encoding", "Server", "Set-Cookie", "Date"} {
		for _, n := range []string{s, strings.ToLower(s), strings.ToUpper(s)} {
			if got := Apart(n); got != s {
				t.Errorf("Apart(%q) = %q, want %q", n, got, s)
			}
		}
	}
	for _, n := range []string{"", "Hos", "Hist", "Data", "Cookies", "Sender", "Referer", "User-Agenx",
		"Connectiom", "Set-Cookiz", "Content-Typo", "Content-Lengtx", "Content-Encodinx", "Transfer-Encodinx",
		"X-Forwarded-For", "Accept"} {
		if got := Apart(n); got != "" {
			t.Errorf("Apart(%q) = %q, want none", n, got)
		}
	}
}
