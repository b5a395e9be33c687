package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/previewgate/previewgate/plugin"
)

// The README's configuration reference lists every plugin option.
func TestReadmeDocumentsEveryPluginOption(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf(plugin.Config{})
	for i := 0; i < typ.NumField(); i++ {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("README.md does not document the plugin option %s", name)
		}
	}
}

// The README's two commands are the Makefile's targets, and CI runs the
// test command.
func TestReadmeCommandsExist(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	readme, makefile, ci := read("README.md"), read("Makefile"), read(".ci/run")
	for _, target := range []string{"run", "test"} {
		if !strings.Contains(readme, "    make "+target+"\n") {
			t.Errorf("README.md does not show `make %s`", target)
		}
		if !strings.Contains(makefile, "\n"+target+":") {
			t.Errorf("Makefile has no %s target", target)
		}
	}
	if !strings.Contains(ci, "\nmake test\n") {
		t.Error(".ci/run does not run `make test`")
	}
}
