// Package pluginsrc lists what Traefik's local-plugin mode needs of the
// plugin: its manifest, go.mod and the plugin package's non-test sources,
// as they sit under plugins-local/src/<Module>.
package pluginsrc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Module is the plugin's module, the directory under plugins-local/src.
const Module = "github.com/previewgate/previewgate"

// File is one file of the plugin, at Path (slash-separated, relative to
// the module's root).
type File struct {
	Path string
	Body []byte
}

// Key names f in a Kubernetes ConfigMap, whose keys cannot hold a '/':
// "plugin/handler.go" is "plugin_handler.go".
func (f File) Key() string { return strings.ReplaceAll(f.Path, "/", "_") }

// ErrNoSources means the repository has no plugin sources where expected.
var ErrNoSources = errors.New("pluginsrc: no plugin sources")

// Files reads the plugin's files from the repository at root, sorted by
// path.
func Files(root string) ([]File, error) {
	paths := []string{".traefik.yml", "go.mod"}
	srcs, err := filepath.Glob(filepath.Join(root, "plugin", "*.go"))
	if err != nil {
		return nil, err
	}
	n := 0
	for _, f := range srcs {
		if !strings.HasSuffix(f, "_test.go") {
			paths = append(paths, "plugin/"+filepath.Base(f))
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoSources, filepath.Join(root, "plugin"))
	}
	sort.Strings(paths)
	files := make([]File, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: p, Body: b})
	}
	return files, nil
}

// Install writes the files of the local plugin module under
// dir/plugins-local/src/<module>, where Traefik (started in dir) reads it.
func Install(dir, module string, files []File) error {
	dst := filepath.Join(dir, "plugins-local", "src", filepath.FromSlash(module))
	for _, f := range files {
		p := filepath.Join(dst, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Body, 0o644); err != nil {
			return err
		}
	}
	return nil
}
