package main

import (
	"io"
	"log/slog"
	"testing"

	"github.com/previewgate/previewgate/internal/compose"
	"github.com/previewgate/previewgate/internal/stack"
)

// docker-compose.yml's environment for the simulator must be a valid
// configuration, with the runners at the addresses the resolver is given.
func TestComposeEnvironmentIsValid(t *testing.T) {
	root, err := stack.Root()
	if err != nil {
		t.Fatal(err)
	}
	c, err := compose.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.Service("daytona-sim")
	if err != nil {
		t.Fatal(err)
	}
	o, problems := parseFlags(nil, envFrom(svc.Environment), io.Discard)
	if len(problems) > 0 {
		t.Fatalf("flags: %v", problems)
	}
	cfg, problems := o.config(slog.New(slog.DiscardHandler))
	if len(problems) > 0 {
		t.Fatalf("config: %v", problems)
	}
	if cfg.APIAddr != stack.DevSimAPIAddr {
		t.Errorf("API address %s, want the dev stack's %s", cfg.APIAddr, stack.DevSimAPIAddr)
	}
	if len(cfg.Runners) != 2 {
		t.Fatalf("%d runners, want 2", len(cfg.Runners))
	}
}
