// Command devstack runs the demo gateway on this machine, without Docker:
// the real Traefik with the plugin as a local plugin, the resolver (in-memory
// cache) and the Daytona simulator, in the topology of docker-compose.yml.
// It prints the demo URLs and runs until interrupted (make run).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/previewgate/previewgate/daytona-sim/world"
	"github.com/previewgate/previewgate/internal/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	web := fs.String("web", stack.DevWebAddr, "Traefik's public entry point")
	admin := fs.String("admin", stack.DevAdminAddr, "Traefik's ping and API (loopback only)")
	internal := fs.String("resolver-internal", stack.DevResolverInternal, "the resolver's internal listener (decisions, Traefik configuration, metrics)")
	public := fs.String("resolver-public", stack.DevResolverPublic, "the resolver's public listener")
	sim := fs.String("sim", stack.DevSimAPIAddr, "the Daytona simulator's API")
	runners := fs.String("runners", stack.DevRunners, "the simulator's runners, name=host:port, comma-separated")
	direct := fs.Bool("direct", false, `routing mode "direct": one fixed runner (the first), no per-runner routers`)
	quiet := fs.Bool("quiet", false, "do not copy the processes' logs to the terminal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := stack.Root()
	if err != nil {
		return err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return err
	}
	base := filepath.Join(cache, "previewgate", "devstack")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(base, "run-")
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "building the resolver and the simulator; Traefik is built once into the Go cache (a few minutes the first time)...")
	bins, err := stack.Build(ctx, root, filepath.Join(base, "bin"))
	if err != nil {
		return err
	}
	var logs io.Writer = os.Stderr
	if *quiet {
		logs = nil
	}
	s, err := stack.Start(ctx, stack.Options{
		Root: root, Dir: dir, Bins: bins,
		WebAddr: *web, AdminAddr: *admin, ResolverInternal: *internal, ResolverPublic: *public, SimAPIAddr: *sim,
		Runners: strings.Split(*runners, ","), StaticRunners: true, Direct: *direct,
		PollInterval: "2s", TraefikLogLevel: "INFO", LogOut: logs,
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	printDemo(stdout, s, dir)
	if err := s.Wait(ctx); err != nil {
		return fmt.Errorf("%w\n%s", err, s.Logs())
	}
	fmt.Fprintln(stdout, "stopping")
	s.Stop()
	return os.RemoveAll(dir)
}

func printDemo(w io.Writer, s *stack.Stack, dir string) {
	p := func(port int, id string) string { return s.URL(port, id) }
	fmt.Fprintf(w, `
previewgate is up: Traefik %s, resolver %s (internal) %s (public), simulator %s
logs and generated configuration: %s

Public sandbox, a page served from inside it:
  curl %s
Private sandbox, with its preview token (header, query key) or a user's API key:
  curl -H 'X-Daytona-Preview-Token: %s' %secho
  curl '%s?DAYTONA_SANDBOX_AUTH_KEY=%s'
  curl -H 'Authorization: Bearer alice-api-key' %s
Without a credential (401), unknown sandbox (404), bad host (400):
  curl -i %s
  curl -i %s
  curl -i http://not-a-preview.localhost:%d/
WebSocket echo at /ws, Server-Sent Events at /sse?n=5&ms=300, JSON echo at /echo:
  curl -N '%ssse?n=5&ms=300'
Gateway health, the SDK toolbox route and a build's log:
  curl http://localhost:%d/health
  curl -H 'Authorization: Bearer alice-api-key' http://localhost:%d/toolbox/demo-private/version
  curl -N -H 'Authorization: Bearer alice-api-key' 'http://localhost:%d/sandboxes/demo-private/build-logs?follow=true'
Simulator control (sandboxes, users, call counters, faults): %s/_sim

Ctrl-C stops everything.
`,
		s.Web, s.ResolverInternal, s.ResolverPublic, s.SimAPI, dir,
		p(3000, "demo-public"),
		world.DemoPrivateToken, p(3000, "demo-private"),
		p(3000, "demo-private"), world.DemoPrivateToken,
		p(8080, "demo-r2"),
		p(3000, "demo-private"),
		p(3000, "no-such-sandbox"),
		s.WebPort,
		p(3000, "demo-public"),
		s.WebPort, s.WebPort, s.WebPort,
		s.SimAPI,
	)
}
