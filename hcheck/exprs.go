package hcheck

import (
	"fmt"

	"github.com/sluiceproxy/sluice/config"
	"github.com/sluiceproxy/sluice/hcheck/hcexpr"
)

// Exprs are compiled ProxyHCExpr conditions by name.
type Exprs map[string]*hcexpr.Expr

// CompileExprs parses every ProxyHCExpr. An error names the expression,
// where it was written and the column of the fault, e.g.
// `t.conf:3: ProxyHCExpr ok234: column 5: unknown variable %{X} (…)`.
func CompileExprs(list []config.HCExpr) (Exprs, error) {
	out := make(Exprs, len(list))
	for _, e := range list {
		x, err := hcexpr.Parse(e.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: ProxyHCExpr %s: %w", e.Pos, e.Name, err)
		}
		out[e.Name] = x
	}
	return out, nil
}
