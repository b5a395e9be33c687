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
//     Dir" panic (seen with a connection pool on a buffered channel);
//   - a parallel assignment ("a, b = x, f()") holding a call to an
//     interpreted function: the other values are lost ("a, b := ..." and
//     calls to the standard library, conversions and builtins are fine;
//     any call other than those is refused here).
//
// This test is compiled Go only (scripts/yaegi-test.sh leaves it out).
func TestSourceAvoidsWhatYaegiGetsWrong(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	// interpreted reports whether a call may be to an interpreted function:
	// anything but a builtin, a conversion to a basic type or a call into an
	// imported package.
	var imports map[string]bool
	interpreted := func(c *ast.CallExpr) bool {
		switch fn := c.Fun.(type) {
		case *ast.Ident:
			switch fn.Name {
			case "len", "cap", "append", "make", "new", "string", "int", "int64", "uint8", "byte", "rune", "float64", "bool":
				return false
			}
		case *ast.SelectorExpr:
			if x, ok := fn.X.(*ast.Ident); ok && imports[x.Name] {
				return false
			}
		case *ast.ArrayType:
			return false // []byte(s)
		}
		return true
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		imports = map[string]bool{}
		for _, im := range f.Imports {
			p := strings.Trim(im.Path.Value, `"`)
			imports[p[strings.LastIndex(p, "/")+1:]] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.AssignStmt:
				if n.Tok == token.ASSIGN && len(n.Lhs) > 1 && len(n.Rhs) == len(n.Lhs) {
					for _, r := range n.Rhs {
						if c, ok := r.(*ast.CallExpr); ok && interpreted(c) {
							t.Errorf("%s: parallel assignment with a call to an interpreted function", fset.Position(n.Pos()))
						}
					}
				}
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
