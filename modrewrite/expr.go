package modrewrite

import "errors"

// Expr is a string with %{NAME} server variables, the form of ap_expr
// string that mod_headers' expr= values use ("expr=%{REQUEST_SCHEME}").
type Expr struct {
	t template
}

// CompileExpr compiles an expr= string; back-references are refused.
func CompileExpr(s string) (*Expr, error) {
	t, err := parseTemplate(s)
	if err != nil {
		return nil, err
	}
	for _, sg := range t {
		if sg.kind == segRuleRef || sg.kind == segCondRef {
			return nil, errors.New("expr= strings take %{NAME} variables, not $N or %N back-references")
		}
		if sg.kind == segEnv {
			return nil, errors.New("%{ENV:" + sg.lit + "} is not supported in expr= (write %{" + sg.lit + "}e)")
		}
	}
	return &Expr{t: t}, nil
}

// UsesSSL reports whether the expression reads a mod_ssl variable: the
// Request must then carry the connection's TLS state.
func (e *Expr) UsesSSL() bool { return e.t.usesSSL() }

// Append appends the expression's value for r to dst.
func (e *Expr) Append(dst []byte, r *Request) []byte { return e.t.expand(dst, r, nil, nil, nil) }
