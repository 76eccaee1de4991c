package hcexpr

import (
	"errors"
	"strings"
	"testing"
)

func input(status int, body string, headers ...string) Input {
	in := Input{Status: status, Body: []byte(body)}
	if len(headers) > 0 {
		in.Header = func(name string) []byte {
			for i := 0; i+1 < len(headers); i += 2 {
				if strings.EqualFold(headers[i], name) {
					return []byte(headers[i+1])
				}
			}
			return nil
		}
	}
	return in
}

func TestEval(t *testing.T) {
	tests := []struct {
		src  string
		in   Input
		want bool
	}{
		// The examples of Apache's manual and of real configs.
		{`%{REQUEST_STATUS} =~ /^[234]/`, input(204, ""), true},
		{`%{REQUEST_STATUS} =~ /^[234]/`, input(503, ""), false},
		{`%{REQUEST_STATUS} =~ /^[5]/`, input(500, ""), true},
		{`hc('body') !~ /Under maintenance/`, input(200, "all good"), true},
		{`hc('body') !~ /Under maintenance/`, input(200, "<h1>Under maintenance</h1>"), false},
		{`hc('body') =~ /issuer/`, input(200, `{"issuer":"x"}`), true},
		{`%{HC_BODY} =~ m#ok#`, input(200, "ok"), true},
		{`HC('BODY') =~ /OK/i`, input(200, "ok"), true},
		{`%{request_status} == 200`, input(200, ""), true},
		// String comparisons are lexical, as ap_expr's.
		{`%{REQUEST_STATUS} == '200'`, input(200, ""), true},
		{`%{REQUEST_STATUS} = "200"`, input(200, ""), true},
		{`%{REQUEST_STATUS} != '200'`, input(200, ""), false},
		{`%{REQUEST_STATUS} < '3'`, input(299, ""), true},
		{`%{REQUEST_STATUS} <= '299'`, input(299, ""), true},
		{`%{REQUEST_STATUS} > '3'`, input(1000, ""), false}, // "1000" < "3" lexically
		{`%{REQUEST_STATUS} >= '2'`, input(200, ""), true},
		// Numeric comparisons.
		{`%{REQUEST_STATUS} -eq 200`, input(200, ""), true},
		{`%{REQUEST_STATUS} -ne 200`, input(201, ""), true},
		{`%{REQUEST_STATUS} -lt 400`, input(399, ""), true},
		{`%{REQUEST_STATUS} -le 399`, input(400, ""), false},
		{`%{REQUEST_STATUS} -gt 3`, input(1000, ""), true},
		{`%{REQUEST_STATUS} -ge 200 && %{REQUEST_STATUS} -lt 300`, input(250, ""), true},
		{`hc('body') -eq 5`, input(200, "five"), false}, // not an integer
		// -in, logic and grouping.
		{`%{REQUEST_STATUS} -in {'200', '204', "301"}`, input(204, ""), true},
		{`%{REQUEST_STATUS} -in {'200','204'}`, input(500, ""), false},
		{`!(%{REQUEST_STATUS} =~ /^5/)`, input(200, ""), true},
		{`! %{REQUEST_STATUS} =~ /^5/`, input(503, ""), false},
		{`!!true`, input(0, ""), true},
		{`false || true`, input(0, ""), true},
		{`true || false && false`, input(0, ""), true}, // && binds tighter
		{`(true || false) && false`, input(0, ""), false},
		{`%{REQUEST_STATUS} -eq 200 && hc('body') =~ /ready/ || %{REQUEST_STATUS} -eq 204`, input(204, ""), true},
		// Headers, Content-Type and interpolation.
		{`resp('X-Health') == 'green'`, input(200, "", "x-health", "green"), true},
		{`resp('X-Health') == 'green'`, input(200, ""), false},
		{`%{CONTENT_TYPE} =~ m|^application/json|`, input(200, "", "Content-Type", "application/json; charset=utf-8"), true},
		{`"s=%{REQUEST_STATUS}" == 's=200'`, input(200, ""), true},
		{`'it\'s' == "it's"`, input(0, ""), true},
		{`hc('body') =~ /a\/b/`, input(200, "xa/by"), true},
		{`hc('body') == ''`, input(200, ""), true},
	}
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		got, why := e.Eval(tt.in)
		if got != tt.want {
			t.Errorf("%q on status %d body %q = %v (%s), want %v", tt.src, tt.in.Status, tt.in.Body, got, why, tt.want)
		}
		if got != (why == "") {
			t.Errorf("%q: ok=%v but why=%q", tt.src, got, why)
		}
		if e.String() != tt.src {
			t.Errorf("String() = %q, want %q", e.String(), tt.src)
		}
	}
}

func TestWhy(t *testing.T) {
	tests := []struct {
		src, want string
		in        Input
	}{
		{`%{REQUEST_STATUS} =~ /^[234]/`, `%{REQUEST_STATUS} =~ /^[234]/ was false (%{REQUEST_STATUS} is "503")`, input(503, "")},
		{`hc('body') !~ /Under maintenance/`, `hc('body') !~ /Under maintenance/ was false (hc('body') is "Under maintenance")`, input(200, "Under maintenance")},
		{`%{REQUEST_STATUS} -eq 200 && hc('body') =~ /ready/`, `hc('body') =~ /ready/ was false (hc('body') is "starting")`, input(200, "starting")},
		{`%{REQUEST_STATUS} -eq 200 || true && false`, `%{REQUEST_STATUS} -eq 200 was false (%{REQUEST_STATUS} is "500"); false`, input(500, "")},
		{`!(%{REQUEST_STATUS} -gt 499)`, `!(%{REQUEST_STATUS} -gt 499) was false (%{REQUEST_STATUS} -gt 499 was true)`, input(500, "")},
		{`hc('body') -eq 1`, `hc('body') -eq 1 was false (hc('body') is "x", not an integer)`, input(200, "x")},
		{`'a' == 'b'`, `'a' == 'b' was false`, input(200, "")},
		{`%{REQUEST_STATUS} -in {'200', resp('X-Ok')}`, `%{REQUEST_STATUS} -in {'200', resp('X-Ok')} was false (%{REQUEST_STATUS} is "500"; resp('X-Ok') is "")`, input(500, "")},
		{`hc('body') == 'x'`, `hc('body') == 'x' was false (hc('body') is "` + strings.Repeat("y", 64) + `"… (100 bytes))`, input(200, strings.Repeat("y", 100))},
	}
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.src, err)
		}
		ok, why := e.Eval(tt.in)
		if ok || why != tt.want {
			t.Errorf("%q: got %v %q\nwant false %q", tt.src, ok, why, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{``, `column 1: empty expression`},
		{`   `, `column 4: empty expression`},
		{`%{REQUEST_STATUS}`, `column 18: expected an operator after %{REQUEST_STATUS}, found end of expression (allowed: == != < <= > >= -eq -ne -lt -le -gt -ge =~ !~ -in)`},
		{`%{REQUEST_STATUS} -foo 1`, `column 19: unknown operator -foo (allowed: == != < <= > >= -eq -ne -lt -le -gt -ge =~ !~ -in)`},
		{`%{REQUEST_STATUS} -inx {1}`, `column 19: unknown operator -inx (allowed: == != < <= > >= -eq -ne -lt -le -gt -ge =~ !~ -in)`},
		{`%{NOPE} == 1`, `column 1: unknown variable %{NOPE} (allowed: REQUEST_STATUS, CONTENT_TYPE, HC_BODY)`},
		{`%{REQUEST_STATUS == 1`, `column 1: unclosed %{`},
		{`%REQUEST_STATUS == 1`, `column 1: expected %{ to start a variable`},
		{`hc('head') == 1`, `column 4: hc() takes only 'body', not "head"`},
		{`foo('x') == 1`, `column 1: unknown function foo() (allowed: hc, resp)`},
		{`body == 1`, `column 1: unknown word "body" (quote strings: 'body')`},
		{`resp(%{REQUEST_STATUS}) == 1`, `column 6: the argument of resp() must be a constant string`},
		{`resp('') == 1`, `column 6: resp() needs a header name`},
		{`hc('body' == 1`, `column 11: expected ) to close hc(, found "== 1"`},
		{`'abc == 1`, `column 1: unterminated string`},
		{`hc('body') =~ /abc`, `column 15: unterminated regex`},
		{`hc('body') =~ abc`, `column 15: expected a /regex/ after =~, found "abc"`},
		{`hc('body') =~ /a/x`, `column 18: unknown regex flag "x" (allowed: i)`},
		{`hc('body') =~ /(a/`, "column 15: cannot compile regex /(a/: error parsing regexp: missing closing ): `(a`"},
		{`hc('body') =~ /(a)\1/`, "column 15: cannot compile regex /(a)\\1/: error parsing regexp: invalid escape sequence: `\\1`"},
		{`%{REQUEST_STATUS} -in 200`, `column 23: expected { after -in, found "200"`},
		{`%{REQUEST_STATUS} -in {200 204}`, `column 28: expected , or } in the -in list, found "204}"`},
		{`%{REQUEST_STATUS} -in {200,`, `column 28: expected a value, found end of expression`},
		{`%{REQUEST_STATUS} -in {200`, `column 23: unclosed { in the -in list`},
		{`(true`, `column 6: expected ) to close the ( at column 1, found end of expression`},
		{`true false`, `column 6: unexpected "false" after the expression`},
		{`true &&`, `column 8: expected a condition, found end of expression`},
		{`true ||| false`, `column 8: expected a value ('string', number, %{VAR} or function call), found "| false"`},
		{`!= 1`, `column 1: expected a value ('string', number, %{VAR} or function call), found "!= 1"`},
		{`%{REQUEST_STATUS} == `, `column 22: expected a value, found end of expression`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tt.src, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tt.src, err, tt.want)
		}
		if se.Offset < 0 || se.Offset > len(tt.src) {
			t.Errorf("Parse(%q): offset %d out of range", tt.src, se.Offset)
		}
	}
}
