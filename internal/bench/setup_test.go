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
)

// The benchmark's own plugins compile and use the standard library only,
// as a Traefik local plugin must (the benchmark's set-up then checks that
// each of their routes answers 200 through Traefik).
func TestBenchPluginsCompile(t *testing.T) {
	for _, p := range []struct {
		plugin  string
		sources []string
	}{
		{noopPlugin.Name, []string{noopPlugin.Files["noop.go"]}},
		{rewritePlugin.Name, []string{rewritePlugin.Files["rewrite.go"]}},
	} {
		t.Run(p.plugin, func(t *testing.T) {
			fset := token.NewFileSet()
			var files []*ast.File
			for i, src := range p.sources {
				f, err := parser.ParseFile(fset, p.plugin+strconv.Itoa(i)+".go", src, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, imp := range f.Imports {
					if path, _ := strconv.Unquote(imp.Path.Value); strings.Contains(strings.SplitN(path, "/", 2)[0], ".") {
						t.Errorf("imports %s: not the standard library", path)
					}
				}
				files = append(files, f)
			}
			conf := types.Config{Importer: importer.Default()}
			pkg, err := conf.Check(p.plugin, fset, files, nil)
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
