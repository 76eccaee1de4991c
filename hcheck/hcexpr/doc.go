// Package hcexpr parses and evaluates ProxyHCExpr conditions: the subset of
// Apache's ap_expr language that health-check configurations use.
//
// Grammar, loosest binding first (as ap_expr: || below && below !):
//
//	expr    = and { "||" and }
//	and     = unary { "&&" unary }
//	unary   = "!" unary | "(" expr ")" | "true" | "false" | compare
//	compare = word op word                      op: == = != < <= > >= (strings)
//	        | word numop word                   numop: -eq -ne -lt -le -gt -ge
//	        | word ( "=~" | "!~" ) regex        regex: /re/ or m#re# (any delimiter), flag i
//	        | word "-in" "{" word { "," word } "}"
//	word    = 'string' | "string" | digits | %{VAR} | func '(' word ')'
//
// Variables (names are case-insensitive): REQUEST_STATUS (the backend's
// status code), CONTENT_TYPE, HC_BODY. Functions: hc('body') (the body read
// by a GET check), resp('Header-Name') (a response header). Quoted strings
// may hold %{VAR} and backslash escapes. Regular expressions are Go's RE2:
// Perl features RE2 lacks (backreferences, look-around) are parse errors.
//
// It imports nothing of sluice, so config validation can use it.
package hcexpr
