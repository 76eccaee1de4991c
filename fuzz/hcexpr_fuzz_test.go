package fuzz

import (
	"errors"
	"testing"

	"github.com/sluiceproxy/sluice/hcheck/hcexpr"
)

// FuzzHCExpr checks that any ProxyHCExpr text either parses or fails with
// a position inside it, and that a parsed expression evaluates without
// panicking, explains every false result, and composes: !(e) is its
// negation, (e) && true and (e) || false are e.
func FuzzHCExpr(f *testing.F) {
	for _, s := range []string{
		`%{REQUEST_STATUS} =~ /^[234]/`,
		`hc('body') !~ /Under maintenance/`,
		`%{REQUEST_STATUS} -in {'200', "204"} && !(resp('X-State') == 'red')`,
		`%{REQUEST_STATUS} -ge 200 || %{CONTENT_TYPE} =~ m#json#i`,
		`"s=%{REQUEST_STATUS}" < 's=3' && %{HC_BODY} != ''`,
		`(true || false) && false`,
		`hc('body') =~ /(a)\1/`,
		`'unterminated`,
		`%{REQUEST_STATUS} -in {200,`,
	} {
		f.Add(s, 200, []byte("ok"), "green")
	}
	f.Fuzz(func(t *testing.T, src string, status int, body []byte, header string) {
		e, err := hcexpr.Parse(src)
		if err != nil {
			var se *hcexpr.SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(src) {
				t.Fatalf("Parse(%q): %v is not a *SyntaxError inside the source", src, err)
			}
			return
		}
		if e.String() != src {
			t.Fatalf("String() = %q, want %q", e.String(), src)
		}
		in := hcexpr.Input{Status: status, Body: body, Header: func(string) []byte { return []byte(header) }}
		ok, why := e.Eval(in)
		if ok != (why == "") {
			t.Fatalf("%q: ok=%v why=%q", src, ok, why)
		}
		for _, c := range []struct {
			src  string
			want bool
		}{
			{"!(" + src + ")", !ok},
			{"(" + src + ") && true", ok},
			{"(" + src + ") || false", ok},
		} {
			x, err := hcexpr.Parse(c.src)
			if err != nil {
				t.Fatalf("%q parses but %q does not: %v", src, c.src, err)
			}
			if got, _ := x.Eval(in); got != c.want {
				t.Fatalf("%q = %v but %q = %v", src, ok, c.src, got)
			}
		}
	})
}
