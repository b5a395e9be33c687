package bench

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

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

// The benchmark's instances of our plugin, and its ForwardAuth, reach the
// resolver the way the gateway's own middleware does: the stack picks that
// address (all of its addresses together), the benchmark reads it back.
func TestBenchRoutesUseTheGatewaysResolver(t *testing.T) {
	root, err := stack.Root()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "traefik", "dynamic.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]interface{}
	if err := yaml.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	benchDynamic("http://127.0.0.1:1")(d)
	mws := d["http"].(map[string]interface{})["middlewares"].(map[string]interface{})
	plugin := func(name string) map[string]interface{} {
		return mws[name].(map[string]interface{})["plugin"].(map[string]interface{})["previewgate"].(map[string]interface{})
	}
	gw := plugin("previewgate")
	for _, name := range []string{"bench-nocache", "bench-direct"} {
		c := plugin(name)
		for _, k := range []string{"resolverURL", "resolverSocket", "resolverSecretFile"} {
			if c[k] != gw[k] {
				t.Errorf("%s: %s %v, the gateway's is %v", name, k, c[k], gw[k])
			}
		}
	}
	if c := plugin("bench-nocache-http"); c["resolverURL"] != gw["resolverURL"] || c["resolverSocket"] != nil {
		t.Errorf("bench-nocache-http: resolverURL %v (gateway %v), resolverSocket %v (want none)", c["resolverURL"], gw["resolverURL"], c["resolverSocket"])
	}
	fauth := mws["bench-fauth"].(map[string]interface{})["forwardAuth"].(map[string]interface{})["address"]
	if want := gw["resolverURL"].(string) + "/v1/forward-auth"; fauth != want {
		t.Errorf("ForwardAuth address %v, want %s", fauth, want)
	}
}
