package hcheck

import (
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

func TestCompileExprs(t *testing.T) {
	exprs, err := CompileExprs([]config.HCExpr{
		{Name: "ok234", Expr: `%{REQUEST_STATUS} =~ /^[234]/`},
		{Name: "in_maint", Expr: `hc('body') !~ /Under maintenance/`},
	})
	if err != nil || len(exprs) != 2 || exprs["ok234"].String() != `%{REQUEST_STATUS} =~ /^[234]/` {
		t.Fatalf("CompileExprs = %v, %v", exprs, err)
	}
	_, err = CompileExprs([]config.HCExpr{
		{Name: "ok", Expr: `true`},
		{Pos: config.Pos{File: "t.conf", Line: 3}, Name: "bad", Expr: `%{REQUEST_STATUS} =~ /^[234]`},
	})
	if want := "t.conf:3: ProxyHCExpr bad: column 22: unterminated regex"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
}
