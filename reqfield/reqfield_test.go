package reqfield

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestGet: a field is found whatever the case of its name on the
// wire and in the question, with names kept as sent (as sluice's server
// keeps them); only a whole name matches.
func TestGet(t *testing.T) {
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
		if got := string(Get(&h, tc.name)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if Get(&h, "X-Absent") != nil {
		t.Error("an absent field is not nil")
	}
	// A header built in code has no lines: fasthttp's view is searched.
	var built fasthttp.RequestHeader
	built.DisableNormalizing()
	built.Set("x-built", "yes")
	if got := string(Get(&built, "X-Built")); got != "yes" {
		t.Errorf("built: %q, want yes", got)
	}
}
