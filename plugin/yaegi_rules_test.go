package plugin

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestSourceAvoidsWhatYaegiGetsWrong reads the plugin's own (non-test)
// sources and refuses the constructs that Traefik's Yaegi v0.16.1 runs
// wrongly or not at all, so that `go test` catches them before `yaegi test`
// or Traefik does:
//   - named results: Yaegi does not reset them between calls, so a result
//     the function does not assign keeps the previous call's value;
//   - range over an int or a func (Go 1.22/1.23): interpreter panic;
//   - the min, max and clear builtins (Go 1.21): undefined;
//   - errors.As: panics on interpreted error types;
//   - embedded fields in structs: wrong encoding/json results;
//   - a select with a send case and a default: "reflect.Select: invalid
//     Dir" panic (seen with a connection pool on a buffered channel).
//
// This test is compiled Go only (scripts/yaegi-test.sh leaves it out).
func TestSourceAvoidsWhatYaegiGetsWrong(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncType:
				if n.Results != nil {
					for _, r := range n.Results.List {
						if len(r.Names) > 0 {
							t.Errorf("%s: named results", fset.Position(n.Pos()))
						}
					}
				}
			case *ast.RangeStmt:
				if lit, ok := n.X.(*ast.BasicLit); ok && lit.Kind == token.INT {
					t.Errorf("%s: range over an int", fset.Position(n.Pos()))
				}
				if _, ok := n.X.(*ast.FuncLit); ok {
					t.Errorf("%s: range over a func", fset.Position(n.Pos()))
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && (id.Name == "min" || id.Name == "max" || id.Name == "clear") {
					t.Errorf("%s: builtin %s", fset.Position(n.Pos()), id.Name)
				}
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "errors" && sel.Sel.Name == "As" {
						t.Errorf("%s: errors.As", fset.Position(n.Pos()))
					}
				}
			case *ast.SelectStmt:
				send, dflt := false, false
				for _, c := range n.Body.List {
					cc := c.(*ast.CommClause)
					if cc.Comm == nil {
						dflt = true
					} else if _, ok := cc.Comm.(*ast.SendStmt); ok {
						send = true
					}
				}
				if send && dflt {
					t.Errorf("%s: select with a send case and a default", fset.Position(n.Pos()))
				}
			case *ast.StructType:
				for _, fld := range n.Fields.List {
					if len(fld.Names) == 0 {
						t.Errorf("%s: embedded field", fset.Position(fld.Pos()))
					}
				}
			}
			return true
		})
	}
	if checked < 5 {
		t.Fatalf("checked only %d files", checked)
	}
}
