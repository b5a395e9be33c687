package bench

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"strconv"
	"strings"
	"testing"

	"github.com/previewgate/previewgate/internal/stack"
)

// The benchmark's own plugins compile and use the standard library only,
// as a Traefik local plugin must (the benchmark's set-up then checks that
// each of their routes answers 200 through Traefik).
func TestBenchPluginsCompile(t *testing.T) {
	for _, p := range []stack.LocalPlugin{noopPlugin, rewritePlugin} {
		t.Run(p.Name, func(t *testing.T) {
			fset := token.NewFileSet()
			var files []*ast.File
			for name, src := range p.Files {
				if !strings.HasSuffix(name, ".go") {
					continue
				}
				f, err := parser.ParseFile(fset, name, src, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, imp := range f.Imports {
					if path, _ := strconv.Unquote(imp.Path.Value); strings.Contains(strings.SplitN(path, "/", 2)[0], ".") {
						t.Errorf("%s imports %s: not the standard library", name, path)
					}
				}
				files = append(files, f)
			}
			if len(files) == 0 {
				t.Fatal("no Go sources")
			}
			conf := types.Config{Importer: importer.Default()}
			pkg, err := conf.Check(p.Name, fset, files, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"Config", "CreateConfig", "New"} {
				if pkg.Scope().Lookup(name) == nil {
					t.Errorf("no %s", name)
				}
			}
		})
	}
}
