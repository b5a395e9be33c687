package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Bins are the executables a stack runs.
type Bins struct {
	Traefik  string
	Resolver string
	Sim      string
}

// Root finds the repository root (the directory of this module's go.mod)
// from the working directory upwards.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/previewgate/previewgate\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("stack: repository root not found")
		}
		dir = parent
	}
}

// Build compiles the resolver and the simulator into dir, and takes Traefik
// from $TRAEFIK_BIN or builds it with scripts/build-traefik.sh (cached in the
// Go build cache after the first time).
func Build(ctx context.Context, root, dir string) (Bins, error) {
	b := Bins{
		Resolver: filepath.Join(dir, "previewgate-resolver"),
		Sim:      filepath.Join(dir, "daytona-sim"),
	}
	for out, pkg := range map[string]string{
		b.Resolver: "./resolver-svc/cmd/resolver",
		b.Sim:      "./daytona-sim/cmd/daytona-sim",
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
	}
	b.Traefik = os.Getenv("TRAEFIK_BIN")
	if b.Traefik == "" {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "build-traefik.sh"))
		cmd.Dir = root
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return b, fmt.Errorf("scripts/build-traefik.sh: %w", err)
		}
		b.Traefik = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(b.Traefik); err != nil {
		return b, fmt.Errorf("traefik binary: %w", err)
	}
	return b, nil
}
