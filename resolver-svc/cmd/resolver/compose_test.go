package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/previewgate/previewgate/internal/compose"
	"github.com/previewgate/previewgate/internal/stack"
	"github.com/previewgate/previewgate/resolver-svc/internal/config"
)

// docker-compose.yml's environment for the resolver must load, with the
// secret file it mounts read from the repository.
func TestComposeEnvironmentIsValid(t *testing.T) {
	root, err := stack.Root()
	if err != nil {
		t.Fatal(err)
	}
	c, err := compose.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.Service("resolver")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := svc.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{} // container path -> repository path
	for _, m := range mounts {
		files[m.Target] = filepath.Join(root, m.Source)
	}
	readFile := func(p string) ([]byte, error) {
		if src, ok := files[p]; ok {
			return os.ReadFile(src)
		}
		t.Errorf("the resolver reads %s, which docker-compose.yml does not mount", p)
		return nil, os.ErrNotExist
	}
	cfg, err := config.Load(svc.Environ(), readFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.InternalAddr != stack.DevResolverInternal || cfg.Server.PublicAddr != stack.DevResolverPublic {
		t.Errorf("listeners %s and %s, want the dev stack's %s and %s", cfg.Server.InternalAddr, cfg.Server.PublicAddr,
			stack.DevResolverInternal, stack.DevResolverPublic)
	}
	if cfg.Redis != nil {
		t.Error("the demo stack must use the in-memory cache")
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	var out, errOut testWriter
	if err := run(t.Context(), []string{"-help"}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars {
		if !strings.Contains(out.String(), v.Name) {
			t.Errorf("-help does not list %s", v.Name)
		}
	}
}

func TestBadConfigurationListsEveryProblem(t *testing.T) {
	var out, errOut testWriter
	err := run(t.Context(), nil, []string{"PREVIEWGATE_SECRET=short", "PREVIEWGATE_ROUTING=sideways"}, &out, &errOut)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"PROXY_API_KEY", "DAYTONA_API_URL", "PREVIEWGATE_SECRET", "PREVIEWGATE_ROUTING"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "short") {
		t.Errorf("the error repeats a secret: %v", err)
	}
}

type testWriter struct{ strings.Builder }

// The README's configuration reference lists every variable.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	root, err := stack.Root()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars {
		name := v.Name
		// Grouped rows name the shared prefix once: `PREVIEWGATE_CACHE_PUBLIC_TTL`, `_PRIVATE_TTL`.
		short := name
		if parts := strings.Split(name, "_"); len(parts) > 3 {
			short = "_" + strings.Join(parts[len(parts)-2:], "_")
		}
		if !strings.Contains(string(readme), "`"+name+"`") && !strings.Contains(string(readme), "`"+short+"`") {
			t.Errorf("README.md does not document %s", name)
		}
	}
}
