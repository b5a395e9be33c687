package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
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

// Every relative link of the README and of the measurement log names a
// file of the repository.
func TestReadmeLinksExist(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)#\s]+)\)`)
	for _, doc := range []string{"README.md", "docs/bench/README.md"} {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			n++
			if _, err := os.Stat(filepath.Join(root, filepath.Dir(doc), target)); err != nil {
				t.Errorf("%s links to %s: %v", doc, target, err)
			}
		}
		if n == 0 {
			t.Errorf("%s: no relative links found (is the pattern right?)", doc)
		}
	}
}
